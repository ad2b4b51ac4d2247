"""Benchmarks of the Client against any MictlanX URI, with two references sent over the same
wire: the floor (the same two-step requests from a bare sequential ``requests`` loop) and the
ceiling (the same requests from a bare urllib3 ``PoolManager`` on 8 threads, no hashing, no
bookkeeping). Used by ``mictlanx-sync bench`` and ``make bench``; returns rows, never prints."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import attrs

from . import _protocol as P
from .units import format_size, parse_size
from .uri import MictlanXURI

__all__ = ["BenchRow", "run_bench", "run_reference", "run_matrix", "median_rows", "format_table", "parse_list",
           "PeakRSS"]

FILE_THRESHOLD = 64 * 1024 * 1024
TOTAL_PER_ROW = 64 * 1024 * 1024


@attrs.frozen(kw_only=True)
class BenchRow:
    """One measurement: who moved how many objects of what size, and how fast."""

    impl: str
    op: str
    size: int
    count: int
    workers: int
    seconds: float
    peak_rss: int

    @property
    def mb_per_s(self) -> float:
        """Decimal megabytes per second."""
        return self.size * self.count / self.seconds / 1e6 if self.seconds else 0.0

    @property
    def ops_per_s(self) -> float:
        """Objects per second."""
        return self.count / self.seconds if self.seconds else 0.0

    def to_json(self) -> Dict[str, Any]:
        """The row as JSON-ready data."""
        return {**attrs.asdict(self), "mb_per_s": round(self.mb_per_s, 1), "ops_per_s": round(self.ops_per_s, 1)}


class PeakRSS:
    """Samples this process's resident memory every 20 ms while active; ``peak`` is the maximum."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _rss(self) -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            return 0

    def __enter__(self) -> PeakRSS:
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, self._rss())


def parse_list(text: str) -> List[int]:
    """``"4KiB,8MiB"`` -> ``[4096, 8388608]``."""
    return [parse_size(part.strip()) for part in text.split(",") if part.strip()]


