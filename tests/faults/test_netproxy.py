"""The network proxy itself (mictlanx_sync/_netproxy.py): bytes intact and in order, the delay
and the bandwidth cap really applied (lower bounds only: a link can never be faster than its
delay), half-closes forwarded, and the process form used by ``bench --latency``."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Iterator, Tuple

import pytest

from mictlanx_sync._netproxy import NetProxy, parse_duration, start_process

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def echo() -> Iterator[int]:
    """A TCP echo server on 127.0.0.1 (one thread per connection); yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    conn.shutdown(socket.SHUT_WR)
                    return
                conn.sendall(data)

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(5)
    listener.close()


def _roundtrip(port: int, payload: bytes) -> Tuple[bytes, float]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sender = threading.Thread(target=lambda: (sock.sendall(payload), sock.shutdown(socket.SHUT_WR)))
        sender.start()
        received = bytearray()
        while True:
            piece = sock.recv(1 << 20)
            if not piece:
                break
            received += piece
        sender.join()
        return bytes(received), time.monotonic() - started


def test_bytes_cross_intact_and_in_order_with_a_delay(echo: int) -> None:
    payload = os.urandom(3_000_000)
    with NetProxy(echo, delay=0.005) as proxy:
        received, _ = _roundtrip(proxy.port, payload)
        assert received == payload  # half-close forwarded both ways, nothing reordered
        assert proxy.bytes_up == proxy.bytes_down == len(payload)


def test_the_delay_applies_each_way(echo: int) -> None:
    with NetProxy(echo, delay=0.05) as proxy:
        received, seconds = _roundtrip(proxy.port, b"ping")
    assert received == b"ping"
    assert seconds >= 0.1  # one way up, one way down (a link can never beat its delay)


def test_the_bandwidth_cap_paces_the_bytes(echo: int) -> None:
    payload = os.urandom(200_000)
    with NetProxy(echo, bandwidth=1_000_000) as proxy:
        received, seconds = _roundtrip(proxy.port, payload)
    assert received == payload
    assert seconds >= 0.19  # 200 kB at 1 MB/s, each way, pipelined: at least 0.2 s


def test_the_process_form_listens_and_stops(echo: int) -> None:
    with start_process(("127.0.0.1", echo), delay=0.001) as proxy:
        received, _ = _roundtrip(proxy.port, b"hello")
        assert received == b"hello"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=2).close()


def test_parse_duration() -> None:
    assert parse_duration("2ms") == pytest.approx(0.002)
    assert parse_duration("0.5s") == 0.5
    assert parse_duration("150us") == pytest.approx(0.00015)
    assert parse_duration("0") == 0.0
    for bad in ("fast", "-1ms", ""):
        with pytest.raises(ValueError):
            parse_duration(bad)
