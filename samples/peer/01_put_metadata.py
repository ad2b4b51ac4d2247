"""Step 1 of a PUT straight to a storage peer: register a file's metadata, print the task id."""

from __future__ import annotations

import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import parser, tags  # noqa: E402

from mictlanx_sync import Peer  # noqa: E402

args = parser(__doc__)
args.add_argument("--bucket_id", default="b1")
args.add_argument("--key", required=True)
args.add_argument("--path", required=True)
args.add_argument("--tag", action="append", default=[])
a = args.parse_args()
data = open(a.path, "rb").read()
with Peer(a.peer_url) as peer:
    reply = peer.put_metadata(a.bucket_id, a.key, len(data), hashlib.sha256(data).hexdigest(),
                              producer_id="sample", ball_id=a.key, tags=tags(a.tag))
print(reply.task_id)
