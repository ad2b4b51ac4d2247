"""A tiny WSGI toolkit shared by the peer and router apps.

It provides :class:`Request` (method, path, headers, query, a streaming body reader),
:class:`Response`, :class:`HTTPError` and :class:`App`, a method-aware route table built from the
``_protocol`` templates that renders every error as JSON ``{"detail": ...}``.

Paths are matched on the *raw* (still percent-encoded) request path, segment by segment, and each
captured parameter is percent-decoded afterwards: ``/buckets/b/%2e%2e%2fx`` reaches the handler as
bucket ``b`` and key ``../x`` (which the handler then refuses), never as a path with more segments.
"""

from __future__ import annotations

import json
import logging
import re
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Pattern,
    Sequence,
    Tuple,
)
from urllib.parse import parse_qsl, quote, unquote

import attrs

from .. import _protocol
from ..errors import InvalidArgumentError

__all__ = [
    "Environ", "StartResponse", "WSGIApp", "HTTPError", "Request", "Response", "Route", "App",
    "json_response", "empty_response", "stream_response", "validation_error", "BodyReader",
    "raw_path",
]

Environ = Dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
Handler = Callable[["Request"], "Response"]
ErrorTranslator = Callable[[BaseException], Optional["HTTPError"]]

_REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 411: "Length Required",
    413: "Payload Too Large", 422: "Unprocessable Entity", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 507: "Insufficient Storage",
}
DEFAULT_PIECE = 1 << 20
# Bytes of an unread request body we are willing to discard so the client can read our reply.
DRAIN_LIMIT = 1 << 32


def status_line(status: int) -> str:
    """``"404 Not Found"`` for 404."""
    return f"{status} {_REASONS.get(status, 'Unknown')}"


class HTTPError(Exception):
    """An error reply: ``status`` with the JSON body ``{"detail": detail}``.

    Args:
        status: the HTTP status code.
        detail: a string, object or list (FastAPI style).
        headers: extra response headers.
    """

    def __init__(self, status: int, detail: Any, headers: Sequence[Tuple[str, str]] = ()) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.headers = tuple(headers)


def validation_error(msg: str, loc: Sequence[Any] = ("body",), value: Any = None) -> HTTPError:
    """A FastAPI-style 422 with a list detail (``[{"type","loc","msg","input"}]``)."""
    return HTTPError(422, [{"type": "value_error", "loc": list(loc), "msg": msg, "input": value}])


class BodyReader:
    """Reads a request body in pieces from ``wsgi.input``, honouring Content-Length or chunking.

    Thread safety: belongs to the request's thread.
    """

    def __init__(self, stream: Any, content_length: Optional[int], chunked: bool) -> None:
        self._stream = stream
        self._remaining = content_length
        self._chunked = chunked or content_length is None
        self.bytes_read = 0
        self.exhausted = stream is None or content_length == 0

    def read(self, size: int = DEFAULT_PIECE) -> bytes:
        """Up to ``size`` bytes (a whole transfer chunk when chunked, possibly more); b"" at the end.

        Raises:
            HTTPError: 400 when the body is malformed or the client went away mid-body.
        """
        if self.exhausted:
            return b""
        try:
            return self._read(size)
        except OSError as exc:
            self.exhausted = True
            raise HTTPError(400, f"the client went away in the middle of the body: {exc}") from exc

    def _read(self, size: int) -> bytes:
        if self._chunked:
            piece = self._read_chunked(size)
        else:
            assert self._remaining is not None
            piece = self._stream.read(min(size, self._remaining))
            self._remaining -= len(piece)
            if self._remaining <= 0:
                self.exhausted = True
            elif not piece:
                self.exhausted = True
                raise HTTPError(400, "request body ended before Content-Length bytes arrived")
        if not piece:
            self.exhausted = True
        self.bytes_read += len(piece)
        return piece  # bytes or a fresh bytearray, never copied

    def _read_chunked(self, size: int) -> bytes:
        stream = self._stream
        # cheroot's ChunkedRFile copies its buffer on every partial read; take whole transfer
        # chunks from it instead (no copies), falling back to read(size) elsewhere.
        fetch = getattr(stream, "_fetch", None)
        if fetch is not None and hasattr(stream, "buffer"):
            try:
                if not stream.buffer:
                    fetch()
                piece: bytes = stream.buffer
                stream.buffer = b""
            except ValueError as exc:
                raise HTTPError(400, f"malformed chunked request body: {exc}") from exc
            if not piece:
                self._skip_trailer(stream)
            return piece
        try:
            data: bytes = stream.read(size)
        except ValueError as exc:
            raise HTTPError(400, f"malformed chunked request body: {exc}") from exc
        return data

    @staticmethod
    def _skip_trailer(stream: Any) -> None:
        """Consume the trailer after the last chunk (cheroot leaves its CRLF on the socket, which
        would pin a worker thread on the idle keep-alive connection)."""
        raw = getattr(stream, "rfile", None)
        if raw is None:
            return
        for _ in range(64):
            line = raw.readline(65536)
            if line in (b"\r\n", b"\n", b""):
                return

    def __iter__(self) -> Iterator[bytes]:
        while True:
            piece = self.read()
            if not piece:
                return
            yield piece

    def drain(self, limit: int = DRAIN_LIMIT) -> None:
        """Discard what is left of the body (up to ``limit`` bytes) so the reply can be read."""
        discarded = 0
        try:
            while not self.exhausted and discarded < limit:
                discarded += len(self.read())
        except (HTTPError, OSError, ValueError):
            self.exhausted = True


