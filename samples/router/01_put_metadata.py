"""PUT step 1 through a router: reserve replicas for a ball and print the task (group) id.

Seed: ``python3 samples/router/01_put_metadata.py --bucket_id bk1 --ball_id b1 --key k1``
(the seed also names this script ``01_put_frames.py``; both run this code). The body is the
seed's ``b"Hello from AsyncRouter"`` unless ``--path`` names a file. Pass the printed task id to
``samples/router/02_put_data.py --task_id <id> --key k1``.
"""

from __future__ import annotations

import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import parser, run, tags  # noqa: E402

from mictlanx_sync import Router  # noqa: E402

BODY = b"Hello from AsyncRouter"


def main() -> None:
    """Send the metadata to the router; print the task id and the chosen replicas."""
    args = parser(__doc__)
    args.add_argument("--bucket_id", default="mictlanx")
    args.add_argument("--ball_id", default=None, help="the group label (default: the key)")
    args.add_argument("--key", default="hello-object-router")
    args.add_argument("--path", default=None, help="a file whose bytes step 2 will send (default: the seed's body)")
    args.add_argument("--content_type", default="text/plain")
    args.add_argument("--rf", type=int, default=1, help="replication factor (default 1)")
    args.add_argument("--tag", action="append", default=[], metavar="NAME=VALUE")
    a = args.parse_args()
    if a.path:
        with open(a.path, "rb") as f:
            body = f.read()
        name = os.path.basename(a.path)
    else:
        body, name = BODY, "hello.txt"
    ball_tags = {"fullname": name, "extension": os.path.splitext(name)[1].lstrip("."), **tags(a.tag)}
    checksum = hashlib.sha256(body).hexdigest()
    with Router(a.router) as router:
        reply = router.put_metadata(a.bucket_id, a.key, len(body), checksum, "client-0",
                                    content_type=a.content_type, ball_id=a.ball_id or a.key, tags=ball_tags,
                                    replication_factor=a.rf)
    if not reply.tasks_ids:
        print(f"error: router {a.router} answered without a task id", file=sys.stderr)
        sys.exit(1)
    print(f"put_metadata {a.bucket_id}/{a.key} (ball_id {a.ball_id or a.key}, {len(body)} bytes, "
          f"sha256 {checksum}) through router {a.router}; replicas {', '.join(reply.replicas) or '-'}")
    print(f"task_id: {reply.tasks_ids[0]}")
    print(f"next: python3 samples/router/02_put_data.py --task_id {reply.tasks_ids[0]} --key {a.key}")


if __name__ == "__main__":
    run(main)
