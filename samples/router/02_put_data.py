"""PUT step 2 through a router: stream the bytes for the task id step 1 printed to every replica.

Seed: ``python3 samples/router/02_put_data.py --task_id <task id from 01> --key k1``
(the body is the seed's ``b"Hello from AsyncRouter"`` unless ``--path`` names the same file as
in step 1).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import parser, run  # noqa: E402

from mictlanx_sync import Router  # noqa: E402

BODY = b"Hello from AsyncRouter"


def main() -> None:
    """Send the bytes for a task through the router."""
    args = parser(__doc__)
    args.add_argument("--task_id", required=True, help="the task id printed by 01_put_metadata.py")
    args.add_argument("--key", default="hello-object-router")
    args.add_argument("--path", default=None, help="the file given to step 1 (default: the seed's body)")
    a = args.parse_args()
    if a.path:
        with open(a.path, "rb") as f:
            body = f.read()
    else:
        body = BODY
    with Router(a.router) as router:
        reply = router.put_chunked(a.task_id, body, key=a.key)
    print(f"PUT completed: {reply.combined_key} ({reply.size} bytes) stored on {', '.join(reply.peer_ids)} "
          f"through router {a.router}")


if __name__ == "__main__":
    run(main)
