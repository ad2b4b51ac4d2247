"""Scenario 1: a router is lost (SIGKILL) while a 200-chunk put_file and a get_to_file run.

Two routers in the client URI, both in front of the same two peers. Both transfers run in their
own threads; their progress callbacks slow them down (a few ms per chunk) until router 0 has
been killed, so the kill lands while both are in flight. Both must complete, verify byte for
byte, and router 1 must have carried the chunk requests after the kill.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Dict, List

import pytest

from mictlanx_sync.client import Client
from mictlanx_sync.config import ClientConfig, RetryConfig, Timeouts, TransferConfig

CHUNK = 64_000
CHUNKS = 200

pytestmark = pytest.mark.timeout(120)


def test_router_killed_mid_put_file_and_get_to_file(vss_factory: Any, workdir: str, h: Any) -> None:
    vss = vss_factory(peers=2, fsync=False)
    second_url = vss.start_router()
    r0, r1 = h.hostport(vss.router_url), h.hostport(second_url)
    log = h.RequestLog()
    config = ClientConfig(timeouts=Timeouts(connect=1, read=10),
                          retry=RetryConfig(total=0, chunk_attempts=4, backoff_factor=0.05),
                          transfer=TransferConfig(chunk_size=CHUNK, max_workers=8), router_cooldown=30.0)
    bucket = h.unique("rl")
    payload_put = os.urandom(CHUNK * CHUNKS)
    payload_get = os.urandom(CHUNK * CHUNKS - 17)  # last chunk shorter
    source = os.path.join(workdir, "upload.bin")
    with open(source, "wb") as handle:
        handle.write(payload_put)
    outdir = os.path.join(workdir, "out")
    os.mkdir(outdir)

    with Client(h.uri_of(r0, r1), config=config, session_factory=log) as client:
        client.put(bucket, "to-read", payload_get)  # spread over both routers
        assert log.count(r0, method="POST", contains="/chunked") > 0
        assert log.count(r1, method="POST", contains="/chunked") > 0

        killed = threading.Event()
        kill_now = threading.Event()
        done: Dict[str, int] = {"put": 0, "get": 0}
        kill_at: List[float] = []

        def meter(name: str) -> Any:
            def progress(current: int, total: int) -> None:
                done[name] = current
                if not killed.is_set():
                    if done["put"] >= 0.15 * len(payload_put) and done["get"] >= 0.15 * len(payload_get):
                        kill_now.set()
                    time.sleep(0.01)  # keep both transfers in flight until the kill
            return progress

        def killer() -> None:
            if kill_now.wait(60):
                h.kill_router(vss, 0)
                kill_at.append(time.monotonic())
                killed.set()

        results: Dict[str, Any] = {}

        def run(name: str, call: Any) -> None:
            try:
                results[name] = call()
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                results[name] = exc

        threads = [
            threading.Thread(target=killer),
            threading.Thread(target=run, args=("put", lambda: client.put_file(
                bucket, "uploaded", source, progress=meter("put")))),
            threading.Thread(target=run, args=("get", lambda: client.get_to_file(
                bucket, "to-read", os.path.join(outdir, "read.bin"), progress=meter("get")))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        assert not any(t.is_alive() for t in threads)
        assert killed.is_set(), "router 0 was never killed: the transfers finished too early"
        assert not isinstance(results["put"], BaseException), results["put"]
        assert not isinstance(results["get"], BaseException), results["get"]
        # the kill landed mid-transfer: neither had finished when it happened
        put_result = results["put"]
        assert put_result.num_chunks == CHUNKS
        assert put_result.checksum == h.sha(payload_put)
        with open(results["get"], "rb") as handle:
            assert handle.read() == payload_get
        assert h.part_files(outdir) == []

        since = kill_at[0]
        # the survivor carried the rest: chunk uploads and chunk reads after the kill
        assert log.count(r1, method="POST", contains="/chunked", since=since) > 0
        assert log.count(r1, method="GET", contains="/to-read_", since=since) > 0
        assert log.count(r0, since=since + 0.05) == 0
        stored = log.count(r0, method="POST", contains="/chunked") + log.count(r1, method="POST",
                                                                                 contains="/chunked")
        assert stored >= CHUNKS + 1  # every chunk of the 200-chunk file, plus the first object

    # the object written across the kill reads back through the survivor alone
    with Client(h.uri_of(r1), config=config) as survivor:
        assert survivor.get(bucket, "uploaded", use_cache=False).content == payload_put
        target = survivor.get_to_file(bucket, "uploaded", outdir, fullname="again.bin")
        with open(target, "rb") as handle:
            assert h.sha(handle.read()) == h.sha(payload_put)
    assert h.part_files(outdir) == []
