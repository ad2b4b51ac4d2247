"""Benchmarks of the Client against any MictlanX URI, with three references sent over the same
wire: the floor (the same two-step requests from a bare sequential ``requests`` loop), the
ceiling (the same requests from a bare urllib3 ``PoolManager`` on 8 threads, no hashing, no
bookkeeping) and the bare reference (the same requests from a bare sequential urllib3 loop: the
CPU and latency yardstick of one operation). Used by ``mictlanx-sync bench`` and ``make bench``;
returns rows, never prints.

With a ``delay`` (``--latency``), everything runs through a userspace TCP proxy
(:mod:`mictlanx_sync._netproxy`, in its own process) that delays every byte by ``delay`` each way
between this process and the routers, optionally capping the bandwidth: a LAN or WAN on one
machine. Every row records the process CPU time this process spent (not wall time), and
sequential rows (one operation at a time) the latency of each operation (p50/p99)."""

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
           "PeakRSS", "cpu_ratios", "round_trips", "through_proxy", "parse_delays"]

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
    #: process CPU seconds this process spent on the row (every thread; not the servers')
    cpu: float = 0.0
    #: median and 99th percentile seconds of one operation (sequential rows only; 0 otherwise)
    p50: float = 0.0
    p99: float = 0.0
    #: one-way delay injected between this process and the routers (seconds)
    delay: float = 0.0

    @property
    def cpu_per_op(self) -> float:
        """Process CPU seconds per object."""
        return self.cpu / self.count if self.count else 0.0

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
        self.cpu = 0.0  # CPU seconds the sampler thread itself used (not the measured work's)
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
        started = time.thread_time()
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())
        self.cpu = time.thread_time() - started

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, self._rss())


def parse_list(text: str) -> List[int]:
    """``"4KiB,8MiB"`` -> ``[4096, 8388608]``."""
    return [parse_size(part.strip()) for part in text.split(",") if part.strip()]


def parse_delays(text: str) -> List[float]:
    """``"0,2ms,20ms"`` -> ``[0.0, 0.002, 0.02]`` (one-way delays in seconds).

    Raises:
        ValueError: a part is not a duration, or there is none.
    """
    from ._netproxy import parse_duration

    delays = [parse_duration(part) for part in text.split(",") if part.strip()]
    if not delays:
        raise ValueError(f"expected one or more delays, e.g. 2ms or 0,2ms,20ms; got {text!r}")
    return delays


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


@attrs.define
class _Timing:
    """What :func:`_timed` measured: wall seconds, peak RSS, process CPU seconds, per-op seconds."""

    seconds: float
    peak: int
    cpu: float
    latencies: List[float]

    def row(self, **fields: Any) -> BenchRow:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) if lat else 0.0
        p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))] if lat else 0.0
        return BenchRow(seconds=self.seconds, peak_rss=self.peak, cpu=self.cpu, p50=p50, p99=p99, **fields)


def _timed(action: Callable[[List[float]], None]) -> _Timing:
    """Run ``action(latencies)`` (which may append the seconds of each operation) once."""
    _settle()
    latencies: List[float] = []
    with PeakRSS() as rss:
        cpu_started = time.process_time()
        started = time.perf_counter()
        action(latencies)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    return _Timing(seconds, rss.peak, max(0.0, cpu - rss.cpu), latencies)


