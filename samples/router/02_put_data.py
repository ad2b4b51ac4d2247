"""Step 2 of a PUT through a router: stream a file's bytes for a task id to every replica."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import parser  # noqa: E402

from mictlanx_sync import Router  # noqa: E402

args = parser(__doc__)
args.add_argument("--task_id", required=True)
args.add_argument("--path", required=True)
a = args.parse_args()
with Router(a.router_url) as router, open(a.path, "rb") as f:
    reply = router.put_chunked(a.task_id, f)
print(f"stored {reply.combined_key} ({reply.size} bytes) on {', '.join(reply.peer_ids)}")
