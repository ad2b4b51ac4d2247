"""Scenario 7: load. 16 threads share one Client for 2,000 mixed operations on overlapping keys.

Workload: 24 keys, each with 3 possible versions (1-50 KB, ``chunk_size="16kb"`` so most are
multi-chunk); every thread draws ``put`` (a random version), ``get``, ``delete`` or ``list`` on a
random key. Puts, deletes and reads of one key race freely across threads.

What is expected, precisely (the allowed outcomes; anything else fails the test):

* ``get``: the bytes of one of the versions ever written for that key (sha256 checked against
  every version whose put was *started*), or ``NotFoundError`` (never written, deleted, or deleted
  while being read). A get that meets an object whose chunks belong to different, racing writes
  (a put overlapping a delete or another put of the same key) must not return bytes: it raises
  ``IntegrityError`` and that is counted separately as "torn", never as a corrupt read.
* ``put``: succeeds, or ``AlreadyExistsError`` (also its subclass ``MaxAvailabilityReachedError``):
  a chunk of the key is still stored with different content because another version's put has not
  been deleted yet (re-put with different content before the delete landed).
* ``delete``: returns a count (0 when absent), even when a concurrent delete removes the chunks
  under it (``test_consistency.py::test_delete_when_the_chunks_vanish_meanwhile``).
* ``list`` (``get_bucket_metadata``): never raises; objects being written or deleted are skipped.

A put refused half-way removes the chunks it stored and writes chunk 0 last, so an incomplete
object reads as absent; but a delete racing a put can still remove some of the put's chunks before
its chunk 0 lands, so after the run (no writer left) a key reads back as one whole version,
``NotFoundError``, or ``IntegrityError`` (torn by that race, tallied; never other bytes). Then ``delete`` must
clean every key (absent, not listed); no threads and no file descriptors leaked after close().
"""

from __future__ import annotations

import collections
import gc
import hashlib
import random
import threading
import time
from typing import Any, Dict, List, Set

import pytest

from mictlanx_sync import (
    AlreadyExistsError,
    IntegrityError,
    MictlanXError,
    NotFoundError,
)
from mictlanx_sync.client import Client
from mictlanx_sync.config import ClientConfig, RetryConfig, Timeouts, TransferConfig

pytestmark = pytest.mark.timeout(180)

THREADS = 16
OPS = 2000
KEYS = [f"key-{i}" for i in range(24)]
VERSIONS = 3


def _content(key: str, version: int) -> bytes:
    rng = random.Random(f"{key}/{version}")
    return rng.randbytes(rng.randint(1_000, 50_000))


def test_sixteen_threads_two_thousand_ops(vss_factory: Any, h: Any) -> None:
    vss = vss_factory(peers=2, fsync=False)
    bucket = h.unique("ld")
    contents = {(k, v): _content(k, v) for k in KEYS for v in range(VERSIONS)}
    digests = {kv: hashlib.sha256(data).hexdigest() for kv, data in contents.items()}
    started: Dict[str, Set[str]] = collections.defaultdict(set)  # key -> sha256 of versions put
    started_lock = threading.Lock()
    outcomes: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    unexpected: List[str] = []
    corrupt: List[str] = []
    lock = threading.Lock()

    gc.collect()
    threads_before = threading.active_count()
    fds_before = h.fd_count()
    config = ClientConfig(timeouts=Timeouts(connect=2, read=20),
                          retry=RetryConfig(total=1, chunk_attempts=3, backoff_factor=0.02),
                          transfer=TransferConfig(chunk_size="16kb", max_workers=8))
    client = Client(vss.uri, config=config, capacity_storage="4MB")
    plan = random.Random(7)
    ops = [(plan.choice(["get", "get", "put", "put", "delete", "list"]), plan.choice(KEYS),
            plan.randrange(VERSIONS)) for _ in range(OPS)]
    queue = collections.deque(ops)
    queue_lock = threading.Lock()

    def note(op: str, what: str) -> None:
        with lock:
            outcomes[op][what] += 1

    def worker() -> None:
        while True:
            with queue_lock:
                if not queue:
                    return
                op, key, version = queue.popleft()
            try:
                if op == "put":
                    with started_lock:
                        started[key].add(digests[(key, version)])
                    client.put(bucket, key, contents[(key, version)])
                elif op == "get":
                    data = client.get(bucket, key).content
                    digest = hashlib.sha256(data).hexdigest()
                    with started_lock:
                        known = digest in started[key]
                    if not known:
                        with lock:
                            corrupt.append(f"get {key}: {len(data)} bytes, sha256 {digest} never written")
                elif op == "delete":
                    assert client.delete(bucket, key) >= 0
                else:
                    client.get_bucket_metadata(bucket)
                note(op, "ok")
            except NotFoundError:
                note(op, "NotFoundError")
                if op != "get":
                    with lock:
                        unexpected.append(f"{op} {key}: NotFoundError")
            except AlreadyExistsError as exc:
                note(op, type(exc).__name__)
                if op != "put":
                    with lock:
                        unexpected.append(f"{op} {key}: {exc!r}")
            except IntegrityError as exc:
                note(op, "IntegrityError(torn)")
                if op != "get":
                    with lock:
                        unexpected.append(f"{op} {key}: {exc!r}")
            except MictlanXError as exc:
                note(op, type(exc).__name__)
                with lock:
                    unexpected.append(f"{op} {key}: {exc!r}")

    began = time.monotonic()
    workers = [threading.Thread(target=worker, name=f"load-{i}") for i in range(THREADS)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(150)
    assert not any(t.is_alive() for t in workers)
    elapsed = time.monotonic() - began
    summary = {op: dict(c) for op, c in outcomes.items()}
    print(f"\n{OPS} ops in {elapsed:.1f}s: {summary}")
    assert sum(sum(c.values()) for c in outcomes.values()) == OPS
    assert corrupt == [], corrupt[:5]
    assert unexpected == [], unexpected[:10]
    assert outcomes["get"]["ok"] > 0 and outcomes["put"]["ok"] > 0 and outcomes["list"]["ok"] > 0

    # quiescent: each key is one whole version, absent, or torn (never other bytes); delete cleans all
    final: collections.Counter = collections.Counter()
    for key in KEYS:
        try:
            data = client.get(bucket, key, use_cache=False).content
            assert hashlib.sha256(data).hexdigest() in started[key], f"{key}: corrupt read after the run"
            final["whole version"] += 1
        except NotFoundError:
            final["absent"] += 1
        except IntegrityError:
            final["torn"] += 1
        assert client.delete(bucket, key) >= 0
        assert not client.exists(bucket, key)
        with pytest.raises(NotFoundError):
            client.get(bucket, key, use_cache=False)
    assert client.get_bucket_metadata(bucket) == []
    print(f"after the run: {dict(final)}")
    client.close()

    gc.collect()
    assert h.wait_until(lambda: threading.active_count() <= threads_before, 5), \
        [t.name for t in threading.enumerate()]
    assert h.wait_until(lambda: h.fd_count() <= fds_before, 5), (fds_before, h.fd_count())