def run_bench(uri: Optional[str], *, sizes: Sequence[int], workers: Sequence[int], count: int = 0,
              chunk_size: Any = "1MB", bucket_id: Optional[str] = None, delay: float = 0.0) -> List[BenchRow]:
    """Put then get ``count`` objects of each size with each worker count through a Client.

    Every size is measured in memory: with one worker, one ``put``/``get`` at a time (each timed:
    p50/p99), with more, ``put_many``/``get_many`` of all objects over one pool; objects of at
    least 64 MiB are also measured through files
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

                    def put_mem(lat: List[float], c: Any = client, ks: List[str] = keys, d: bytes = data,
                                one_by_one: bool = w == 1) -> None:
                        if len(ks) == 1 or one_by_one:
                            for k in ks:
                                started = time.perf_counter()
                                c.put(bucket, k, d)
                                lat.append(time.perf_counter() - started)
                            return
                        for r in c.put_many(bucket, [(k, d) for k in ks]):
                            if not r.ok:
                                raise r.error if r.error else RuntimeError(r.key)

                    def get_mem(lat: List[float], c: Any = client, ks: List[str] = keys,
                                one_by_one: bool = w == 1) -> None:
                        if len(ks) == 1 or one_by_one:
                            for k in ks:
                                started = time.perf_counter()
                                c.get(bucket, k)
                                lat.append(time.perf_counter() - started)
                            return
                        for r in c.get_many(bucket, ks):
                            if not r.ok:
                                raise r.error if r.error else RuntimeError(r.key)

                    actions: List[Tuple[str, Callable[[List[float]], None]]] = [("put", put_mem), ("get", get_mem)]
                    for op, action in actions:
                        rows.append(_timed(action).row(impl="client", op=op, size=size, count=n, workers=w,
                                                       delay=delay))
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
                                                 seconds=seconds, peak_rss=peak, delay=delay))
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
                  bucket_id: str, delay: float = 0.0) -> List[BenchRow]:
    """One reference sending the client's requests (two-step PUTs; GETs of the chunk listing,
    then of each chunk's data), stopping at the first failed one.

    * ``impl="floor"``: requests, sequential, hashing like a client;
    * ``impl="ceiling"``: urllib3 ``PoolManager``, 8 threads, checksums computed before timing,
      no verification;
    * ``impl="bare"``: urllib3, sequential, checksums computed before timing: the yardstick of
      one operation's CPU and latency; it also yields an ``op="req"`` row, the latency of one
      data GET alone (one round trip).

    Sequential references record each object's latency (p50/p99); the ceiling records each
    chunk's (on a busy pool).
    """
    import requests
    import urllib3

    base = MictlanXURI.parse(uri).router_urls()[0]
    data = _payload(size)
    num = max(1, -(-size // chunk_size))
    keys = [f"{impl}-{size}-{i}-{uuid.uuid4().hex[:6]}" for i in range(count)]
    chunks = list(_chunks_of(data, chunk_size))
    meta_url = base + P.path(P.BUCKET_METADATA, bucket_id=bucket_id)
    rows: List[BenchRow] = []
    requests_seconds: List[float] = []
    put_all: Callable[[List[float]], None]
    get_all: Callable[[List[float]], None]
    if impl == "floor":
        session = requests.Session()
        session.headers["Accept-Encoding"] = "identity"

        def put_all(lat: List[float]) -> None:
            for k in keys:
                started = time.perf_counter()
                for i, chunk in chunks:
                    checksum = hashlib.sha256(chunk).hexdigest()
                    r = session.post(meta_url, data=_step1_body(bucket_id, k, i, chunk, num, checksum),
                                     headers={"Content-Type": "application/json"})
                    r.raise_for_status()
                    task = r.json()["tasks_ids"][0]
                    session.post(base + P.path(P.PUT_CHUNKED, task_id=task), data=chunk.tobytes()).raise_for_status()
                lat.append(time.perf_counter() - started)

        def get_all(lat: List[float]) -> None:
            for k in keys:
                started = time.perf_counter()
                session.get(base + P.path(P.CHUNKS, bucket_id=bucket_id, ball_id=k)).raise_for_status()
                for i, _chunk in chunks:
                    r = session.get(base + P.path(P.DATA, bucket_id=bucket_id, key=P.chunk_key(k, i)))
                    r.raise_for_status()
                    hashlib.sha256(r.content).hexdigest()
                lat.append(time.perf_counter() - started)
        workers = 1
    else:
        pool = urllib3.PoolManager(maxsize=16)
        # Hashed before the clock starts: these references do no hashing, but the servers verify
        # every chunk's SHA-256 and refuse a wrong one, so they must send the right checksums.
        sums = [hashlib.sha256(chunk).hexdigest() for _, chunk in chunks]

        def put_one(k: str, i: int, chunk: memoryview) -> None:
            r = _ok(pool.request("POST", meta_url, body=_step1_body(bucket_id, k, i, chunk, num, sums[i]),
                                 headers={"Content-Type": "application/json"}), "step 1")
            task = json.loads(r.data)["tasks_ids"][0]
            _ok(pool.request("POST", base + P.path(P.PUT_CHUNKED, task_id=task), body=chunk.tobytes()), "step 2")

        def get_data(k: str, i: int, chunk: memoryview) -> None:
            r = _ok(pool.request("GET", base + P.path(P.DATA, bucket_id=bucket_id, key=P.chunk_key(k, i)),
                                 preload_content=False), "data")
            received = sum(len(piece) for piece in r.stream(1 << 20))
            r.release_conn()
            if received != len(chunk):
                raise RuntimeError(f"{impl} data of {P.chunk_key(k, i)}: {received} of {len(chunk)} bytes")

        def get_listing(k: str) -> None:
            _ok(pool.request("GET", base + P.path(P.CHUNKS, bucket_id=bucket_id, ball_id=k)), "chunks")

        if impl == "ceiling":
            jobs = [(k, i, chunk) for k in keys for i, chunk in chunks]

            def timed(fn: Callable[[], None], lat: List[float]) -> None:
                started = time.perf_counter()
                fn()
                lat.append(time.perf_counter() - started)

            def put_all(lat: List[float]) -> None:
                with ThreadPoolExecutor(8) as ex:
                    list(ex.map(lambda job: timed(lambda: put_one(*job), lat), jobs))

            def get_job(job: Tuple[str, int, memoryview]) -> None:
                if job[1] == 0:
                    get_listing(job[0])
                get_data(*job)

            def get_all(lat: List[float]) -> None:
                with ThreadPoolExecutor(8) as ex:
                    list(ex.map(lambda job: timed(lambda: get_job(job), lat), jobs))
            workers = 8
        elif impl == "bare":
            def put_all(lat: List[float]) -> None:
                for k in keys:
                    started = time.perf_counter()
                    for i, chunk in chunks:
                        put_one(k, i, chunk)
                    lat.append(time.perf_counter() - started)

            def get_all(lat: List[float]) -> None:
                for k in keys:
                    started = time.perf_counter()
                    get_listing(k)
                    for i, chunk in chunks:
                        request_started = time.perf_counter()
                        get_data(k, i, chunk)
                        requests_seconds.append(time.perf_counter() - request_started)
                    lat.append(time.perf_counter() - started)
            workers = 1
        else:
            raise ValueError(f"unknown reference {impl!r}")
    for op, action in (("put", put_all), ("get", get_all)):
        rows.append(_timed(action).row(impl=impl, op=op, size=size, count=count, workers=workers, delay=delay))
    if requests_seconds:
        one = _Timing(0.0, 0, 0.0, requests_seconds)
        rows.append(one.row(impl=impl, op="req", size=min(size, chunk_size), count=len(requests_seconds),
                            workers=1, delay=delay))
    chunks.clear()
    del data
    from .client import Client

    with Client(uri, capacity_storage=0) as client:
        for k in keys:
            client.delete_by_ball_id(bucket_id, k)
    return rows


REFERENCES = ("floor", "ceiling", "bare")


def through_proxy(uri: str, delay: float, bandwidth: Optional[float] = None) -> Tuple[str, List[Any]]:
    """Start one network proxy process per router of ``uri`` (one-way ``delay`` seconds, optional
    ``bandwidth`` in bytes/s); return the URI that goes through them and the proxies (close them).

    The client only ever talks to its routers (reads and writes go through them), so a proxy in
    front of each router puts the whole client's traffic on the simulated link.
    """
    from . import _netproxy
    from .uri import RouterSpec

    parsed = MictlanXURI.parse(uri)
    proxies: List[Any] = []
    specs = []
    try:
        for spec in parsed.routers:
            host = spec.host.partition("/")[0]
            proxy = _netproxy.start_process((host, spec.port), delay=delay, bandwidth=bandwidth)
            proxies.append(proxy)
            specs.append(RouterSpec(router_id=spec.router_id, host=proxy.host, port=proxy.port))
    except BaseException:
        for proxy in proxies:
            proxy.close()
        raise
    return attrs.evolve(parsed, routers=tuple(specs)).build(), proxies


def run_matrix(uri: str, *, sizes: Sequence[int], workers: Sequence[int], count: int = 0,
               chunk_size: int = 1_000_000, references: bool = True, repeat: int = 1,
               on_round: Optional[Callable[[List[BenchRow]], None]] = None,
               delays: Sequence[Optional[float]] = (None,), bandwidth: Optional[float] = None) -> List[BenchRow]:
    """The whole benchmark: for each delay and size, ``repeat`` rounds of the references (with
    ``references``) followed by the client at each worker count.

    Rounds interleave the references and the client, so that the machine's slow drift (page
    cache, host neighbours) touches both alike; :func:`median_rows` then keeps the median of each.
    ``on_round`` is called with every row so far after each round (to print progress).

    Args:
        delays: one-way delays (seconds) to inject with a network proxy between this process and
            the routers, one matrix each; None runs straight to the routers (no proxy).
        bandwidth: the proxy's bandwidth cap in bytes/s (per direction and connection).
    """
    rows: List[BenchRow] = []
    for delay in delays:
        proxies: List[Any] = []
        target = uri
        if delay is not None or bandwidth is not None:
            target, proxies = through_proxy(uri, delay or 0.0, bandwidth)
        try:
            for size in sizes:
                n = _count_for(size, count)
                bucket = f"bench-{uuid.uuid4().hex[:8]}"
                for _ in range(max(1, repeat)):
                    if references:
                        for impl in REFERENCES:
                            rows += run_reference(target, impl, size=size, count=n, chunk_size=chunk_size,
                                                  bucket_id=bucket, delay=delay or 0.0)
                    rows += run_bench(target, sizes=[size], workers=workers, count=n, chunk_size=chunk_size,
                                      bucket_id=bucket, delay=delay or 0.0)
                    if on_round is not None:
                        on_round(rows)
        finally:
            for proxy in proxies:
                proxy.close()
    return rows


def median_rows(rows: Sequence[BenchRow]) -> List[BenchRow]:
    """One row per (delay, impl, op, size, workers), in first-seen order: the run with the median
    time (the slower middle one for an even count) and the highest peak RSS of all runs."""
    groups: Dict[Tuple[float, str, str, int, int], List[BenchRow]] = {}
    for row in rows:
        groups.setdefault((row.delay, row.impl, row.op, row.size, row.workers), []).append(row)
    result = []
    for group in groups.values():
        seconds = statistics.median_high([r.seconds for r in group])
        middle = next(r for r in group if r.seconds == seconds)
        result.append(attrs.evolve(middle, peak_rss=max(r.peak_rss for r in group)))
    return result


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}" if seconds else ""


def cpu_ratios(rows: Sequence[BenchRow]) -> Dict[Tuple[float, str, int], float]:
    """(delay, op, size) -> the client's process CPU per object with one worker divided by the
    bare urllib3 reference's for the same requests, measured in the same run."""
    rows = median_rows(rows)
    bare = {(r.delay, r.op, r.size): r for r in rows if r.impl == "bare"}
    ratios = {}
    for r in rows:
        ref = bare.get((r.delay, r.op, r.size))
        if r.impl == "client" and r.workers == 1 and ref is not None and ref.cpu_per_op:
            ratios[(r.delay, r.op, r.size)] = r.cpu_per_op / ref.cpu_per_op
    return ratios


