"""A userspace TCP proxy that simulates a link (one-way delay, bandwidth cap) and injects faults.

One proxy serves two users: the benchmark (``--latency``: a link with latency between the client
and a router, run as a separate process so its CPU is not counted as the client's) and the fault
suite (``tests/faults``: stalls, FIN and RST in the middle of a body, per connection).

``NetProxy(upstream)`` listens on a free 127.0.0.1 port and forwards every accepted connection to
``upstream`` (a port on 127.0.0.1, or ``(host, port)``). One thread runs every connection through a
selector:

* **delay**: each piece read from one side is released to the other ``delay`` seconds after it
  arrived (a one-way delay per direction, so a request/reply costs ``2 * delay`` more); pieces
  in flight do not wait for each other, as on a real link. The timer has the resolution of
  ``epoll`` (1 ms, rounded up), so a piece may leave up to 1 ms late.
* **bandwidth** (bytes per second, per direction and connection): pieces leave no faster than
  that rate, after their delay.
* a :class:`Fault` per connection, chosen by ``policy(connection_index)``:

  - ``delay``: ``delay`` more seconds each way on that connection;
  - ``stall_after``: forward ``after`` bytes in ``direction``, then nothing more that way,
    keeping the sockets open (the reader hangs until its timeout);
  - ``drop_after``: forward ``after`` bytes in ``direction`` (``"up"`` client to server,
    ``"down"`` server to client), then close both sockets (FIN) in the middle of a body;
  - ``reset_after``: the same, but abort both sockets with RST (``SO_LINGER`` 0).

A connection's TCP handshake is not delayed (the kernel accepts it); pooled HTTP clients pay it
once per connection. The upstream connection is opened when a client connects.

Run it as a process with ``python -m mictlanx_sync._netproxy --upstream HOST:PORT --delay 2ms``:
it prints ``listening 127.0.0.1:PORT`` on one line and serves until its stdin closes or it is
terminated. :func:`start_process` does that and hands back the port.
"""

from __future__ import annotations

import argparse
import collections
import heapq
import os
import selectors
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import IO, Callable, Deque, List, Optional, Sequence, Tuple, Union

__all__ = ["Fault", "NetProxy", "ProxyProcess", "start_process", "parse_duration", "main"]

PIECE = 256 << 10
# Bytes queued in one direction before the proxy stops reading that side (TCP backpressure):
# enough for 2 GB/s x 20 ms of delay, bounded so a stalled reader cannot grow memory forever.
QUEUE_LIMIT = 32 << 20
_EOF = b""

Upstream = Union[int, Tuple[str, int]]


class Fault:
    """What goes wrong on one connection (see the module docstring).

    Args:
        kind: ``"delay"``, ``"stall_after"``, ``"drop_after"`` or ``"reset_after"``.
        after: bytes forwarded in ``direction`` before the fault fires.
        delay: extra one-way seconds (``kind="delay"``).
        direction: ``"up"`` (client to server) or ``"down"`` (server to client).
    """

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


def parse_duration(text: str) -> float:
    """``"2ms"``, ``"20 ms"``, ``"0.5s"``, ``"150us"`` or a bare number of seconds -> seconds.

    Raises:
        ValueError: not a duration, or negative.
    """
    value = text.strip().lower()
    for suffix, scale in (("us", 1e-6), ("ms", 1e-3), ("s", 1.0)):
        if value.endswith(suffix):
            value, factor = value[:-len(suffix)].strip(), scale
            break
    else:
        factor = 1.0
    try:
        seconds = float(value) * factor
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (use e.g. 2ms, 0.5s)") from None
    if seconds < 0 or seconds != seconds:
        raise ValueError(f"a duration must be >= 0, got {text!r}")
    return seconds