class Request:
    """One HTTP request as the handlers see it.

    Attributes:
        method: ``GET``, ``POST``, ...
        path: the raw path (percent-encoded, prefix stripped).
        params: the decoded path parameters of the matched route.
        query: query parameters (first value wins).
        environ: the WSGI environ.
    """

    def __init__(self, environ: Environ, path: str, max_body_size: int) -> None:
        self.environ = environ
        self.method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        self.path = path
        self.params: Dict[str, str] = {}
        self.query: Dict[str, str] = {}
        for name, value in parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True):
            self.query.setdefault(name, value)
        self.max_body_size = max_body_size
        length_text = environ.get("CONTENT_LENGTH")
        chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
        self.content_length: Optional[int] = None
        if length_text not in (None, "") and not chunked:
            try:
                self.content_length = int(str(length_text))
            except ValueError:
                raise HTTPError(400, f"invalid Content-Length {length_text!r}") from None
        has_body = chunked or (self.content_length or 0) > 0
        self.body = BodyReader(environ.get("wsgi.input") if has_body else None,
                               self.content_length if not chunked else None, chunked)

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """A request header by (case-insensitive) name."""
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            value = self.environ.get(key)
        else:
            value = self.environ.get("HTTP_" + key)
        return default if value is None else str(value)

    def flag(self, name: str, default: bool = False) -> bool:
        """A header holding an integer/boolean flag (``"1"``, ``"true"``)."""
        value = self.header(name)
        if value is None or value.strip() == "":
            return default
        return value.strip().lower() in ("1", "true", "yes", "on")

    def query_int(self, name: str, default: Optional[int]) -> Optional[int]:
        """An integer query parameter (422 if it is not an integer)."""
        value = self.query.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise validation_error(f"Input should be a valid integer, got {value!r}",
                                   ("query", name), value) from None

    def check_length(self) -> None:
        """Refuse (413) a body whose declared Content-Length exceeds the limit."""
        if self.content_length is not None and self.content_length > self.max_body_size:
            raise HTTPError(413, f"request body of {self.content_length} bytes exceeds the limit of "
                                 f"{self.max_body_size} bytes")

    def iter_body(self, limit: Optional[int] = None) -> Iterator[bytes]:
        """The body in pieces; 413 once more than ``limit`` (default: the body limit) arrived."""
        self.check_length()
        cap = self.max_body_size if limit is None else limit
        total = 0
        for piece in self.body:
            total += len(piece)
            if total > cap:
                raise HTTPError(413, f"request body exceeds the limit of {cap} bytes")
            yield piece

    def read_body(self, limit: int = 16 << 20) -> bytes:
        """The whole (small) body; 413 beyond ``limit``."""
        return b"".join(self.iter_body(min(limit, self.max_body_size)))

    def json(self) -> Any:
        """The body decoded as JSON (422 with a list detail when it is not JSON)."""
        raw = self.read_body()
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise validation_error(f"JSON decode error: {exc}", ("body",), raw[:200].decode(
                "utf-8", "replace")) from None


@attrs.frozen
class Response:
    """A reply: status, headers and an iterable of bytes (streamed as produced)."""

    status: int
    headers: Tuple[Tuple[str, str], ...]
    body: Iterable[bytes]


def attachment(filename: str) -> str:
    """A ``Content-Disposition`` value offering ``filename`` for download (RFC 6266): quoted when
    it is plain ASCII, percent-encoded UTF-8 (``filename*``) otherwise.

    >>> print(attachment('a "b".txt'))
    attachment; filename="a \\"b\\".txt"
    >>> attachment("€.txt")
    "attachment; filename*=UTF-8''%E2%82%AC.txt"

    Raises:
        InvalidArgumentError: the name holds control characters (CR/LF would split the header).
    """
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in filename):
        raise InvalidArgumentError(f"filename must not contain control characters: {filename[:60]!r}")
    if all(0x20 <= ord(c) < 0x7F for c in filename):
        escaped = filename.replace("\\", "\\\\").replace('"', '\\"')
        return f'attachment; filename="{escaped}"'
    return f"attachment; filename*=UTF-8''{quote(filename, safe='')}"


def json_response(data: Any, status: int = 200, headers: Sequence[Tuple[str, str]] = ()) -> Response:
    """A JSON reply with Content-Length."""
    payload = json.dumps(data, separators=(",", ":")).encode()
    return Response(status, (("Content-Type", "application/json"),
                             ("Content-Length", str(len(payload))), *headers), (payload,))


