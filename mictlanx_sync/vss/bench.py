"""Throughput and memory benchmark of the local VSS: ``python -m mictlanx_sync.vss.bench``.

Starts ``serve(peers=2)``, uploads ``--total`` bytes through the router as ``--object`` sized
objects from ``--threads`` threads (plain two-step PUT with :class:`mictlanx_sync.router.Router`:
``put_metadata`` then ``put_chunked`` with a bytes body) at rf=1 and rf=2, reads everything back
(router data GET), and prints MB/s plus the peak RSS of the router and of each peer (psutil,
sampled every 50 ms). Needs psutil (the ``test`` extra).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence

from ..router import Router
from ..units import format_size, parse_size
from .serve import LocalVSS, serve

__all__ = ["main"]


class RSSSampler:
    """Samples the RSS of some processes every ``interval`` seconds and keeps the peaks."""

    def __init__(self, pids: Dict[str, int], interval: float = 0.05) -> None:
        import psutil

        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peaks: Dict[str, int] = {name: 0 for name in pids}
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, proc in self._procs.items():
                try:
                    self.peaks[name] = max(self.peaks[name], int(proc.memory_info().rss))
                except Exception:  # noqa: BLE001 - the process may be gone
                    pass
            self._stop.wait(self._interval)

    def __enter__(self) -> RSSSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _pids(vss: LocalVSS) -> Dict[str, int]:
    pids: Dict[str, int] = {}
    for child in vss._routers[:1]:
        assert child.proc is not None
        pids["router"] = child.proc.pid
    for pid_name, child in zip(vss.peer_ids, vss._peers):
        assert child.proc is not None
        pids[pid_name] = child.proc.pid
    return pids


def _upload(router: Router, bucket: str, keys: Sequence[str], blob: bytes, checksum: str, rf: int,
            threads: int) -> float:
    def one(key: str) -> None:
        reply = router.put_metadata(bucket, key, len(blob), checksum, "bench", replication_factor=rf)
        router.put_chunked(reply.tasks_ids[0], blob)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, keys))
    return time.perf_counter() - started


def _download(router: Router, bucket: str, keys: Sequence[str], size: int, threads: int) -> float:
    def one(key: str) -> None:
        buffer = bytearray(size)
        router.get_into(bucket, key, memoryview(buffer))

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, keys))
    return time.perf_counter() - started


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark and print the results; returns 0."""
    parser = argparse.ArgumentParser(prog="python -m mictlanx_sync.vss.bench")
    parser.add_argument("--total", default="256MiB", help="bytes per run (default 256MiB)")
    parser.add_argument("--object", default="8MiB", help="object size (default 8MiB)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--data-dir", default=None, help="where peers store data (default: a temp dir)")
    parser.add_argument("--no-fsync", action="store_true", help="peers skip fsync before commit")
    args = parser.parse_args(argv)
    total, size = parse_size(args.total), parse_size(args.object)
    count = max(1, total // size)
    blob = os.urandom(size)
    checksum = hashlib.sha256(blob).hexdigest()
    mb = count * size / 1e6
    lines: List[str] = []
    with serve(peers=2, data_dir=args.data_dir, fsync=not args.no_fsync) as vss, RSSSampler(_pids(vss)) as sampler, \
            Router(vss.router_url, pool_maxsize=args.threads * 2) as router:
        for rf in (1, 2):
            bucket = f"bench-{uuid.uuid4().hex[:8]}"
            keys = [f"obj-{i}" for i in range(count)]
            up = _upload(router, bucket, keys, blob, checksum, rf, args.threads)
            down = _download(router, bucket, keys, size, args.threads)
            lines.append(f"rf={rf}: upload {mb / up:8.1f} MB/s   read {mb / down:8.1f} MB/s   "
                         f"({count} x {format_size(size, binary=True)}, {args.threads} threads)")
    for line in lines:
        print(line)
    for name, peak in sampler.peaks.items():
        print(f"peak RSS {name:18s} {peak / 2**20:7.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
