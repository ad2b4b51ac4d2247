"""`make bench`: client put/get throughput against a local VSS, with floor, ceiling and bare references.

Not collected by pytest (no test_ prefix). Options: --quick (smaller matrix), --sizes, --workers,
--count (objects per size), --repeat (rounds per size, interleaving references and client; the
table shows medians), --latency (one-way delays to inject with a TCP proxy between the client and
the router, one table each: ``--latency 2ms`` or ``--latency 0,2ms,20ms``), --bandwidth (the
proxy's cap in bytes/s per direction and connection).
Pass options through make with ``make bench BENCH_ARGS="--sizes 1GiB --workers 8 --repeat 3"``.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from mictlanx_sync.bench import BenchRow, format_table, parse_delays, parse_list, run_matrix
from mictlanx_sync.vss import serve


def main() -> int:
    """Run the benchmark matrix and print one table per delay."""
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--sizes", default=None,
                      help="default 4KiB,8MiB,256MiB,1GiB; with --latency 4KiB,8MiB,256MiB")
    args.add_argument("--workers", default=None, help="default 1,2,4,8; with --latency 1,2,4,8,16")
    args.add_argument("--count", type=int, default=0, help="objects per size (default: ~64 MiB worth, max 1000)")
    args.add_argument("--chunk-size", default="1MB")
    args.add_argument("--repeat", type=int, default=1)
    args.add_argument("--latency", type=parse_delays, default=None, metavar="DELAY,...",
                      help="one-way delay(s) injected by a TCP proxy, e.g. 2ms or 0,2ms,20ms")
    args.add_argument("--bandwidth", default=None, help="proxy bandwidth cap per direction, e.g. 125MB (bytes/s)")
    args.add_argument("--quick", action="store_true", help="4KiB,8MiB,256MiB with 8 workers only")
    a = args.parse_args()
    sizes = parse_list("4KiB,8MiB,256MiB" if a.quick else
                       a.sizes or ("4KiB,8MiB,256MiB" if a.latency else "4KiB,8MiB,256MiB,1GiB"))
    workers = [8] if a.quick else [int(w) for w in (a.workers or ("1,2,4,8,16" if a.latency else "1,2,4,8")).split(",")]
    chunk = parse_list(a.chunk_size)[0]
    bandwidth: Optional[float] = float(parse_list(a.bandwidth)[0]) if a.bandwidth else None
    delays: List[Optional[float]] = list(a.latency) if a.latency else [None]

    def show(rows: List[BenchRow]) -> None:
        print(format_table(rows), flush=True)
        print(flush=True)

    with serve(peers=2, rf=1) as vss:
        print(f"local VSS: {vss.uri}", flush=True)
        rows = run_matrix(vss.uri, sizes=sizes, workers=workers, count=a.count, chunk_size=chunk, repeat=a.repeat,
                          on_round=show, delays=delays, bandwidth=bandwidth)
    print("final table:")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
