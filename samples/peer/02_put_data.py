"""Step 2 of a PUT straight to a storage peer: upload the bytes of a file for a task id."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import parser  # noqa: E402

from mictlanx_sync import Peer  # noqa: E402

args = parser(__doc__)
args.add_argument("--task_id", required=True)
args.add_argument("--path", required=True)
a = args.parse_args()
with Peer(a.peer_url) as peer, open(a.path, "rb") as f:
    reply = peer.put_chunked(a.task_id, f)
print(f"stored {reply.combined_key} ({reply.size} bytes) on {reply.node_id}")
