"""Store every frame of a video/GIF on a storage peer: one ball per frame, all sharing one ball_id.

Seed: ``python3 samples/peer/04_put_frames.py --bucket_id videos --ball_is video123 --frame_dir ./samples/data/frames``
(``--ball_is`` is the seed's spelling of ``--ball_id``; both work). Frame ``n`` (the n-th file of
``--frame_dir`` in name order) is stored under the key ``{ball_id}_{n}`` with the tag
``frame_number=n``, which ``05_get_frames.py`` sorts by. Running it again skips frames already
stored with the same bytes.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import parser, run  # noqa: E402

from mictlanx_sync import AlreadyExistsError, Peer  # noqa: E402

mimetypes.add_type("image/x-portable-pixmap", ".ppm")


def main() -> None:
    """Upload each frame (step 1 + step 2)."""
    args = parser(__doc__)
    args.add_argument("--bucket_id", default="videos")
    args.add_argument("--ball_id", "--ball_is", dest="ball_id", default="video123",
                      help="the ball_id every frame shares (--ball_is: the seed's spelling)")
    args.add_argument("--frame_dir", default=os.path.join(os.path.dirname(__file__), "..", "data", "frames"))
    a = args.parse_args()
    names = sorted(n for n in os.listdir(a.frame_dir) if os.path.isfile(os.path.join(a.frame_dir, n)))
    if not names:
        print(f"error: no frames in {a.frame_dir}", file=sys.stderr)
        sys.exit(1)
    with Peer(a.peer) as peer:
        for number, name in enumerate(names):
            with open(os.path.join(a.frame_dir, name), "rb") as f:
                data = f.read()
            key = f"{a.ball_id}_{number}"
            checksum = hashlib.sha256(data).hexdigest()
            content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            frame_tags = {"frame_number": str(number), "fullname": name,
                          "extension": os.path.splitext(name)[1].lstrip(".")}
            try:
                task = peer.put_metadata(a.bucket_id, key, len(data), checksum, "client-0",
                                         content_type=content_type, ball_id=a.ball_id, tags=frame_tags).task_id
            except AlreadyExistsError:
                stored = peer.get_metadata(a.bucket_id, key).metadata
                if stored.checksum != checksum:
                    raise
                print(f"frame {number}: {a.bucket_id}/{key} already stored ({name})")
                continue
            peer.put_chunked(task, data, key=key, size=len(data))
            print(f"frame {number}: stored {a.bucket_id}/{key} ({name}, {len(data)} bytes, frame_number={number})")
    print(f"stored {len(names)} frames as ball_id {a.ball_id} in bucket {a.bucket_id} on {a.peer}")


if __name__ == "__main__":
    run(main)
