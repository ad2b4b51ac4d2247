"""`make bench`: client put/get throughput against a local VSS, with floor and ceiling references.

Not collected by pytest (no test_ prefix). Options: --quick (smaller matrix), --sizes, --workers.
"""

from __future__ import annotations

import argparse
import sys
import uuid

from mictlanx_sync.bench import format_table, parse_list, run_bench, run_reference
from mictlanx_sync.vss import serve


def main() -> int:
    """Run the benchmark matrix and print one table."""
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--sizes", default="4KiB,8MiB,256MiB,1GiB")
    args.add_argument("--workers", default="1,2,4,8")
    args.add_argument("--chunk-size", default="1MB")
    args.add_argument("--quick", action="store_true", help="4KiB,8MiB,256MiB with 8 workers only")
    a = args.parse_args()
    sizes = parse_list("4KiB,8MiB,256MiB" if a.quick else a.sizes)
    workers = [8] if a.quick else [int(w) for w in a.workers.split(",")]
    chunk = parse_list(a.chunk_size)[0]
    rows = []
    with serve(peers=2, rf=1) as vss:
        print(f"local VSS: {vss.uri}", flush=True)
        for size in sizes:
            count = 1000 if size <= 64 * 1024 else (8 if size <= 16 * 1024 * 1024 else 1)
            bucket = f"bench-{uuid.uuid4().hex[:8]}"
            for impl in ("floor", "ceiling"):
                rows += run_reference(vss.uri, impl, size=size, count=count, chunk_size=chunk, bucket_id=bucket)
            rows += run_bench(vss.uri, sizes=[size], workers=workers, count=count, chunk_size=chunk,
                              bucket_id=bucket)
            print(format_table(rows), flush=True)
            print(flush=True)
    print("final table:")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
