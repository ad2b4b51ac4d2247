"""Slow clients cannot starve a VSS server (issue 11, item 4).

cheroot gives a worker thread to every connection that is sending a request. Before the fix a
router or peer had 32 workers and a 60 s per-read timeout, so 32 sockets sending one header line
every 2 s made ``/health`` hang. Now each server has 128 workers, a header deadline and a body
deadline (``ServerConfig.header_timeout``, ``body_grace``, ``min_body_rate``).

The bounds asserted are functional (``/health`` answers under a 2 s client timeout while the slow
sockets are open; a trickling client is cut by a polling deadline), not benchmarks.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any, Callable, Iterable, List
from urllib.parse import urlsplit

import pytest
import requests

from mictlanx_sync.client import Client
from mictlanx_sync.vss.server import Server, ServerConfig

pytestmark = pytest.mark.timeout(120)

SLOW = 64


class Trickler:
    """``count`` sockets per target, each sending a request line and then one header line every
    ``interval`` seconds (never finishing its headers), from one background thread."""

    def __init__(self, targets: Iterable[str], count: int, interval: float = 0.5) -> None:
        self.sockets: List[socket.socket] = []
        for url in targets:
            parts = urlsplit(url)
            for _ in range(count):
                sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                self.sockets.append(sock)
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(self._interval):
            n += 1
            for sock in self.sockets:
                try:
                    sock.sendall(b"X-Slow-%d: 1\r\n" % n)
                except OSError:
                    pass

    def still_open(self) -> int:
        """How many sockets the server has neither answered nor closed."""
        alive = 0
        for sock in self.sockets:
            sock.setblocking(False)
            try:
                data = sock.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
            else:
                if not data:
                    pass
            finally:
                sock.setblocking(True)
        return alive

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.sockets:
            sock.close()


def test_64_slow_connections_leave_health_and_puts_working(vss_factory: Callable[..., Any],
                                                           h: Any) -> None:
    vss = vss_factory(peers=1, rf=1)
    trickler = Trickler([vss.router_url, vss.peer_urls[0]], SLOW)
    try:
        time.sleep(0.6)  # one trickle round, so every slow socket has been handed to a worker
        for _ in range(3):
            for url in (vss.router_url, vss.peer_urls[0]):
                reply = requests.get(url + "/health", timeout=(2, 2))
                assert reply.status_code == 200, reply.text
        # The slow sockets were still open (sending headers, each holding a worker) meanwhile;
        # they are cut 10 s after their first byte (the header deadline).
        assert trickler.still_open() == 2 * SLOW
        data = os.urandom(300_000)
        with Client(vss.uri, chunk_size="100kb") as client:
            key = h.unique("slow")
            client.put("b1", key, data)
            assert bytes(client.get("b1", key).data) == data
    finally:
        trickler.close()


def _echo_length(environ: Any, start_response: Any) -> List[bytes]:
    body = environ["wsgi.input"]
    total = 0
    while True:
        piece = body.read(65536)
        if not piece:
            break
        total += len(piece)
    start_response("200 OK", [("Content-Length", str(len(str(total))))])
    return [str(total).encode()]


@pytest.fixture
def tight_server() -> Any:
    server = Server(_echo_length, ServerConfig(port=0, header_timeout=0.5, body_grace=0.5,
                                               min_body_rate=1000.0, timeout=5))
    server.start()
    yield server
    server.stop()


def _answered_or_closed(sock: socket.socket) -> Callable[[], bool]:
    def check() -> bool:
        sock.setblocking(False)
        try:
            sock.recv(1, socket.MSG_PEEK)
            return True  # data (a reply) or b"" (closed)
        except BlockingIOError:
            return False
        except OSError:
            return True
        finally:
            sock.setblocking(True)
    return check


def test_headers_trickled_forever_are_cut(tight_server: Any, h: Any) -> None:
    sock = socket.create_connection(("127.0.0.1", tight_server.port), timeout=5)
    stop = threading.Event()

    def trickle() -> None:
        n = 0
        while not stop.wait(0.1):
            n += 1
            try:
                sock.sendall(b"X-Slow-%d: 1\r\n" % n)
            except OSError:
                return

    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        assert h.wait_until(_answered_or_closed(sock), 15), "a header trickle held the connection"
    finally:
        stop.set()
        thread.join(5)
        sock.close()


def test_body_trickled_below_the_minimum_rate_is_cut(tight_server: Any, h: Any) -> None:
    sock = socket.create_connection(("127.0.0.1", tight_server.port), timeout=5)
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.1):
            try:
                sock.sendall(b"x" * 10)  # 100 B/s, below the 1000 B/s minimum
            except OSError:
                return

    sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        assert h.wait_until(_answered_or_closed(sock), 15), "a body trickle held the connection"
    finally:
        stop.set()
        thread.join(5)
        sock.close()


def test_a_fast_body_is_not_cut(tight_server: Any) -> None:
    """A body that keeps above the minimum rate is read whole, even past the grace period."""
    payload = b"y" * 2000

    def body() -> Iterable[bytes]:
        for _ in range(10):  # 2000 B per 0.1 s = 20 kB/s, above the 1000 B/s minimum, ~1 s total
            time.sleep(0.1)
            yield payload

    reply = requests.post(f"http://127.0.0.1:{tight_server.port}/", data=body(), timeout=10)
    assert reply.status_code == 200
    assert reply.text == str(len(payload) * 10)
