"""Wait until a MictlanX router lists at least one live peer (``GET /api/v4/peers/stats`` answers a
non-empty map, the health signal the reference deploy scripts poll), or fail after a timeout.

Usage: python .ci/wait_router.py http://127.0.0.1:60666 [timeout_seconds]
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request


def main(argv: list) -> int:  # type: ignore[type-arg]
    url = argv[1].rstrip("/") + "/api/v4/peers/stats?start=0&end=0"
    deadline = time.monotonic() + (float(argv[2]) if len(argv) > 2 else 120.0)
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2.0) as reply:  # noqa: S310 - a URL we were given
                stats = json.loads(reply.read())
            if isinstance(stats, dict) and stats:
                print(f"router up: {len(stats)} peer(s) at {argv[1]}")
                return 0
            last = f"no live peer yet: {stats!r}"
        except (OSError, ValueError, urllib.error.URLError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.5)  # polling interval
    print(f"router at {argv[1]} not healthy in time; last: {last}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