def empty_response(status: int = 204, headers: Sequence[Tuple[str, str]] = ()) -> Response:
    """A reply without a body."""
    return Response(status, (("Content-Length", "0"), *headers), ())


def stream_response(body: Iterable[bytes], *, content_type: str, content_length: Optional[int],
                    status: int = 200, headers: Sequence[Tuple[str, str]] = ()) -> Response:
    """A streamed reply; with ``content_length`` it is not chunk-encoded."""
    head: List[Tuple[str, str]] = [("Content-Type", content_type)]
    if content_length is not None:
        head.append(("Content-Length", str(content_length)))
    return Response(status, (*head, *headers), body)


@attrs.frozen
class Route:
    """One route: a method, a ``_protocol`` template, its compiled pattern and the handler."""

    method: str
    template: str
    pattern: Pattern[str]
    handler: Handler


def route(method: str, template: str, handler: Handler) -> Route:
    """Build a :class:`Route` from a ``_protocol`` template."""
    return Route(method.upper(), template, _protocol.compile_template(template), handler)


_PATH_RE = re.compile(r"^[^?#]*")


def raw_path(environ: Environ, strip_prefix: bool = False) -> str:
    """The request path as sent (still percent-encoded), without the query; with
    ``strip_prefix``, without the optional ``/mictlanx`` prefix."""
    uri = environ.get("REQUEST_URI")
    if uri:
        match = _PATH_RE.match(str(uri))
        raw = match.group(0) if match else ""
        if "://" in raw:  # absolute-form request target
            raw = "/" + raw.split("://", 1)[1].partition("/")[2]
    else:
        raw = str(environ.get("PATH_INFO", "/"))
    raw = raw or "/"
    if strip_prefix:
        raw = _protocol.split_router_prefix(raw)
    return raw


class App:
    """A WSGI app over a route table: first match wins; 405/404 as FastAPI words them.

    Thread safety: immutable after construction; handlers must be thread-safe.

    Args:
        routes: the routes in matching order.
        max_body_size: the request body limit (413 beyond it).
        strip_prefix: accept an optional ``/mictlanx`` prefix (the reference router's root path).
        translate: maps library exceptions (storage, multipart) to :class:`HTTPError`.
        logger: where unexpected exceptions are logged.
        on_close: called by :meth:`close`.
    """

    def __init__(self, routes: Sequence[Route], *, max_body_size: int, strip_prefix: bool = False,
                 translate: Optional[ErrorTranslator] = None,
                 logger: Optional[logging.Logger] = None,
                 on_close: Optional[Callable[[], None]] = None) -> None:
        self.routes = tuple(routes)
        self.max_body_size = max_body_size
        self.strip_prefix = strip_prefix
        self._translate = translate
        self._log = logger or logging.getLogger("mictlanx_sync.vss")
        self._on_close = on_close

    def close(self) -> None:
        """Release the app's resources (thread pools, databases)."""
        if self._on_close is not None:
            self._on_close()

    def _raw_path(self, environ: Environ) -> str:
        return raw_path(environ, self.strip_prefix)

    def dispatch(self, request: Request) -> Response:
        """Find the route for ``request`` and run its handler."""
        allowed = False
        for item in self.routes:
            match = item.pattern.match(request.path)
            if match is None:
                continue
            if item.method != request.method:
                allowed = True
                continue
            request.params = {name: unquote(value, errors="strict")
                              for name, value in match.groupdict().items()}
            return item.handler(request)
        if allowed:
            raise HTTPError(405, "Method Not Allowed")
        raise HTTPError(404, "Not Found")

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        request: Optional[Request] = None
        try:
            request = Request(environ, self._raw_path(environ), self.max_body_size)
            response = self.dispatch(request)
        except Exception as exc:  # noqa: BLE001 - every error becomes a JSON reply
            response = self._error_response(exc, environ)
        if request is not None:
            request.body.drain()
        start_response(status_line(response.status), list(response.headers))
        return response.body

    def _error_response(self, exc: BaseException, environ: Environ) -> Response:
        error: Optional[HTTPError] = exc if isinstance(exc, HTTPError) else None
        if error is None and self._translate is not None:
            try:
                error = self._translate(exc)
            except Exception:  # noqa: BLE001
                error = None
        if error is None:
            if isinstance(exc, UnicodeDecodeError):
                error = HTTPError(400, "the request path is not valid UTF-8")
            else:
                self._log.exception("unhandled error in %s %s", environ.get("REQUEST_METHOD"),
                                    environ.get("PATH_INFO"))
                error = HTTPError(500, "internal error")
        return json_response({"detail": error.detail}, error.status, error.headers)


def header_items(headers: Mapping[str, str]) -> Tuple[Tuple[str, str], ...]:
    """Response header pairs from a mapping."""
    return tuple((str(k), str(v)) for k, v in headers.items())