def _abort(sock: socket.socket) -> None:
    """Close with RST instead of FIN (``SO_LINGER`` 0)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
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


class _Direction:
    """One way of one connection: pieces read from ``src``, waiting for their release time, then
    written to ``dst``."""

    def __init__(self, name: str, src: socket.socket, dst: socket.socket, delay: float,
                 fault: Optional[Fault]) -> None:
        self.name = name
        self.src = src
        self.dst = dst
        self.delay = delay
        self.fault = fault if fault is not None and fault.kind != "delay" and fault.direction == name else None
        self.queue: Deque[Tuple[float, bytes]] = collections.deque()
        self.queued = 0
        self.pending = memoryview(b"")  # the part of the head piece the socket has not taken yet
        self.next_free = 0.0  # bandwidth: when the link is free again
        self.forwarded = 0
        self.reading = True  # src is registered for reading
        self.eof_read = False
        self.finished = False  # EOF forwarded (dst shut down for writing), or stalled
        self.fire_after_pending = ""  # a fault to fire once ``pending`` is written


class _Connection:
    """One proxied connection: two directions over two sockets."""

    def __init__(self, proxy: NetProxy, client: socket.socket, upstream: socket.socket,
                 fault: Optional[Fault]) -> None:
        delay = proxy.delay + (fault.delay if fault is not None and fault.kind == "delay" else 0.0)
        self.client = client
        self.upstream = upstream
        self.up = _Direction("up", client, upstream, delay, fault)
        self.down = _Direction("down", upstream, client, delay, fault)
        self.closed = False


class NetProxy:
    """A TCP proxy in front of ``upstream`` that delays, throttles and breaks connections.

    Thread safety: one thread serves every connection; ``policy`` may be replaced and
    ``drop_all``/``close`` called from other threads. Counters are read without a lock.

    Args:
        upstream: a port on 127.0.0.1, or ``(host, port)``.
        policy: ``(connection_index) -> Fault | None``, asked once per accepted connection.
        delay: one-way delay in seconds, each direction.
        bandwidth: bytes per second per direction and connection (None: unlimited).
        host: the address to listen on.
        port: the port to listen on (0: a free one).
    """

    def __init__(self, upstream: Upstream, policy: Optional[Policy] = None, *, delay: float = 0.0,
                 bandwidth: Optional[float] = None, host: str = "127.0.0.1", port: int = 0) -> None:
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay!r}")
        if bandwidth is not None and bandwidth <= 0:
            raise ValueError(f"bandwidth must be > 0 bytes/s, got {bandwidth!r}")
        self.upstream: Tuple[str, int] = ("127.0.0.1", upstream) if isinstance(upstream, int) else upstream
        self.policy: Policy = policy or (lambda index: None)
        self.delay = float(delay)
        self.bandwidth = bandwidth
        self.closing = threading.Event()
        self.connections = 0
        self.faults_fired = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self._lock = threading.Lock()
        self._commands: List[Callable[[], None]] = []
        self._conns: List[_Connection] = []
        self._selector = selectors.DefaultSelector()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(256)
        self._listener.setblocking(False)
        self.port = int(self._listener.getsockname()[1])
        self._host = host
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._timers: List[Tuple[float, int, _Direction, _Connection]] = []
        self._timer_seq = 0
        self._thread = threading.Thread(target=self._loop, name="netproxy", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """``host:port`` to connect to."""
        return f"{self._host}:{self.port}"

    # ------------------------------------------------------------------------------- control
    def _call(self, command: Callable[[], None]) -> None:
        with self._lock:
            self._commands.append(command)
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def drop_all(self, reset: bool = False) -> None:
        """Close every open proxied connection now (RST with ``reset``)."""
        if self.closing.is_set():
            return
        done = threading.Event()

        def drop() -> None:
            for conn in list(self._conns):
                self._close_conn(conn, reset=reset)
            done.set()

        self._call(drop)
        done.wait(5)

    def close(self) -> None:
        """Stop accepting, close every connection and join the thread. Idempotent."""
        if self.closing.is_set():
            return
        self.closing.set()
        self._call(lambda: None)
        self._thread.join(5)
        for conn in list(self._conns):
            self._close_conn(conn, reset=False)
        for sock in (self._listener, self._wake_r, self._wake_w):
            try:
                sock.close()
            except OSError:
                pass
        self._selector.close()

    def __enter__(self) -> NetProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------- loop
    def _loop(self) -> None:
        try:
            while not self.closing.is_set():
                timeout = None
                if self._timers:
                    timeout = max(0.0, self._timers[0][0] - time.monotonic())
                for selector_key, mask in self._selector.select(timeout):
                    data = selector_key.data
                    if selector_key.fileobj is self._listener:
                        self._accept()
                    elif selector_key.fileobj is self._wake_r:
                        self._drain_commands()
                    else:
                        conn, readers, writers = data
                        if conn.closed:
                            continue
                        if mask & selectors.EVENT_READ:
                            for direction in readers:
                                self._read(conn, direction)
                        if mask & selectors.EVENT_WRITE and not conn.closed:
                            for direction in writers:
                                self._flush(conn, direction)
                self._run_timers()
        except Exception:  # noqa: BLE001 - a proxy bug must not hang its users: close everything
            for conn in list(self._conns):
                self._close_conn(conn, reset=True)
            raise

    def _drain_commands(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        with self._lock:
            commands, self._commands = self._commands, []
        for command in commands:
            command()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            index = self.connections
            self.connections += 1
            fault = self.policy(index)
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _abort(client)
                continue
            for sock in (client, upstream):
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(self, client, upstream, fault)
            self._conns.append(conn)
            self._update(conn)

    def _update(self, conn: _Connection) -> None:
        """(Re)register both sockets for the events their directions wait for."""
        if conn.closed:
            return
        for sock in (conn.client, conn.upstream):
            readers = [d for d in (conn.up, conn.down) if d.src is sock and d.reading and not d.eof_read]
            writers = [d for d in (conn.up, conn.down) if d.dst is sock and len(d.pending)]
            mask = (selectors.EVENT_READ if readers else 0) | (selectors.EVENT_WRITE if writers else 0)
            try:
                registered = self._selector.get_key(sock)
            except KeyError:
                registered = None
            if mask == 0:
                if registered is not None:
                    self._selector.unregister(sock)
            elif registered is None:
                self._selector.register(sock, mask, (conn, readers, writers))
            else:
                self._selector.modify(sock, mask, (conn, readers, writers))

    def _read(self, conn: _Connection, d: _Direction) -> None:
        try:
            data = d.src.recv(PIECE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close_conn(conn, reset=True)
            return
        now = time.monotonic()
        if not data:
            d.eof_read = True
        if d.finished:  # stalled: swallow what arrives
            self._update(conn)
            return
        d.queue.append((now + d.delay, data))
        d.queued += len(data)
        if d.queued >= QUEUE_LIMIT:
            d.reading = False
        self._schedule(conn, d, now + d.delay)
        if not data or not d.reading:
            self._update(conn)

    def _schedule(self, conn: _Connection, d: _Direction, when: float) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (when, self._timer_seq, d, conn))

    def _run_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, d, conn = heapq.heappop(self._timers)
            if not conn.closed:
                self._flush(conn, d)

    def _flush(self, conn: _Connection, d: _Direction) -> None:
        """Write what is due in direction ``d``: the rest of the head piece, then queued pieces
        whose release time has come (and whose bandwidth slot has come)."""
        was_pending = len(d.pending) > 0
        while not conn.closed and not d.finished:
            if not len(d.pending):
                if d.fire_after_pending:
                    self._fire(conn, d, d.fire_after_pending)
                    return
                if not d.queue:
                    break
                due, data = d.queue[0]
                now = time.monotonic()
                start = max(due, d.next_free) if self.bandwidth else due
                if start > now + 0.0002:
                    self._schedule(conn, d, start)
                    break
                d.queue.popleft()
                d.queued -= len(data)
                if not data:  # EOF
                    try:
                        d.dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    d.finished = True
                    if conn.up.finished and conn.down.finished and conn.up.eof_read and conn.down.eof_read:
                        self._close_conn(conn, reset=False)
                        return
                    break
                if d.fault is not None and d.forwarded + len(data) > d.fault.after:
                    data = data[:max(0, d.fault.after - d.forwarded)]
                    d.fire_after_pending = d.fault.kind
                if self.bandwidth:
                    d.next_free = max(start, now) + len(data) / self.bandwidth
                d.pending = memoryview(data)
                if not d.reading and d.queued < QUEUE_LIMIT // 2 and not d.eof_read:
                    d.reading = True
                    self._update(conn)
            try:
                sent = d.dst.send(d.pending)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._close_conn(conn, reset=True)
                return
            d.forwarded += sent
            if d.name == "up":
                self.bytes_up += sent
            else:
                self.bytes_down += sent
            d.pending = d.pending[sent:]
            if len(d.pending):
                break  # the socket is full: wait until it is writable
        if (len(d.pending) > 0) != was_pending:
            self._update(conn)

    def _fire(self, conn: _Connection, d: _Direction, kind: str) -> None:
        d.fire_after_pending = ""
        self.faults_fired += 1
        if kind == "stall_after":
            d.finished = True  # forward nothing more this way; keep the sockets open
            d.queue.clear()
            d.queued = 0
            d.reading = True  # keep reading (and discarding) so the sender is not blocked
            self._update(conn)
            return
        self._close_conn(conn, reset=kind == "reset_after")

    def _close_conn(self, conn: _Connection, reset: bool) -> None:
        if conn.closed:
            return
        conn.closed = True
        for sock in (conn.client, conn.upstream):
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError, OSError):
                pass
            (_abort if reset else _close)(sock)
        try:
            self._conns.remove(conn)
        except ValueError:
            pass


# ------------------------------------------------------------------------------------ process
class ProxyProcess:
    """A :class:`NetProxy` running in a child process (its CPU is not this process's).

    Use :func:`start_process`; ``close()`` (or leaving the ``with`` block) stops it.
    """

    def __init__(self, proc: subprocess.Popen[str], host: str, port: int) -> None:
        self._proc = proc
        self.host = host
        self.port = port

    @property
    def address(self) -> str:
        """``host:port`` to connect to."""
        return f"{self.host}:{self.port}"

    def close(self) -> None:
        """Stop the child process and wait for it. Idempotent."""
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.close()
            except OSError:
                pass
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> ProxyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_process(upstream: Tuple[str, int], *, delay: float = 0.0,
                  bandwidth: Optional[float] = None) -> ProxyProcess:
    """Start this proxy as a process in front of ``upstream``; return once it listens.

    Raises:
        RuntimeError: the process did not start listening.
    """
    # Run as a script: this file needs only the standard library, and importing the package
    # (requests and all) would cost seconds of start-up on a busy machine.
    args = [sys.executable, os.path.abspath(__file__), "--upstream", f"{upstream[0]}:{upstream[1]}",
            "--delay", repr(delay)]
    if bandwidth is not None:
        args += ["--bandwidth", repr(bandwidth)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening "):
        proc.kill()
        proc.wait(5)
        raise RuntimeError(f"network proxy did not start (exit {proc.returncode}): {line!r}")
    host, _, port = line.split(" ", 1)[1].rpartition(":")
    return ProxyProcess(proc, host, int(port))


def _wait_for_eof(stream: IO[str]) -> None:
    try:
        while stream.read(4096):
            pass
    except (OSError, ValueError):
        pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Serve a proxy until stdin closes (or SIGTERM); prints ``listening HOST:PORT`` first."""
    parser = argparse.ArgumentParser(prog="python -m mictlanx_sync._netproxy",
                                     description="a TCP proxy with one-way delay and a bandwidth cap")
    parser.add_argument("--upstream", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--delay", type=parse_duration, default=0.0, help="one-way delay (2ms, 0.02s)")
    parser.add_argument("--bandwidth", type=float, default=None, help="bytes per second per direction")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    proxy = NetProxy((host or "127.0.0.1", int(port)), delay=args.delay, bandwidth=args.bandwidth, port=args.port)
    sys.stdout.write(f"listening {proxy.address}\n")
    sys.stdout.flush()
    try:
        _wait_for_eof(sys.stdin)
    except KeyboardInterrupt:
        pass
    finally:
        proxy.close()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
