"""Fault-suite fixtures: real VSS processes on 127.0.0.1, killed, corrupted and proxied on purpose.

What ``mictlanx_sync.vss.serve`` offers is used as is (``kill_peer``, ``stop_peer``, ``start_peer``,
``start_router``). What it lacks is built here on top of it:

* :func:`kill_router` SIGKILLs the i-th router of a :class:`LocalVSS` (``serve`` has no public
  way to stop one router while the rest keep running);
* :func:`object_file` finds the data file of a stored ball on a peer's disk (to flip a byte);
* :class:`RequestLog`, a ``session_factory`` that records every HTTP reply per router, so a test
  can tell which router carried which request;
* ``proxy_factory``: the fault-injecting TCP proxy, :class:`mictlanx_sync._netproxy.NetProxy`
  (the same proxy the benchmark's ``--latency`` runs).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import tempfile
import threading
import time
import uuid
from types import SimpleNamespace
from typing import Any, Callable, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit

import pytest
import requests

from mictlanx_sync import _netproxy
from mictlanx_sync._http import make_session
from mictlanx_sync.config import RetryConfig
from mictlanx_sync.vss import LocalVSS, serve
from mictlanx_sync.vss.storage import object_name

proxy_module = _netproxy


# --------------------------------------------------------------------------------------- helpers
def unique(prefix: str = "f") -> str:
    """A fresh id that the sanitization rule leaves unchanged."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def uri_of(*hostports: str) -> str:
    """A ``mictlanx://`` URI naming ``host:port`` routers in order."""
    specs = ",".join(f"mictlanx-router-{i}@{hp}" for i, hp in enumerate(hostports))
    return f"mictlanx://{specs}/?protocol=http&api_version=4&http2=0"


def hostport(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def kill_router(vss: LocalVSS, index: int) -> None:
    """SIGKILL router ``index`` (0 is the one ``serve`` started, then ``start_router`` order)."""
    vss._routers[index].stop(signal.SIGKILL)  # noqa: SLF001 - serve() offers no public router kill


def object_file(data_dir: str, bucket_id: str, key: str) -> str:
    """Where a peer keeps the data of ``(bucket_id, key)`` (storage.py layout)."""
    name = object_name(bucket_id, key)
    return os.path.join(data_dir, "objects", name[:2], name)


def flip_byte(path: str, offset: int = 0) -> None:
    """XOR one byte of a file in place (same size, different content)."""
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        assert byte, f"{path} has no byte at {offset}"
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))
        handle.flush()
        os.fsync(handle.fileno())


def part_files(directory: str) -> List[str]:
    """Leftover temp files of FileSink (``.mictlanx-*.part``) under ``directory``."""
    found = []
    for root, _, files in os.walk(directory):
        found.extend(os.path.join(root, f) for f in files if f.endswith(".part"))
    return found


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds passed; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def stray_files(data_dir: str) -> List[str]:
    """Files under a peer data dir that are not part of the storage layout (never named after keys)."""
    import re

    allowed = re.compile(r"^(objects/[0-9a-f]{2}/[0-9a-f]{64}|tmp/[0-9a-f]{32}\.part|"
                         r"index\.sqlite3(-wal|-shm|-journal)?)$")
    stray = []
    for root, _, files in os.walk(data_dir):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), data_dir)
            if not allowed.match(rel):
                stray.append(rel)
    return stray


class RequestLog:
    """A ``session_factory`` whose sessions record ``(time, host:port, method, path, status)`` of
    every reply; used to see which router carried which request."""

    def __init__(self) -> None:
        self.entries: List[Tuple[float, str, str, str, int]] = []
        self._lock = threading.Lock()

    def __call__(self) -> requests.Session:
        session = make_session(retry=RetryConfig(total=0), pool_maxsize=32)

        def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            parts = urlsplit(response.url)
            with self._lock:
                self.entries.append((time.monotonic(), f"{parts.hostname}:{parts.port}",
                                     response.request.method or "", parts.path, response.status_code))

        session.hooks["response"].append(hook)
        return session

    def count(self, where: str, *, method: Optional[str] = None, contains: str = "", since: float = 0.0,
              ok: bool = True) -> int:
        with self._lock:
            return sum(1 for t, hp, m, p, s in self.entries
                       if hp == where and t >= since and (method is None or m == method) and contains in p
                       and (not ok or 200 <= s < 300))


# -------------------------------------------------------------------------------------- fixtures
@pytest.fixture
def vss_factory() -> Iterator[Callable[..., LocalVSS]]:
    """Start a fresh VSS per call (``serve`` kwargs); every one is stopped at teardown."""
    stack = contextlib.ExitStack()

    def start(**kwargs: Any) -> LocalVSS:
        kwargs.setdefault("startup_timeout", 30.0)
        return stack.enter_context(serve(**kwargs))

    with stack:
        yield start


@pytest.fixture
def proxy_factory() -> Iterator[Callable[..., Any]]:
    """Build fault proxies (``NetProxy(upstream_port, policy)``); all closed at teardown."""
    made: List[Any] = []

    def make(upstream_port: int, policy: Optional[Callable[[int], Any]] = None) -> Any:
        proxy = _netproxy.NetProxy(upstream_port, policy)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()


@pytest.fixture
def workdir() -> Iterator[str]:
    """A private temp directory (removed at teardown)."""
    with tempfile.TemporaryDirectory(prefix="mictlanx-faults-") as path:
        yield path


@pytest.fixture(scope="session")
def h() -> SimpleNamespace:
    """The helpers above as ``h.name``, for test modules (which cannot import conftest by name)."""
    return SimpleNamespace(**{name: globals()[name] for name in (
        "unique", "sha", "uri_of", "hostport", "kill_router", "object_file", "flip_byte", "part_files",
        "fd_count", "wait_until", "stray_files", "RequestLog", "proxy_module")})
