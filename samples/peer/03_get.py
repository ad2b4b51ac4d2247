"""Fetch a ball's metadata and bytes from a storage peer; write the bytes to --out."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import parser  # noqa: E402

from mictlanx_sync import Peer  # noqa: E402

args = parser(__doc__)
args.add_argument("--bucket_id", default="b1")
args.add_argument("--key", required=True)
args.add_argument("--out", required=True)
a = args.parse_args()
with Peer(a.peer_url) as peer:
    meta = peer.get_metadata(a.bucket_id, a.key).metadata
    peer.get_to_file(a.bucket_id, a.key, a.out)
print(f"{meta.key}: {meta.size} bytes, sha256 {meta.checksum} -> {a.out}")