def round_trips(rows: Sequence[BenchRow]) -> Dict[Tuple[str, str, int], float]:
    """(impl, op, size) -> round trips of latency one operation costs: the slope of its p50
    against the injected delay (between the smallest and largest delay measured) divided by the
    same slope of one bare request (``bare``/``req``). Needs rows at two delays at least."""
    rows = [r for r in median_rows(rows) if r.p50]
    delays = sorted({r.delay for r in rows})
    if len(delays) < 2:
        return {}
    low, high = delays[0], delays[-1]

    def p50(impl: str, op: str, size: int, workers: int, delay: float) -> Optional[float]:
        return next((r.p50 for r in rows if (r.impl, r.op, r.size, r.workers, r.delay) == (impl, op, size, workers,
                                                                                           delay)), None)

    result = {}
    for r in rows:
        if r.delay != low or r.workers != 1 or r.op == "req":
            continue
        req_rows = [x for x in rows if x.impl == "bare" and x.op == "req"]
        req_low = next((x.p50 for x in req_rows if x.delay == low), None)
        req_high = next((x.p50 for x in req_rows if x.delay == high), None)
        mine_high = p50(r.impl, r.op, r.size, r.workers, high)
        if req_low is None or req_high is None or mine_high is None or req_high == req_low:
            continue
        result[(r.impl, r.op, r.size)] = (mine_high - r.p50) / (req_high - req_low)
    return result


