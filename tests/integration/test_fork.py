"""Fork safety (issue 12.1): a Client used before a fork works in the child; the parent is unaffected.

Each child is bounded (a wait with a timeout, then SIGKILL), so a hang fails the test quickly
instead of blocking the suite. Before the fix every child hung: the inherited pool counted its
(vanished) threads as idle, so a put waited forever for chunk tasks no thread would run.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Iterator

import pytest

from mictlanx_sync import Client
from mictlanx_sync.vss import LocalVSS
from mictlanx_sync.vss.serve import free_port

CHILD_LIMIT = 60.0  # seconds a child may take before it counts as hung


def _wait_child(pid: int, limit: float) -> int:
    """The child's exit status, or -1 after killing it when it ran past ``limit``."""
    stop = time.monotonic() + limit
    while time.monotonic() < stop:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return -1


def _use(client: Client, bucket: str, key: str, size: int = 600_000) -> None:
    """A multi-chunk put and get (the pool and several pooled sockets are used)."""
    data = os.urandom(size)
    client.put(bucket, key, data)
    assert client.get(bucket, key, use_cache=False).content == data


@pytest.fixture
def used_client(vss: LocalVSS, bucket: str) -> Iterator[Client]:
    with Client(vss.uri, chunk_size="64KB", max_workers=4) as client:
        _use(client, bucket, "before-fork")
        yield client


@pytest.mark.timeout(120)
def test_plain_fork_child_uses_the_client_and_parent_is_unaffected(used_client: Client, bucket: str) -> None:
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            _use(used_client, bucket, "in-child")
            code = 0
        finally:
            os._exit(code)
    # The parent keeps using its client while the child works.
    _use(used_client, bucket, "in-parent")
    assert _wait_child(pid, CHILD_LIMIT) == 0, "the forked child failed or hung"
    assert used_client.get(bucket, "in-child").content  # the child's put is really stored
    _use(used_client, bucket, "in-parent-after")


def _child_target(client: Client, bucket: str, queue: multiprocessing.Queue[str]) -> None:
    try:
        _use(client, bucket, "in-mp-child")
        queue.put("ok")
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        queue.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.timeout(120)
def test_multiprocessing_fork_context(used_client: Client, bucket: str) -> None:
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[str] = context.Queue()
    process = context.Process(target=_child_target, args=(used_client, bucket, queue))
    process.start()
    try:
        process.join(CHILD_LIMIT)
        hung = process.is_alive()
    finally:
        if process.is_alive():
            process.kill()
            process.join()
    assert not hung, "the multiprocessing child hung"
    assert queue.get(timeout=5) == "ok"
    _use(used_client, bucket, "after-mp")


# ----------------------------------------------------------------------------- gunicorn --preload
def _request(url: str, data: bytes = b"", method: str = "GET", timeout: float = 30.0) -> bytes:
    request = urllib.request.Request(url, data=data if method == "PUT" else None, method=method)
    with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310 - local test server
        return bytes(reply.read())


@pytest.fixture
def gunicorn_app(vss: LocalVSS, bucket: str, tmp_path: os.PathLike[str]) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ, MICTLANX_URI=vss.uri, FORK_APP_BUCKET=bucket)
    log = open(os.path.join(os.fspath(tmp_path), "gunicorn.log"), "wb")
    command = [sys.executable, "-m", "gunicorn", "--preload", "-w", "2", "--threads", "8",
               "--timeout", "60", "-b", f"127.0.0.1:{port}",
               "--chdir", os.path.dirname(__file__), "fork_app:app"]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        stop = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                log.flush()
                with open(log.name, "rb") as text:
                    pytest.fail(f"gunicorn exited: {text.read()[-2000:]!r}")
            try:
                if _request(base + "/ping", timeout=2) == b"ok":
                    break
            except OSError:
                pass
            if time.monotonic() > stop:
                pytest.fail("gunicorn did not answer /ping within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.mark.timeout(180)
def test_gunicorn_preload_workers_serve_concurrent_puts_and_gets(gunicorn_app: str) -> None:
    blobs = {f"w-{i}": os.urandom(150_000 + i * 7_001) for i in range(24)}  # 3+ chunks each

    def put(key: str) -> str:
        return _request(f"{gunicorn_app}/objects/{key}", blobs[key], method="PUT").decode()

    def get(key: str) -> bytes:
        return _request(f"{gunicorn_app}/objects/{key}")

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        checksums = dict(zip(blobs, pool.map(put, blobs)))
        assert checksums == {key: hashlib.sha256(data).hexdigest() for key, data in blobs.items()}
        got = dict(zip(blobs, pool.map(get, blobs)))
        pids = set(pool.map(lambda _: _request(f"{gunicorn_app}/pid"), range(32)))
    assert got == blobs
    assert _request(f"{gunicorn_app}/objects/preload")  # the object the master stored before forking
    assert len(pids) >= 1
