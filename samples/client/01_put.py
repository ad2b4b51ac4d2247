"""Store a file with the high-level Client (chunked, parallel, verified)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import parser, tags  # noqa: E402

from mictlanx_sync import Client  # noqa: E402

args = parser(__doc__)
args.add_argument("--bucket_id", default="b1")
args.add_argument("--key", required=True)
args.add_argument("--path", required=True)
args.add_argument("--chunk_size", default="1MB")
args.add_argument("--rf", type=int, default=1)
args.add_argument("--tag", action="append", default=[])
a = args.parse_args()
with Client(a.uri, chunk_size=a.chunk_size) as client:
    result = client.put_file(a.bucket_id, a.key, a.path, tags=tags(a.tag), rf=a.rf)
print(f"put {result.bucket_id}/{result.key}: {result.size} bytes in {result.num_chunks} chunks, "
      f"sha256 {result.checksum}, {result.seconds:.3f}s")
