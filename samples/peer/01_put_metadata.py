"""PUT step 1 straight to a storage peer: register a ball's metadata and print its task id.

Seed: ``python3 samples/peer/01_put_metadata.py --bucket_id mictlanx --ball_id b1 --key hello-object``
(the body is the seed's ``b"Hello from AsyncPeer"`` unless ``--path`` names a file). Pass the
printed task id to ``samples/peer/02_put_data.py --task_id=<id> --key hello-object``.
"""

from __future__ import annotations

import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import parser, run, tags  # noqa: E402

from mictlanx_sync import Peer  # noqa: E402

BODY = b"Hello from AsyncPeer"


def main() -> None:
    """Send the metadata; print the task id."""
    args = parser(__doc__)
    args.add_argument("--bucket_id", default="mictlanx")
    args.add_argument("--ball_id", default=None, help="the group label (default: the key)")
    args.add_argument("--key", default="hello-object")
    args.add_argument("--path", default=None, help="a file whose bytes step 2 will send (default: the seed's body)")
    args.add_argument("--content_type", default="text/plain")
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
    with Peer(a.peer) as peer:
        reply = peer.put_metadata(a.bucket_id, a.key, len(body), checksum, producer_id="client-0",
                                  content_type=a.content_type, ball_id=a.ball_id or a.key, tags=ball_tags)
    print(f"put_metadata {a.bucket_id}/{a.key} (ball_id {a.ball_id or a.key}, {len(body)} bytes, "
          f"sha256 {checksum}, tags {ball_tags}) on peer {reply.node_id} at {a.peer}")
    print(f"task_id: {reply.task_id}")
    print(f"next: python3 samples/peer/02_put_data.py --task_id={reply.task_id} --key {a.key}")


if __name__ == "__main__":
    run(main)
