"""A small fault-injecting TCP proxy (threads + sockets) for the fault tests.

``FaultProxy(upstream_port)`` listens on a free 127.0.0.1 port and forwards every accepted
connection to ``127.0.0.1:upstream_port``. A :class:`Fault` decides, per connection, what goes
wrong:

* ``delay``: sleep ``delay`` seconds before forwarding each piece (both directions);
* ``stall_after``: forward ``after`` bytes server->client, then stop forwarding (the client hangs
  until its read timeout), keeping the sockets open;
* ``drop_after``: forward ``after`` bytes in ``direction`` (``"up"`` client->server or
  ``"down"`` server->client), then close both sockets cleanly (FIN) in the middle of a body;
* ``reset_after``: the same, but abort both sockets with RST (``SO_LINGER`` 0).

``proxy.policy`` is a callable ``(connection_index) -> Fault | None`` so a test can fault every
connection, every n-th one, or only the first few. ``proxy.close()`` stops the listener and every
forwarding thread (the proxy is also a context manager).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Callable, List, Optional

__all__ = ["Fault", "FaultProxy"]

PIECE = 16 << 10


class Fault:
    """What goes wrong on one connection (see the module docstring)."""

    def __init__(self, kind: str, *, after: int = 0, delay: float = 0.0, direction: str = "down") -> None:
        if kind not in ("delay", "stall_after", "drop_after", "reset_after"):
            raise ValueError(f"unknown fault {kind!r}")
        if direction not in ("up", "down"):
            raise ValueError(f"unknown direction {direction!r}")
        self.kind = kind
        self.after = after
        self.delay = delay
        self.direction = direction

    def __repr__(self) -> str:
        return f"Fault({self.kind!r}, after={self.after}, delay={self.delay}, direction={self.direction!r})"


Policy = Callable[[int], Optional[Fault]]


def _abort(sock: socket.socket) -> None:
    """Close with RST instead of FIN.

    ``close()`` alone does not release a socket another thread is blocked in ``recv`` on (so
    nothing would be sent at all); ``shutdown(SHUT_RD)`` wakes that reader without sending a FIN,
    and the final release then sends the RST that ``SO_LINGER`` 0 asks for.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Connection:
    """One proxied connection: two pump threads (up and down)."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, fault: Optional[Fault]) -> None:
        self.proxy = proxy
        self.client = client
        self.fault = fault
        self.upstream: Optional[socket.socket] = None
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._closed = False
        self.threads: List[threading.Thread] = []

    def start(self) -> None:
        try:
            self.upstream = socket.create_connection(("127.0.0.1", self.proxy.upstream_port), timeout=5)
            self.upstream.settimeout(None)
        except OSError:
            _abort(self.client)
            self.done.set()
            return
        for name, src, dst, direction in (("up", self.client, self.upstream, "up"),
                                          ("down", self.upstream, self.client, "down")):
            thread = threading.Thread(target=self._pump, args=(src, dst, direction),
                                      name=f"fault-proxy-{name}", daemon=True)
            self.threads.append(thread)
            thread.start()

    def close(self, reset: bool = False) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for sock in (self.client, self.upstream):
            if sock is not None:
                (_abort if reset else _close)(sock)
        self.done.set()

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str) -> None:
        fault = self.fault
        forwarded = 0
        try:
            while not self.proxy.closing.is_set():
                data = src.recv(PIECE)
                if not data:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
                if fault is not None and fault.kind == "delay" and fault.delay:
                    if self.proxy.closing.wait(fault.delay):
                        return
                if fault is not None and fault.kind != "delay" and fault.direction == direction \
                        and forwarded + len(data) > fault.after:
                    head = data[:max(0, fault.after - forwarded)]
                    if head:
                        dst.sendall(head)
                    forwarded += len(head)
                    self.proxy.faults_fired += 1
                    if fault.kind == "stall_after":
                        self.proxy.closing.wait()  # hold the sockets open; forward nothing more
                        return
                    self.close(reset=fault.kind == "reset_after")
                    return
                dst.sendall(data)
                forwarded += len(data)
                if direction == "up":
                    self.proxy.bytes_up += len(data)
                else:
                    self.proxy.bytes_down += len(data)
        except OSError:
            self.close()
        finally:
            if all(not t.is_alive() or t is threading.current_thread() for t in self.threads):
                self.close()


class FaultProxy:
    """A TCP proxy in front of ``127.0.0.1:upstream_port`` that injects faults per connection.

    Thread safety: set ``policy`` from the test thread; counters are approximate under load.
    """

    def __init__(self, upstream_port: int, policy: Optional[Policy] = None) -> None:
        self.upstream_port = upstream_port
        self.policy: Policy = policy or (lambda index: None)
        self.closing = threading.Event()
        self.connections = 0
        self.faults_fired = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self._conns: List[_Connection] = []
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept_loop, name="fault-proxy-accept", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """``127.0.0.1:port``."""
        return f"127.0.0.1:{self.port}"

    def _accept_loop(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            client.settimeout(None)
            with self._lock:
                index = self.connections
                self.connections += 1
            conn = _Connection(self, client, self.policy(index))
            with self._lock:
                self._conns = [c for c in self._conns if not c.done.is_set()]
                self._conns.append(conn)
            conn.start()

    def drop_all(self, reset: bool = False) -> None:
        """Close every open proxied connection now."""
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.close(reset=reset)

    def close(self) -> None:
        """Stop accepting, close every connection and join every thread."""
        self.closing.set()
        self._thread.join(5)
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.close()
        for conn in conns:
            for thread in conn.threads:
                thread.join(5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds passed; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
