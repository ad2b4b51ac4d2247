"""Step 1 of a PUT through a router: reserve replicas for a file, print the task (group) id."""

from __future__ import annotations

import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import parser, tags  # noqa: E402

from mictlanx_sync import Router  # noqa: E402

args = parser(__doc__)
args.add_argument("--bucket_id", default="b1")
args.add_argument("--key", required=True)
args.add_argument("--path", required=True)
args.add_argument("--rf", type=int, default=1)
args.add_argument("--tag", action="append", default=[])
a = args.parse_args()
data = open(a.path, "rb").read()
with Router(a.router_url) as router:
    reply = router.put_metadata(a.bucket_id, a.key, len(data), hashlib.sha256(data).hexdigest(), "sample",
                                ball_id=a.key, tags=tags(a.tag), replication_factor=a.rf)
print(reply.tasks_ids[0])