def _count_for(size: int, count: int) -> int:
    if count:
        return count
    return max(1, min(1000, TOTAL_PER_ROW // max(size, 1)))


def _payload(size: int) -> bytes:
    return os.urandom(min(size, 1 << 20)) * (size // (1 << 20)) + os.urandom(size % (1 << 20)) \
        if size >= 1 << 20 else os.urandom(size)


def _make_file(directory: str, size: int) -> str:
    path = os.path.join(directory, f"bench-{size}.bin")
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        remaining = size
        while remaining:
            n = min(remaining, len(block))
            f.write(block[:n])
            remaining -= n
    return path


def _settle() -> None:
    """Flush dirty pages left by earlier rows (the servers' writes, deleted files) before timing
    the next one, so a row does not pay for its predecessors' disk writeback."""
    gc.collect()
    os.sync()


def _timed(action: Callable[[], None]) -> Tuple[float, int]:
    _settle()
    with PeakRSS() as rss:
        started = time.perf_counter()
        action()
        seconds = time.perf_counter() - started
    return seconds, rss.peak


def run_bench(uri: Optional[str], *, sizes: Sequence[int], workers: Sequence[int], count: int = 0,
              chunk_size: Any = "1MB", bucket_id: Optional[str] = None) -> List[BenchRow]:
    """Put then get ``count`` objects of each size with each worker count through a Client.

    Every size is measured in memory (``put``/``get``, or ``put_many``/``get_many`` for many small
    objects over one pool); objects of at least 64 MiB are also measured through files
    (``put_file``/``get_to_file``, bounded memory: their peak RSS is the one that matters).
    Everything written is deleted afterwards.
    """
    from .client import Client

    bucket = bucket_id or f"bench-{uuid.uuid4().hex[:8]}"
    rows: List[BenchRow] = []
    with tempfile.TemporaryDirectory(prefix="mictlanx-bench-") as tmp:
        for size in sizes:
            n = _count_for(size, count)
            for w in workers:
                with Client(uri, max_workers=w, chunk_size=chunk_size, capacity_storage=0) as client:
                    keys = [f"o{size}-{w}-{i}-{uuid.uuid4().hex[:6]}" for i in range(n)]
                    data = _payload(size)

                    def put_mem(c: Any = client, ks: List[str] = keys, d: bytes = data) -> None:
                        if len(ks) == 1:
                            c.put(bucket, ks[0], d)
                            return
                        for r in c.put_many(bucket, [(k, d) for k in ks]):
                            if not r.ok:
                                raise r.error if r.error else RuntimeError(r.key)

                    def get_mem(c: Any = client, ks: List[str] = keys) -> None:
                        if len(ks) == 1:
                            c.get(bucket, ks[0])
                            return
                        for r in c.get_many(bucket, ks):
                            if not r.ok:
                                raise r.error if r.error else RuntimeError(r.key)

                    actions: List[Tuple[str, Callable[[], None]]] = [("put", put_mem), ("get", get_mem)]
                    for op, action in actions:
                        seconds, peak = _timed(action)
                        rows.append(BenchRow(impl="client", op=op, size=size, count=n, workers=w,
                                             seconds=seconds, peak_rss=peak))
                        if op == "get":
                            gc.collect()
                    del data, put_mem, get_mem, actions
                    gc.collect()
                    if size >= FILE_THRESHOLD:
                        # Files move in a fresh process each, so the peak RSS is the client's own
                        # (the kernel's ru_maxrss), not this process's buffers.
                        path = _make_file(tmp, size)
                        file_keys = [k + "-f" for k in keys]
                        for op in ("put_file", "get_to_file"):
                            seconds, peak = _file_ops_in_subprocess(
                                uri, op, bucket, file_keys, path, os.path.join(tmp, "out.bin"), w, chunk_size)
                            rows.append(BenchRow(impl="client", op=op, size=size, count=n, workers=w,
                                                 seconds=seconds, peak_rss=peak))
                        os.unlink(path)
                        keys = keys + file_keys
                    for k in keys:
                        client.delete(bucket, k)
    return rows


def _file_ops_in_subprocess(uri: Optional[str], op: str, bucket: str, keys: Sequence[str], path: str,
                            out: str, workers: int, chunk_size: Any) -> Tuple[float, int]:
    """Run ``put_file``/``get_to_file`` of ``keys`` in a fresh Python process; return its seconds
    and its peak RSS (bytes)."""
    import subprocess
    import sys

    args = [sys.executable, "-m", "mictlanx_sync.bench", op, uri or "", bucket, path, out, str(workers),
            str(chunk_size), *keys]
    _settle()
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{op} benchmark process failed: {proc.stderr.strip()[-500:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return float(result["seconds"]), int(result["peak_rss"])


def _vm_hwm() -> int:
    """This process's peak resident memory in bytes (``VmHWM``: unlike ``ru_maxrss``, not
    inherited from the parent across fork and exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _file_ops_main(argv: Sequence[str]) -> int:
    """Entry of the subprocess: ``op uri bucket path out workers chunk_size key...``; prints JSON."""
    from .client import Client

    op, uri, bucket, path, out, workers, chunk_size, *keys = argv
    with Client(uri or None, max_workers=int(workers), chunk_size=chunk_size, capacity_storage=0) as client:
        started = time.perf_counter()
        for key in keys:
            if op == "put_file":
                client.put_file(bucket, key, path)
            else:
                os.unlink(client.get_to_file(bucket, key, out))
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_rss": _vm_hwm()}))
    return 0


# ------------------------------------------------------------------------------------ references
def _chunks_of(data: bytes, chunk_size: int) -> Iterator[Tuple[int, memoryview]]:
    view = memoryview(data)
    if not data:
        yield 0, view
        return
    for i, offset in enumerate(range(0, len(data), chunk_size)):
        yield i, view[offset:offset + chunk_size]


def _step1_body(bucket: str, key: str, index: int, chunk: memoryview, num: int, checksum: str) -> bytes:
    ckey = P.chunk_key(key, index)
    return json.dumps({"bucket_id": bucket, "key": ckey, "ball_id": key, "checksum": checksum,
                       "size": len(chunk), "producer_id": "bench", "content_type": P.DEFAULT_CONTENT_TYPE,
                       "is_disabled": False, "replication_factor": 1,
                       "tags": {"index": str(index), "num_chunks": str(num), "chunk_size": str(len(chunk)),
                                "group_id": key, "full_checksum": checksum}}).encode()


def _ok(reply: Any, what: str) -> Any:
    """``reply`` if it is a 2xx; a reference that measured failed requests would measure nothing."""
    if not 200 <= reply.status < 300:
        raise RuntimeError(f"ceiling {what} answered HTTP {reply.status}: {reply.data[:300]!r}")
    return reply


def run_reference(uri: str, impl: str, *, size: int, count: int, chunk_size: int,
                  bucket_id: str) -> List[BenchRow]:
    """The floor (``impl="floor"``: requests, sequential, hashing like a client) or the ceiling
    (``impl="ceiling"``: urllib3 PoolManager, 8 threads, checksums computed before timing,
    no verification)
    sending the same two-step PUTs and the same GETs (metadata of chunk 0, then data)."""
    import requests
    import urllib3

    base = MictlanXURI.parse(uri).router_urls()[0]
    data = _payload(size)
    num = max(1, -(-size // chunk_size))
    keys = [f"{impl}-{size}-{i}-{uuid.uuid4().hex[:6]}" for i in range(count)]
    jobs = [(k, i, chunk) for k in keys for i, chunk in _chunks_of(data, chunk_size)]
    meta_url = base + P.path(P.BUCKET_METADATA, bucket_id=bucket_id)
    rows: List[BenchRow] = []
    if impl == "floor":
        session = requests.Session()
        session.headers["Accept-Encoding"] = "identity"

        def put_all() -> None:
            for k, i, chunk in jobs:
                checksum = hashlib.sha256(chunk).hexdigest()
                r = session.post(meta_url, data=_step1_body(bucket_id, k, i, chunk, num, checksum),
                                 headers={"Content-Type": "application/json"})
                r.raise_for_status()
                task = r.json()["tasks_ids"][0]
                session.post(base + P.path(P.PUT_CHUNKED, task_id=task), data=chunk.tobytes()).raise_for_status()

        def get_all() -> None:
            for k, i, _chunk in jobs:
                ckey = P.chunk_key(k, i)
                if i == 0:
                    session.get(base + P.path(P.CHUNKS, bucket_id=bucket_id, ball_id=k)).raise_for_status()
                r = session.get(base + P.path(P.DATA, bucket_id=bucket_id, key=ckey))
                r.raise_for_status()
                hashlib.sha256(r.content).hexdigest()
        workers = 1
    else:
        pool = urllib3.PoolManager(maxsize=16)
        # Hashed before the clock starts: the ceiling does no hashing, but the servers verify
        # every chunk's SHA-256 and refuse a wrong one, so it must send the right checksums.
        sums = [hashlib.sha256(chunk).hexdigest() for _, chunk in _chunks_of(data, chunk_size)]

        def put_one(job: Tuple[str, int, memoryview]) -> None:
            k, i, chunk = job
            r = _ok(pool.request("POST", meta_url, body=_step1_body(bucket_id, k, i, chunk, num, sums[i]),
                                 headers={"Content-Type": "application/json"}), "step 1")
            task = json.loads(r.data)["tasks_ids"][0]
            _ok(pool.request("POST", base + P.path(P.PUT_CHUNKED, task_id=task), body=chunk.tobytes()), "step 2")

        def get_one(job: Tuple[str, int, memoryview]) -> None:
            k, i, chunk = job
            if i == 0:
                _ok(pool.request("GET", base + P.path(P.CHUNKS, bucket_id=bucket_id, ball_id=k)), "chunks")
            r = _ok(pool.request("GET", base + P.path(P.DATA, bucket_id=bucket_id, key=P.chunk_key(k, i)),
                                 preload_content=False), "data")
            received = sum(len(piece) for piece in r.stream(1 << 20))
            r.release_conn()
            if received != len(chunk):
                raise RuntimeError(f"ceiling data of {P.chunk_key(k, i)}: {received} of {len(chunk)} bytes")

        def put_all() -> None:
            with ThreadPoolExecutor(8) as ex:
                list(ex.map(put_one, jobs))

        def get_all() -> None:
            with ThreadPoolExecutor(8) as ex:
                list(ex.map(get_one, jobs))
        workers = 8
    for op, action in (("put", put_all), ("get", get_all)):
        seconds, peak = _timed(action)
        rows.append(BenchRow(impl=impl, op=op, size=size, count=count, workers=workers, seconds=seconds,
                             peak_rss=peak))
    del data
    from .client import Client

    with Client(uri, capacity_storage=0) as client:
        for k in keys:
            client.delete_by_ball_id(bucket_id, k)
    return rows


def run_matrix(uri: str, *, sizes: Sequence[int], workers: Sequence[int], count: int = 0,
               chunk_size: int = 1_000_000, references: bool = True, repeat: int = 1,
               on_round: Optional[Callable[[List[BenchRow]], None]] = None) -> List[BenchRow]:
    """The whole benchmark: for each size, ``repeat`` rounds of the floor and the ceiling (with
    ``references``) followed by the client at each worker count.

    Rounds interleave the references and the client, so that the machine's slow drift (page
    cache, host neighbours) touches both alike; :func:`median_rows` then keeps the median of each.
    ``on_round`` is called with every row so far after each round (to print progress).
    """
    rows: List[BenchRow] = []
    for size in sizes:
        n = _count_for(size, count)
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        for _ in range(max(1, repeat)):
            if references:
                for impl in ("floor", "ceiling"):
                    rows += run_reference(uri, impl, size=size, count=n, chunk_size=chunk_size, bucket_id=bucket)
            rows += run_bench(uri, sizes=[size], workers=workers, count=n, chunk_size=chunk_size, bucket_id=bucket)
            if on_round is not None:
                on_round(rows)
    return rows


def median_rows(rows: Sequence[BenchRow]) -> List[BenchRow]:
    """One row per (impl, op, size, workers), in first-seen order: the run with the median time
    (the slower middle one for an even count) and the highest peak RSS of all runs."""
    groups: Dict[Tuple[str, str, int, int], List[BenchRow]] = {}
    for row in rows:
        groups.setdefault((row.impl, row.op, row.size, row.workers), []).append(row)
    result = []
    for group in groups.values():
        seconds = statistics.median_high([r.seconds for r in group])
        middle = next(r for r in group if r.seconds == seconds)
        result.append(attrs.evolve(middle, peak_rss=max(r.peak_rss for r in group)))
    return result


def format_table(rows: Sequence[BenchRow]) -> str:
    """One table: implementation, op, size x count, workers, MB/s, ops/s, peak RSS, and for client
    rows the ratio to the ceiling and to the floor of the same op and size. Repeated runs are
    reduced to their median first (:func:`median_rows`)."""
    rows = median_rows(rows)
    refs: Dict[Tuple[str, str, int], BenchRow] = {(r.impl, r.op, r.size): r for r in rows if r.impl != "client"}
    header = f"{'impl':8} {'op':11} {'object':>10} {'count':>5} {'workers':>7} {'MB/s':>8} {'ops/s':>8} " \
             f"{'peak RSS':>10} {'/ceiling':>8} {'/floor':>7}"
    lines = [header, "-" * len(header)]
    for r in rows:
        ref_op = {"put_file": "put", "get_to_file": "get"}.get(r.op, r.op)
        ceiling = refs.get(("ceiling", ref_op, r.size))
        floor = refs.get(("floor", ref_op, r.size))
        c = f"{r.mb_per_s / ceiling.mb_per_s:.2f}" if ceiling and r.impl == "client" and ceiling.mb_per_s else ""
        f = f"{r.mb_per_s / floor.mb_per_s:.2f}" if floor and r.impl == "client" and floor.mb_per_s else ""
        lines.append(f"{r.impl:8} {r.op:11} {format_size(r.size, binary=True):>10} {r.count:>5} {r.workers:>7} "
                     f"{r.mb_per_s:>8.1f} {r.ops_per_s:>8.1f} {format_size(r.peak_rss, binary=True):>10} "
                     f"{c:>8} {f:>7}")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    sys.exit(_file_ops_main(sys.argv[1:]))