def format_table(rows: Sequence[BenchRow]) -> str:
    """One table per injected delay: implementation, op, size x count, workers, MB/s, ops/s,
    latency per op (p50/p99 ms, sequential rows), process CPU per op (ms), peak RSS, and for client
    rows the ratio to the ceiling and to the floor of the same op and size; then the client's CPU
    per op against the bare urllib3 reference and, over several delays, the round trips per op.
    Repeated runs are reduced to their median first (:func:`median_rows`)."""
    rows = median_rows(rows)
    refs: Dict[Tuple[float, str, str, int], BenchRow] = {
        (r.delay, r.impl, r.op, r.size): r for r in rows if r.impl not in ("client", "bare")}
    header = f"{'impl':8} {'op':11} {'object':>10} {'count':>5} {'workers':>7} {'MB/s':>8} {'ops/s':>8} " \
             f"{'p50 ms':>7} {'p99 ms':>7} {'CPU/op ms':>9} {'peak RSS':>10} {'/ceiling':>8} {'/floor':>7}"
    lines: List[str] = []
    delays = list(dict.fromkeys(r.delay for r in rows))
    for delay in delays:
        if len(delays) > 1 or delay:
            lines += [""] if lines else []
            lines += [f"injected one-way delay: {delay * 1e3:g} ms each direction "
                      f"(userspace TCP proxy between the client and the router)"]
        lines += [header, "-" * len(header)]
        for r in rows:
            if r.delay != delay:
                continue
            ref_op = {"put_file": "put", "get_to_file": "get"}.get(r.op, r.op)
            ceiling = refs.get((delay, "ceiling", ref_op, r.size))
            floor = refs.get((delay, "floor", ref_op, r.size))
            c = f"{r.mb_per_s / ceiling.mb_per_s:.2f}" if ceiling and r.impl == "client" and ceiling.mb_per_s else ""
            f = f"{r.mb_per_s / floor.mb_per_s:.2f}" if floor and r.impl == "client" and floor.mb_per_s else ""
            throughput = f"{r.mb_per_s:>8.1f} {r.ops_per_s:>8.1f}" if r.seconds else f"{'':>8} {'':>8}"
            cpu = f"{r.cpu_per_op * 1e3:.3f}" if r.cpu else ""
            rss = format_size(r.peak_rss, binary=True) if r.peak_rss else ""
            lines.append(f"{r.impl:8} {r.op:11} {format_size(r.size, binary=True):>10} {r.count:>5} {r.workers:>7} "
                         f"{throughput} {_ms(r.p50):>7} {_ms(r.p99):>7} {cpu:>9} {rss:>10} {c:>8} {f:>7}")
        for (d, op, size), ratio in cpu_ratios(rows).items():
            if d == delay:
                lines.append(f"client CPU per {op} of {format_size(size, binary=True)} (1 worker) / bare urllib3 "
                             f"reference, same requests, same run: {ratio:.2f}x")
    trips = round_trips(rows)
    if trips:
        low, high = min(delays), max(delays)
        lines.append("")
        lines.append(f"round trips of latency per operation (slope of p50 between {low * 1e3:g} and {high * 1e3:g} ms "
                     f"one-way delay / slope of one bare request):")
        for (impl, op, size), value in trips.items():
            lines.append(f"  {impl:8} {op:4} {format_size(size, binary=True):>10}: {value:.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    sys.exit(_file_ops_main(sys.argv[1:]))
