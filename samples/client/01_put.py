"""Store a file with the high-level Client: chunked, parallel, verified with SHA-256.

Seed::

    python3 samples/client/01_put.py --bucket_id mictlanx --ball_id hello-object \\
      --path ./samples/hello.txt --chunk_size 1MB --tag content_type=text/plain

``--ball_id`` (the seed's name) and ``--key`` are the same option. ``--tag content_type=...``
sets the object's content type; every other ``--tag name=value`` is stored as a tag.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import parser, run, tags  # noqa: E402

from mictlanx_sync import Client  # noqa: E402


def main() -> None:
    """Put the file; print what was stored."""
    args = parser(__doc__)
    args.add_argument("--bucket_id", default="mictlanx")
    args.add_argument("--key", "--ball_id", dest="key", default="hello-object")
    args.add_argument("--path", default=os.path.join(os.path.dirname(__file__), "..", "hello.txt"))
    args.add_argument("--chunk_size", default="1MB")
    args.add_argument("--rf", type=int, default=1)
    args.add_argument("--content_type", default=None, help="the content type (or --tag content_type=...)")
    args.add_argument("--tag", action="append", default=[], metavar="NAME=VALUE")
    a = args.parse_args()
    user_tags = tags(a.tag)
    content_type = a.content_type or user_tags.pop("content_type", None) or "application/octet-stream"
    with Client(a.uri, chunk_size=a.chunk_size, client_id="client-0", capacity_storage=0) as client:
        result = client.put_file(a.bucket_id, a.key, a.path, tags=user_tags, rf=a.rf, content_type=content_type)
        info = client.get_metadata(a.bucket_id, a.key)
    print(f"put {result.bucket_id}/{result.key}: {result.size} bytes in {result.num_chunks} chunk(s) of at most "
          f"{a.chunk_size}, sha256 {result.checksum}, replicas {', '.join(result.replicas)}, {result.seconds:.3f}s")
    print(f"content_type {info.content_type}, tags {dict(info.tags)}")


if __name__ == "__main__":
    run(main)
