"""PUT step 2 straight to a storage peer: upload the bytes for the task id step 1 printed.

Seed: ``python3 samples/peer/02_put_data.py --task_id=<task id from 01> --key hello-object``
(the body is the seed's ``b"Hello from AsyncPeer"`` unless ``--path`` names the same file as in
step 1: size and checksum must match what step 1 registered).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import parser, run  # noqa: E402

from mictlanx_sync import Peer  # noqa: E402

BODY = b"Hello from AsyncPeer"


def main() -> None:
    """Send the bytes for a task."""
    args = parser(__doc__)
    args.add_argument("--task_id", required=True, help="the task id printed by 01_put_metadata.py")
    args.add_argument("--key", default="hello-object")
    args.add_argument("--path", default=None, help="the file given to step 1 (default: the seed's body)")
    a = args.parse_args()
    if a.path:
        with open(a.path, "rb") as f:
            body = f.read()
    else:
        body = BODY
    with Peer(a.peer) as peer:
        reply = peer.put_chunked(a.task_id, body, key=a.key, size=len(body))
    print(f"PUT completed: {reply.combined_key} ({reply.size} bytes) stored on peer {reply.node_id} at {a.peer}")


if __name__ == "__main__":
    run(main)
