"""Run a WSGI app with cheroot, tuned for large streamed bodies and hardened against slow clients.

cheroot streams request bodies to the app as they arrive (``wsgi.input``, chunked bodies included).
Its socket writer is pure Python (``_pyio``) and copies every piece several times, so our gateway
writes response pieces with ``socket.sendall`` and serves ``wsgi.file_wrapper`` bodies with
``socket.sendfile`` (zero copy).

Slow clients cannot starve the server: cheroot gives each connection that is sending a request a
worker thread, so a client trickling its headers or body would hold one for as long as it likes
(the socket timeout only bounds the gap between two bytes). Here a watchdog thread cuts the read
side of a connection that has not sent its whole header block within ``header_timeout`` seconds,
or whose body falls behind ``min_body_rate`` bytes/s after a ``body_grace`` of seconds; the pool
has enough threads (``numthreads``) that a few dozen such clients leave room for everyone else.

Example:
    >>> from mictlanx_sync.vss._wsgi import App
    >>> server = Server(App([], max_body_size=0), ServerConfig(port=0))
    >>> server.start(); server.port > 0
    True
    >>> server.stop()
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from types import FrameType
from typing import Any, BinaryIO, Callable, Dict, Iterator, Optional

import attrs
from cheroot import wsgi
from cheroot.server import ChunkedRFile, HTTPConnection, HTTPRequest, KnownLengthRFile

from ._wsgi import WSGIApp

__all__ = ["ServerConfig", "Server", "FileWrapper", "run_until_signalled"]

_LOG = logging.getLogger("mictlanx_sync.vss.server")


@attrs.frozen(kw_only=True)
class ServerConfig:
    """Where and how to listen.

    Attributes:
        host: the bind address (loopback unless told otherwise).
        port: the TCP port; 0 picks a free one.
        numthreads: worker threads (requests served at once; a connection sending its request
            holds one, so this is also how many slow senders fit before others wait).
        request_queue_size: the listen backlog.
        timeout: seconds a connection may stay silent (one socket read or write; also how long
            an idle keep-alive connection is kept).
        shutdown_timeout: seconds to wait for workers at shutdown.
        header_timeout: seconds from the first byte of a request to the end of its headers.
        body_grace: seconds a request body may take before ``min_body_rate`` applies.
        min_body_rate: bytes/s a request body must average after ``body_grace``; a body of n
            bytes gets ``body_grace + n / min_body_rate`` seconds.
    """

    host: str = "127.0.0.1"
    port: int = 0
    numthreads: int = 128
    request_queue_size: int = 256
    timeout: float = 10.0
    shutdown_timeout: float = 5.0
    header_timeout: float = 10.0
    body_grace: float = 30.0
    min_body_rate: float = 64 * 1024.0


class _Watchdog:
    """Cuts the read side of connections whose deadline passed (one thread per server).

    Cutting (``shutdown(SHUT_RD)``) wakes the worker blocked in ``recv`` with end-of-file, so it
    answers (or closes) and moves on; the write side stays usable for an error reply.

    Thread safety: every method is thread-safe.
    """

    def __init__(self) -> None:
        self._deadlines: Dict[socket.socket, float] = {}
        self._cond = threading.Condition()
        self._stopped = False
        self._wake_at = float("inf")  # when the thread wakes next (it is told of earlier deadlines)
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Start the watchdog thread."""
        self._thread = threading.Thread(target=self._run, name="vss-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the watchdog thread."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(5)

    def arm(self, sock: socket.socket, deadline: float) -> None:
        """Cut ``sock`` at ``deadline`` (``time.monotonic()``) unless disarmed before."""
        with self._cond:  # O(1): called on every piece of a request body
            self._deadlines[sock] = deadline
            if deadline < self._wake_at:
                self._wake_at = deadline
                self._cond.notify()

    def disarm(self, sock: socket.socket) -> None:
        """Forget ``sock``'s deadline."""
        with self._cond:
            self._deadlines.pop(sock, None)

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                now = time.monotonic()
                expired = [s for s, d in self._deadlines.items() if d <= now]
                for sock in expired:
                    del self._deadlines[sock]
                if not expired:
                    self._wake_at = min(self._deadlines.values(), default=float("inf"))
                    wait = None if self._wake_at == float("inf") else max(0.0, self._wake_at - now) + 0.01
                    self._cond.wait(wait)
            for sock in expired:
                _LOG.info("closing a connection that sent too slowly")
                try:
                    sock.shutdown(socket.SHUT_RD)
                except OSError:
                    pass


class _BodyClock:
    """The deadline of one request body: ``body_grace + received / min_body_rate`` seconds."""

    def __init__(self, watchdog: _Watchdog, sock: socket.socket, grace: float, rate: float) -> None:
        self._watchdog = watchdog
        self._sock = sock
        self._grace = grace
        self._rate = rate
        self._start = time.monotonic()
        self._received = 0
        watchdog.arm(sock, self._start + grace)

    def advance(self, count: int) -> None:
        """Record ``count`` more bytes received (pushes the deadline out)."""
        self._received += count
        self._watchdog.arm(self._sock, self._start + self._grace + self._received / self._rate)

    def done(self) -> None:
        """The body is complete: no deadline any more."""
        self._watchdog.disarm(self._sock)


class _Request(HTTPRequest):
    """cheroot's request, with the header block under a deadline."""

    def parse_request(self) -> None:
        watchdog: Optional[_Watchdog] = getattr(self.server, "vss_watchdog", None)
        sock = self.conn.socket
        if watchdog is None or not isinstance(sock, socket.socket):
            super().parse_request()
            return
        watchdog.arm(sock, time.monotonic() + float(self.server.vss_header_timeout))
        try:
            super().parse_request()
        finally:
            watchdog.disarm(sock)


class _Connection(HTTPConnection):
    """cheroot's connection, reading requests with :class:`_Request`."""

    RequestHandlerClass = _Request


class FileWrapper:
    """``wsgi.file_wrapper``: a file body the gateway sends with ``sendfile``.

    Iterating it reads the file in ``block_size`` pieces (used when sendfile is not possible).
    """

    def __init__(self, filelike: BinaryIO, block_size: int = 1 << 20) -> None:
        self.filelike = filelike
        self.block_size = block_size

    def __iter__(self) -> Iterator[bytes]:
        while True:
            data = self.filelike.read(self.block_size)
            if not data:
                return
            yield data

    def close(self) -> None:
        """Close the file."""
        self.filelike.close()


def _read_exact(reader: Any, sock: socket.socket, size: int,
                clock: Optional[_BodyClock] = None) -> bytearray:
    """Up to ``size`` bytes: first what cheroot's reader has buffered, then ``recv_into`` straight
    into one fresh buffer (cheroot's pure-Python reader would copy each piece several times).
    ``clock`` hears of every piece received."""
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    pending = len(reader._read_buf) - reader._read_pos
    if pending > 0:
        head = reader.read(min(pending, size))
        view[:len(head)] = head
        got = len(head)
        if clock is not None:
            clock.advance(got)
    while got < size:
        count = sock.recv_into(view[got:])
        if not count:
            break
        got += count
        if clock is not None:
            clock.advance(count)
    view.release()
    if got < size:
        del buf[got:]
    return buf


class _SocketInput:
    """``wsgi.input`` for a Content-Length body, read straight from the socket."""

    def __init__(self, reader: Any, sock: socket.socket, length: int,
                 clock: Optional[_BodyClock] = None) -> None:
        self.rfile = reader
        self._sock = sock
        self.remaining = length
        self._clock = clock
        if length <= 0 and clock is not None:
            clock.done()

    def read(self, size: Optional[int] = None) -> bytes:
        if self.remaining <= 0:
            return b""
        want = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = _read_exact(self.rfile, self._sock, want, self._clock)
        self.remaining -= len(data)
        if len(data) < want:
            self.remaining = 0
        if self.remaining <= 0 and self._clock is not None:
            self._clock.done()
        return data  # type: ignore[return-value]  # a bytearray: bytes-like, never copied

    def readline(self, size: Optional[int] = None) -> bytes:
        limit = self.remaining if size is None or size < 0 else min(size, self.remaining)
        line: bytes = self.rfile.readline(limit) if limit > 0 else b""
        self.remaining -= len(line)
        return line

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line


class _SocketChunkedInput:
    """``wsgi.input`` for a chunked body: whole transfer chunks read straight from the socket.

    Offers ``buffer``/``_fetch()``/``rfile`` like cheroot's ``ChunkedRFile`` (what ``_wsgi`` uses).
    """

    def __init__(self, reader: Any, sock: socket.socket, clock: Optional[_BodyClock] = None) -> None:
        self.rfile = reader
        self._sock = sock
        self._clock = clock
        self.buffer: bytes = b""
        self.closed = False
        self._chunk_left = 0
        self._need_crlf = False

    _PIECE = 1 << 20
    _MAX_CHUNK = 1 << 40

    def _fetch(self) -> None:
        """Read the next piece (at most 1 MiB) of the current transfer chunk, whatever size the
        client declared for it, so a lying chunk-size line can never make us allocate it."""
        if self.closed:
            return
        if self._chunk_left == 0:
            if self._need_crlf:
                crlf = self.rfile.read(2)
                if crlf != b"\r\n":
                    raise ValueError(f"Bad chunked transfer coding (expected CRLF, got {crlf!r})")
                self._need_crlf = False
            line = self.rfile.readline(4096)
            text = line.split(b";", 1)[0].strip()
            try:
                size = int(text, 16)
            except ValueError:
                raise ValueError(f"Bad chunked transfer size: {text[:40]!r}") from None
            if size < 0 or size > self._MAX_CHUNK:
                raise ValueError(f"Bad chunked transfer size: {text[:40]!r}")
            if size == 0:
                self.closed = True
                if self._clock is not None:
                    self._clock.done()
                return
            self._chunk_left = size
        want = min(self._chunk_left, self._PIECE)
        data = _read_exact(self.rfile, self._sock, want, self._clock)
        if len(data) < want:
            raise ValueError("chunked body ended inside a chunk")
        self._chunk_left -= want
        if self._chunk_left == 0:
            self._need_crlf = True
        self.buffer = data  # type: ignore[assignment]

    def read(self, size: Optional[int] = None) -> bytes:
        if not self.buffer:
            self._fetch()
        data, self.buffer = self.buffer, b""
        return data


class _Gateway(wsgi.Gateway_10):
    """WSGI 1.0 gateway reading and writing straight on the socket."""

    def get_environ(self) -> Any:
        env = super().get_environ()  # type: ignore[no-untyped-call]
        env["wsgi.file_wrapper"] = FileWrapper
        req = self.req
        sock = getattr(req.conn, "socket", None)
        if isinstance(sock, socket.socket) and not req.conn.ssl_env:
            server = req.server
            watchdog: Optional[_Watchdog] = getattr(server, "vss_watchdog", None)
            clock: Optional[_BodyClock] = None
            if isinstance(req.rfile, KnownLengthRFile):
                if watchdog is not None and req.rfile.remaining:
                    clock = _BodyClock(watchdog, sock, server.vss_body_grace, server.vss_min_body_rate)
                req.rfile = _SocketInput(req.conn.rfile, sock, req.rfile.remaining, clock)
            elif isinstance(req.rfile, ChunkedRFile):
                if watchdog is not None:
                    clock = _BodyClock(watchdog, sock, server.vss_body_grace, server.vss_min_body_rate)
                req.rfile = _SocketChunkedInput(req.conn.rfile, sock, clock)
            env["wsgi.input"] = req.rfile
        return env

    def respond(self) -> None:
        try:
            self._respond()
        finally:
            watchdog: Optional[_Watchdog] = getattr(self.req.server, "vss_watchdog", None)
            sock = getattr(self.req.conn, "socket", None)
            if watchdog is not None and isinstance(sock, socket.socket):
                watchdog.disarm(sock)
            body = self.req.rfile
            if (isinstance(body, _SocketInput) and body.remaining > 0) or (
                    isinstance(body, _SocketChunkedInput) and not body.closed):
                # The app answered without reading the whole body (e.g. 401): what is left of
                # it must not be parsed as the next request.
                self.req.close_connection = True

    def _respond(self) -> None:
        response = self.req.server.wsgi_app(self.env, self.start_response)
        try:
            if isinstance(response, FileWrapper) and self.remaining_bytes_out is not None:
                self._sendfile(response)
                return
            for chunk in response:
                if chunk:
                    if not isinstance(chunk, bytes):
                        raise ValueError("WSGI Applications must yield bytes")
                    self.write(chunk)
        finally:
            self.req.ensure_headers_sent()
            close = getattr(response, "close", None)
            if close is not None:
                close()

    def _sendfile(self, response: FileWrapper) -> None:
        self.req.ensure_headers_sent()
        count = int(self.remaining_bytes_out)
        sock: socket.socket = self.req.conn.socket
        offset = response.filelike.tell()
        sent = 0
        while sent < count:
            got = sock.sendfile(response.filelike, offset + sent, count - sent)
            if not got:
                break
            sent += got
        self.remaining_bytes_out = count - sent
        if sent < count:
            self.req.close_connection = True
            raise OSError(f"file body ended after {sent} of {count} bytes")

    def write(self, chunk: bytes) -> None:
        if not self.started_response:
            raise RuntimeError("WSGI write called before start_response.")
        rbo = self.remaining_bytes_out
        if rbo is not None and len(chunk) > rbo:
            chunk = chunk[:rbo]
            self.req.close_connection = True
        self.req.ensure_headers_sent()
        sock: socket.socket = self.req.conn.socket
        if self.req.chunked_write:
            head = b"%x\r\n" % len(chunk)
            if len(chunk) < 65536:
                sock.sendall(head + chunk + b"\r\n")
            else:
                sock.sendall(head)
                sock.sendall(chunk)
                sock.sendall(b"\r\n")
        else:
            sock.sendall(chunk)
        if rbo is not None:
            self.remaining_bytes_out = rbo - len(chunk)


class Server:
    """A cheroot server running one WSGI app on a background thread.

    Thread safety: start/stop from one thread.

    Args:
        app: the WSGI callable.
        config: where and how to listen.
    """

    def __init__(self, app: WSGIApp, config: ServerConfig) -> None:
        self.app = app
        self.config = config
        self._server = wsgi.Server((config.host, config.port), app, numthreads=config.numthreads,
                                   request_queue_size=config.request_queue_size,
                                   timeout=int(config.timeout),
                                   shutdown_timeout=int(config.shutdown_timeout))
        self._server.gateway = _Gateway
        self._server.ConnectionClass = _Connection
        self._server.max_request_body_size = 0  # the apps enforce their own limits
        self._server.max_request_header_size = 1 << 20
        self._server.nodelay = True
        self._watchdog = _Watchdog()
        # Read by _Request and _Gateway through the cheroot server they are given.
        cheroot_server: Any = self._server
        cheroot_server.vss_watchdog = self._watchdog
        cheroot_server.vss_header_timeout = config.header_timeout
        cheroot_server.vss_body_grace = config.body_grace
        cheroot_server.vss_min_body_rate = config.min_body_rate
        self._thread: Optional[threading.Thread] = None

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        return int(self._server.bind_addr[1])

    @property
    def url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.config.host}:{self.port}"

    def start(self) -> None:
        """Bind and serve on a background thread."""
        self._server.prepare()
        self._watchdog.start()
        self._thread = threading.Thread(target=self._server.serve, name="vss-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, wait for the workers, close the app."""
        self._server.stop()
        self._watchdog.stop()
        if self._thread is not None:
            self._thread.join(self.config.shutdown_timeout + 5)
        close = getattr(self.app, "close", None)
        if close is not None:
            close()


def run_until_signalled(app: WSGIApp, config: ServerConfig, *,
                        on_ready: Optional[Callable[[str], None]] = None) -> int:
    """Serve ``app`` in the foreground until SIGINT or SIGTERM, then stop cleanly.

    Args:
        app: the WSGI callable.
        config: where to listen.
        on_ready: called with the server's URL once it is bound.

    Returns:
        0 (the exit code).
    """
    server = Server(app, config)
    done = threading.Event()

    def _stop(signum: int, frame: Optional[FrameType]) -> None:
        done.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.start()
        if on_ready is not None:
            on_ready(server.url)
        while not done.wait(3600):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
