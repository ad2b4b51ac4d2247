"""Store every frame of --frame_dir on a storage peer as one ball group (--ball_id)."""

from __future__ import annotations

import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import parser  # noqa: E402

from mictlanx_sync import Peer  # noqa: E402

args = parser(__doc__)
args.add_argument("--bucket_id", default="b1")
args.add_argument("--ball_id", default="frames")
args.add_argument("--frame_dir", default=os.path.join(os.path.dirname(__file__), "..", "data", "frames"))
a = args.parse_args()
names = sorted(os.listdir(a.frame_dir))
with Peer(a.peer_url) as peer:
    for index, name in enumerate(names):
        data = open(os.path.join(a.frame_dir, name), "rb").read()
        key = f"{a.ball_id}_{index}"
        task = peer.put_metadata(a.bucket_id, key, len(data), hashlib.sha256(data).hexdigest(), "sample",
                                 ball_id=a.ball_id, tags={"index": str(index), "fullname": name}).task_id
        peer.put_chunked(task, data)
print(f"stored {len(names)} frames as {a.bucket_id}/{a.ball_id}")
