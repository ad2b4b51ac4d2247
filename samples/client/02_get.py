"""Fetch an object with the high-level Client: into memory, or with ``--to_file`` into a file.

Seed::

    # bytes into memory (prints the size)
    python3 samples/client/02_get.py --bucket_id mictlanx --key hello-object --chunk_size 1MB
    # stream directly to a file: creates ./downloads and writes ./downloads/hello.txt
    python3 samples/client/02_get.py --bucket_id mictlanx --key hello-object \\
      --to_file --out ./downloads --fullname hello.txt --chunk_size 1MB

``--out`` is a directory (created when missing); the file name is ``--fullname``, else the
object's ``fullname`` tag, else the key. The calls use the seed's keyword names
(``get(..., chunk_size=, max_retries=, max_paralell_gets=)`` and ``.metadatas``,
``get_to_file(bucket_id=, ball_id=, output_path=, fullname=, chunk_size=)``).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import parser, run  # noqa: E402

from mictlanx_sync import Client  # noqa: E402


def main() -> None:
    """Get the object; print what was fetched."""
    args = parser(__doc__)
    args.add_argument("--bucket_id", default="mictlanx")
    args.add_argument("--key", "--ball_id", dest="key", default="hello-object")
    args.add_argument("--chunk_size", default="1MB", help="the Chunk-Size hint sent with each data GET")
    args.add_argument("--max_retries", type=int, default=8)
    args.add_argument("--max_paralell_gets", type=int, default=8, help="parallel chunk downloads")
    args.add_argument("--to_file", action="store_true", help="write to a file in --out instead of memory")
    args.add_argument("--out", default="./downloads", help="the directory --to_file writes into")
    args.add_argument("--fullname", default=None, help="the file name inside --out")
    a = args.parse_args()
    with Client(a.uri, client_id="client-0", capacity_storage=0, max_workers=a.max_paralell_gets) as client:
        if a.to_file:
            os.makedirs(a.out, exist_ok=True)
            path = client.get_to_file(bucket_id=a.bucket_id, ball_id=a.key, output_path=a.out,
                                      fullname=a.fullname, chunk_size=a.chunk_size)
            print(f"saved to: {path} ({os.path.getsize(path)} bytes, sha256 verified)")
            return
        result = client.get(bucket_id=a.bucket_id, key=a.key, chunk_size=a.chunk_size, max_retries=a.max_retries,
                            max_paralell_gets=a.max_paralell_gets)
    data = result.data.tobytes()
    print(f"got {len(data)} bytes of {a.bucket_id}/{a.key} in {len(result.metadatas)} chunk(s), "
          f"sha256 {result.info.checksum} verified, content_type {result.info.content_type}")
    try:
        text = data.decode("utf-8") if len(data) <= 200 else None
    except UnicodeDecodeError:
        text = None
    if text is not None:
        print(f"data: {text.rstrip()}")


if __name__ == "__main__":
    run(main)
