"""Download the frames of a video/GIF stored by 04_put_frames.py and play them back in order.

Seed: ``python3 samples/peer/05_get_frames.py --bucket_id videos --ball_id video123 --delay_ms 40``

1. ``peer.get_by_ball_id`` lists every frame-ball of the ball_id;
2. they are sorted by their ``frame_number`` tag (not by key: ``video123_10`` sorts before
   ``video123_2``);
3. each frame's bytes are fetched and checked against its SHA-256;
4. preview, one frame every ``--delay_ms`` milliseconds: on a terminal, PPM frames are drawn as
   an animation in true colour (``--preview ansi`` forces it, ``--preview text`` prints one line
   per frame); ``--out DIR`` also writes the frames there in order (``{n:03d}_{fullname}``).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from typing import List, Optional, Tuple

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import parser, run  # noqa: E402

from mictlanx_sync import IntegrityError, Peer  # noqa: E402


def parse_ppm(data: bytes) -> Optional[Tuple[int, int, bytes]]:
    """(width, height, RGB pixels) of a binary PPM (P6, maxval 255), or None for anything else."""
    fields: List[bytes] = []
    pos = 0
    while len(fields) < 4:
        while pos < len(data) and data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.find(b"\n", pos) + 1 or len(data)
            continue
        end = pos
        while end < len(data) and not data[end:end + 1].isspace():
            end += 1
        if end == pos:
            return None
        fields.append(data[pos:end])
        pos = end
    pos += 1
    if fields[0] != b"P6" or not all(f.isdigit() for f in fields[1:]) or fields[3] != b"255":
        return None
    width, height = int(fields[1]), int(fields[2])
    pixels = data[pos:pos + width * height * 3]
    return (width, height, pixels) if len(pixels) == width * height * 3 else None


def render_ansi(width: int, height: int, pixels: bytes) -> List[str]:
    """Terminal lines drawing an RGB image with upper half blocks (two pixel rows per line)."""
    lines = []
    for y in range(0, height, 2):
        cells = []
        for x in range(width):
            top = pixels[(y * width + x) * 3:(y * width + x) * 3 + 3]
            bottom = pixels[((y + 1) * width + x) * 3:((y + 1) * width + x) * 3 + 3] if y + 1 < height else b"\0\0\0"
            cells.append(f"\x1b[38;2;{top[0]};{top[1]};{top[2]}m\x1b[48;2;{bottom[0]};{bottom[1]};{bottom[2]}m\u2580")
        lines.append("".join(cells) + "\x1b[0m")
    return lines


def frame_number(tags: dict, key: str) -> int:
    """The ``frame_number`` tag as an int (exit 1 naming the ball when it is missing)."""
    value = tags.get("frame_number", "")
    if not value.isdigit():
        print(f"error: ball {key} has no integer frame_number tag (got {value!r}); store frames with "
              f"04_put_frames.py", file=sys.stderr)
        sys.exit(1)
    return int(value)


def main() -> None:
    """List, sort, fetch, verify and preview the frames."""
    args = parser(__doc__)
    args.add_argument("--bucket_id", default="videos")
    args.add_argument("--ball_id", "--ball_is", dest="ball_id", default="video123")
    args.add_argument("--delay_ms", type=int, default=40, help="milliseconds between frames (default 40)")
    args.add_argument("--preview", choices=("auto", "ansi", "text"), default="auto",
                      help="auto: an animation on a terminal, one line per frame otherwise")
    args.add_argument("--out", default=None, help="also write the frames to this directory, in order")
    a = args.parse_args()
    ansi = a.preview == "ansi" or (a.preview == "auto" and sys.stdout.isatty())
    with Peer(a.peer) as peer:
        group = peer.get_by_ball_id(a.bucket_id, a.ball_id)
        frames = sorted(group.balls, key=lambda m: frame_number(m.tags, m.key))
        if not frames:
            print(f"error: no frames with ball_id {a.ball_id} in bucket {a.bucket_id} on {a.peer}", file=sys.stderr)
            sys.exit(1)
        if a.out:
            os.makedirs(a.out, exist_ok=True)
        drawn = 0
        for position, meta in enumerate(frames):
            data = peer.get(a.bucket_id, meta.key)
            if hashlib.sha256(data).hexdigest() != meta.checksum:
                raise IntegrityError(f"frame {meta.key} does not match its sha256", bucket_id=a.bucket_id,
                                     key=meta.key)
            number = frame_number(meta.tags, meta.key)
            image = parse_ppm(data) if ansi else None
            if image is not None:
                if drawn:
                    sys.stdout.write(f"\x1b[{drawn + 1}F")  # back to the first line of the last frame
                lines = render_ansi(*image)
                sys.stdout.write("\n".join(lines) + "\n")
                drawn = len(lines)
            print(f"frame {number} ({position + 1}/{len(frames)}): {meta.key} {meta.tags.get('fullname', '')} "
                  f"{len(data)} bytes, sha256 ok", flush=True)
            if a.out:
                name = f"{number:03d}_{os.path.basename(meta.tags.get('fullname') or meta.key)}"
                with open(os.path.join(a.out, name), "wb") as f:
                    f.write(data)
            time.sleep(max(a.delay_ms, 0) / 1000)
    where = f", written to {a.out}" if a.out else ""
    print(f"played {len(frames)} frames of {a.bucket_id}/{a.ball_id} in frame_number order "
          f"at {a.delay_ms} ms per frame{where}")


if __name__ == "__main__":
    run(main)
