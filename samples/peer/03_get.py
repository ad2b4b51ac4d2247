"""Download a ball's metadata and bytes from a storage peer, verify its SHA-256, show it.

Seed: ``python3 samples/peer/03_get.py --bucket_id mictlanx --key hello-object``
(``--out FILE`` also writes the bytes to a file).
"""

from __future__ import annotations

import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import parser, run  # noqa: E402

from mictlanx_sync import IntegrityError, Peer  # noqa: E402


def main() -> None:
    """Fetch metadata, then data; print both."""
    args = parser(__doc__)
    args.add_argument("--bucket_id", default="mictlanx")
    args.add_argument("--key", default="hello-object")
    args.add_argument("--out", default=None, help="also write the bytes to this file")
    a = args.parse_args()
    with Peer(a.peer) as peer:
        meta = peer.get_metadata(a.bucket_id, a.key).metadata
        body = peer.get(a.bucket_id, a.key)
    if hashlib.sha256(body).hexdigest() != meta.checksum:
        raise IntegrityError(f"{a.bucket_id}/{a.key}: the bytes do not match the stored sha256",
                             bucket_id=a.bucket_id, key=a.key)
    print(f"metadata {a.bucket_id}/{a.key}: {meta.size} bytes, sha256 {meta.checksum}, "
          f"content_type {meta.content_type}, ball_id {meta.ball_id}, tags {dict(meta.tags)}")
    try:
        shown = body.decode("utf-8") if len(body) <= 200 else None
    except UnicodeDecodeError:
        shown = None
    print(f"data ({len(body)} bytes, sha256 verified): " + (shown if shown is not None else f"{body[:32]!r}..."))
    if a.out:
        with open(a.out, "wb") as f:
            f.write(body)
        print(f"wrote {len(body)} bytes to {a.out}")


if __name__ == "__main__":
    run(main)
