"""Fetch an object with the high-level Client: into memory, or with --to_file into --out."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import parser  # noqa: E402

from mictlanx_sync import Client  # noqa: E402

args = parser(__doc__)
args.add_argument("--bucket_id", default="b1")
args.add_argument("--key", required=True)
args.add_argument("--chunk_size", default="1MB")
args.add_argument("--to_file", action="store_true")
args.add_argument("--out", default=".")
args.add_argument("--fullname", default=None)
a = args.parse_args()
with Client(a.uri, chunk_size=a.chunk_size) as client:
    if a.to_file:
        print(f"wrote {client.get_to_file(a.bucket_id, a.key, a.out, fullname=a.fullname)}")
    else:
        result = client.get(a.bucket_id, a.key)
        print(f"got {a.bucket_id}/{a.key}: {result.info.size} bytes in {result.info.num_chunks} chunks, "
              f"sha256 {result.info.checksum}")
