"""`make demo`: start a local VSS, store a generated 64 MiB file with put_file, fetch it back with
get_to_file, compare the bytes, print MB/s both ways, stop the VSS. Exits non-zero on a mismatch."""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import os
import sys
import tempfile
import time

from mictlanx_sync import Client
from mictlanx_sync.units import format_size, parse_size
from mictlanx_sync.vss import serve


def main() -> int:
    """Run the demo; returns the exit code."""
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--size", default="64MiB")
    args.add_argument("--chunk-size", default="1MB")
    a = args.parse_args()
    size = parse_size(a.size)
    with tempfile.TemporaryDirectory(prefix="mictlanx-demo-") as tmp:
        src = os.path.join(tmp, "demo-input.bin")
        block = os.urandom(1 << 20)
        with open(src, "wb") as f:
            for offset in range(0, size, len(block)):
                f.write(block[: min(len(block), size - offset)] if offset else os.urandom(min(len(block), size)))
        print(f"generated {src}: {format_size(size, binary=True)}")
        with serve(peers=2, rf=1) as vss:
            print(f"local VSS up: router {vss.router_url}, peers {', '.join(vss.peer_urls)}")
            print(f"URI: {vss.uri}")
            with Client(vss.uri, chunk_size=a.chunk_size) as client:
                started = time.perf_counter()
                put = client.put_file("demo", "demo-input", src)
                put_s = time.perf_counter() - started
                print(f"put_file  {format_size(put.size, binary=True)} in {put.num_chunks} chunks: "
                      f"{put_s:.2f}s, {put.size / put_s / 1e6:.1f} MB/s, sha256 {put.checksum[:16]}...")
                out_dir = os.path.join(tmp, "out")
                os.makedirs(out_dir)
                started = time.perf_counter()
                path = client.get_to_file("demo", "demo-input", out_dir)
                get_s = time.perf_counter() - started
                print(f"get_to_file -> {path}: {get_s:.2f}s, {size / get_s / 1e6:.1f} MB/s")
                same = filecmp.cmp(src, path, shallow=False)
                with open(path, "rb") as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest() if hasattr(hashlib, "file_digest") \
                        else hashlib.sha256(f.read()).hexdigest()
                print(f"compare: {'identical' if same and digest == put.checksum else 'MISMATCH'}")
                client.delete("demo", "demo-input")
        print("local VSS stopped")
    return 0 if same and digest == put.checksum else 1


if __name__ == "__main__":
    sys.exit(main())
