"""Play back a ball group of frames from a storage peer: fetch each in index order into --out,
waiting --delay_ms between frames."""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import parser  # noqa: E402

from mictlanx_sync import Peer  # noqa: E402

args = parser(__doc__)
args.add_argument("--bucket_id", default="b1")
args.add_argument("--ball_id", default="frames")
args.add_argument("--out", required=True)
args.add_argument("--delay_ms", type=int, default=0)
a = args.parse_args()
os.makedirs(a.out, exist_ok=True)
with Peer(a.peer_url) as peer:
    group = peer.get_by_ball_id(a.bucket_id, a.ball_id)
    frames = sorted(group.balls, key=lambda m: int(m.tags.get("index", "0")))
    for meta in frames:
        peer.get_to_file(a.bucket_id, meta.key, os.path.join(a.out, meta.tags.get("fullname", meta.key)))
        time.sleep(a.delay_ms / 1000)
print(f"fetched {len(frames)} frames into {a.out}")
