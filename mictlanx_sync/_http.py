"""The one HTTP layer: a session factory and :meth:`HTTPClient.send`.

This is the only module that imports requests. ``send`` turns every requests/urllib3 exception
and every non-2xx reply into the :class:`~mictlanx_sync.errors.MictlanXError` tree, so callers
never see a ``requests.Response``.
"""

from __future__ import annotations

import functools
import http.client
import json as _json
import os
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, Mapping, Optional, Tuple, Type, Union

import requests
import urllib3
import urllib3.connectionpool
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from . import _fork, deadline, errors
from . import _protocol as P
from .config import DEFAULT_MAX_REPLY_SIZE, RetryConfig, Timeouts

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["HTTPClient", "Reply", "make_session", "SessionFactory", "error_from_reply", "DEFAULT_MAX_REPLY"]

DEFAULT_MAX_REPLY = DEFAULT_MAX_REPLY_SIZE
_MAX_ERROR_BODY = 64 << 10  # bytes of an error reply kept for its message
_PIECE = 1 << 20  # the most bytes one read of a reply body asks for when a deadline is set

SessionFactory = Callable[[], requests.Session]

# detail.code -> class (PROTOCOL §2.5); the HTTP status picks the class when there is no code.
_CODE_CLASSES: Dict[int, Type[errors.MictlanXError]] = {
    400: errors.BadRequestError, 401: errors.ForbiddenError, 403: errors.ForbiddenError,
    404: errors.NotFoundError, 405: errors.AlreadyExistsError, 409: errors.AlreadyExistsError,
    412: errors.PreconditionFailedError,
    501: errors.IntegrityError, 666: errors.MaxAvailabilityReachedError,
    1000: errors.NetworkError, 1001: errors.ConnectFailedError, 1004: errors.RequestTimeoutError,
}
_STATUS_CLASSES: Dict[int, Type[errors.MictlanXError]] = {
    400: errors.BadRequestError, 401: errors.ForbiddenError, 403: errors.ForbiddenError,
    404: errors.NotFoundError, 409: errors.AlreadyExistsError, 411: errors.BadRequestError,
    412: errors.PreconditionFailedError, 413: errors.BadRequestError, 422: errors.BadRequestError,
}


class _BoundedRetry(Retry):
    """urllib3's ``Retry`` that also stops at the current deadline (:mod:`~mictlanx_sync.deadline`)
    and never sleeps past it: urllib3 retries inside one ``send``, where nothing else could."""

    def increment(self, method: Optional[str] = None, url: Optional[str] = None,
                  response: Optional[urllib3.BaseHTTPResponse] = None, error: Optional[Exception] = None,
                  _pool: Optional[urllib3.connectionpool.ConnectionPool] = None,
                  _stacktrace: Optional[TracebackType] = None) -> Self:
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        left = deadline.remaining()
        if left is not None and left <= 0:
            reason = error or urllib3.exceptions.TimeoutError("the deadline passed between retries")
            raise urllib3.exceptions.MaxRetryError(_pool, url or "", reason)  # type: ignore[arg-type]
        return new

    def get_backoff_time(self) -> float:
        backoff = float(super().get_backoff_time())
        return backoff if backoff <= 0 else deadline.clamp(backoff)


def make_retry(config: RetryConfig) -> Retry:
    """The urllib3 ``Retry`` for idempotent requests (GET/HEAD/DELETE), with jitter and Retry-After,
    bounded by the current deadline."""
    return _BoundedRetry(
        total=config.total,
        connect=config.total,
        read=config.total,
        status=config.total,
        other=0,
        backoff_factor=config.backoff_factor,
        backoff_max=config.backoff_max,
        backoff_jitter=config.backoff_jitter,
        status_forcelist=frozenset(config.status_forcelist),
        allowed_methods=frozenset(config.allowed_methods),
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )


def make_session(*, retry: RetryConfig, pool_maxsize: int, verify: Union[bool, str] = True,
                 base_url: Optional[str] = None) -> requests.Session:
    """A ``requests.Session`` with a pooled, retrying adapter; treat it as read-only afterwards.

    With ``base_url`` (one session per server), the environment is read once here rather than on
    every request: proxies from ``*_PROXY``/``NO_PROXY`` for that URL and the CA bundle from
    ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``; ``.netrc`` is not consulted (MictlanX has no auth).
    That saves requests' per-request environment lookups on the data path.

    Args:
        retry: the retry policy (applied by urllib3 to GET/HEAD/DELETE only).
        pool_maxsize: connections kept per host; at least the number of threads using the session.
        verify: TLS verification: a bool or the path of a CA bundle.
        base_url: the one server this session talks to.
    """
    session = requests.Session()
    if base_url is not None:
        session.trust_env = False
        session.proxies.update(requests.utils.get_environ_proxies(base_url))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if verify is True and bundle and base_url.startswith("https:"):
            verify = bundle  # only https needs it; on http a path costs a stat() per request
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(1, pool_maxsize),
                          max_retries=make_retry(retry))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = verify
    session.headers.update({"Accept-Encoding": "identity", "User-Agent": "mictlanx-sync"})
    return session


def _detail_of(text: str) -> Any:
    try:
        body = _json.loads(text)
    except ValueError:
        return text
    return body.get("detail", body) if isinstance(body, dict) else body


def error_from_reply(status: int, text: str, *, what: str, bucket_id: Optional[str] = None,
                     key: Optional[str] = None,
                     on_404: Optional[Type[errors.MictlanXError]] = None) -> errors.MictlanXError:
    """The typed error for a non-2xx reply (PROTOCOL §2.4-2.5).

    Args:
        status: the HTTP status.
        text: the reply body.
        what: the request, for the message (``"GET http://..."``).
        bucket_id: the bucket concerned, if any.
        key: the key concerned, if any.
        on_404: the class for a 404 on this request (step 1 maps any 404 to
            ``MaxAvailabilityReachedError``).
    """
    detail = _detail_of(text)
    code = detail.get("code") if isinstance(detail, dict) else None
    if isinstance(detail, dict):
        message = str(detail.get("msg") or detail.get("message") or detail)
    elif isinstance(detail, str):
        message = detail
    else:
        message = text[:300]
    cls: Type[errors.MictlanXError]
    if on_404 is not None and status == 404:
        cls = on_404
    elif isinstance(code, int) and code in _CODE_CLASSES:
        cls = _CODE_CLASSES[code]
    elif status == 500 and isinstance(detail, str) and detail.startswith("404:"):
        cls = errors.NotFoundError
    else:
        cls = _STATUS_CLASSES.get(status, errors.ServerError)
    return cls(f"{what} failed: {message}", bucket_id=bucket_id, key=key, status=status, detail=detail)


def _network_error(exc: BaseException, what: str, bucket_id: Optional[str],
                   key: Optional[str]) -> errors.MictlanXError:
    cls: Type[errors.MictlanXError]
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout,
                        urllib3.exceptions.TimeoutError)):
        cls = errors.RequestTimeoutError
    elif isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(
            exc, requests.exceptions.ChunkedEncodingError):
        inner = exc.args[0] if exc.args else None
        reason = getattr(inner, "reason", None)
        if isinstance(reason, urllib3.exceptions.NewConnectionError) or isinstance(
                inner, urllib3.exceptions.NewConnectionError):
            cls = errors.ConnectFailedError
        elif isinstance(reason, urllib3.exceptions.TimeoutError) or isinstance(
                inner, urllib3.exceptions.TimeoutError):
            # requests wraps a read timeout met while reading the body (``.content``) in a
            # ConnectionError around the bare urllib3 ReadTimeoutError.
            cls = errors.RequestTimeoutError
        else:
            cls = errors.NetworkError
    else:
        cls = errors.NetworkError
    hint = ""
    if isinstance(exc, requests.exceptions.SSLError) and "WRONG_VERSION_NUMBER" in str(exc).upper():
        hint = ("; hint: the server speaks plain HTTP, not HTTPS: add ?protocol=http to the mictlanx:// "
                "URI (the protocol defaults to https)")
    return cls(f"{what} failed: {type(exc).__name__}: {exc}{hint}", bucket_id=bucket_id, key=key)


_LIB_ERRORS = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError)
# HTTPAdapter.send as shipped; when something replaced it (the ``responses`` test library does),
# every request goes through the session so that the replacement sees it.
_STOCK_ADAPTER_SEND = HTTPAdapter.send
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What the direct path needs of a session: its adapter, host, port, headers and base path.
_Direct = Tuple[HTTPAdapter, str, int, Dict[str, str], str]


def _as_requests_error(exc: BaseException) -> BaseException:
    """The exception ``HTTPAdapter.send`` (requests 2.x) would have raised for ``exc``, raised by
    urllib3 on the direct path, so that errors chain to the same causes on both paths."""
    rx = requests.exceptions
    u3 = urllib3.exceptions
    if isinstance(exc, u3.MaxRetryError):
        if isinstance(exc.reason, u3.ConnectTimeoutError) and not isinstance(exc.reason, u3.NewConnectionError):
            return rx.ConnectTimeout(exc)
        if isinstance(exc.reason, u3.ResponseError):
            return rx.RetryError(exc)
        return rx.ConnectionError(exc)
    if isinstance(exc, (u3.ProtocolError, OSError, u3.ClosedPoolError)):
        return rx.ConnectionError(exc)
    if isinstance(exc, u3.ReadTimeoutError):
        return rx.ReadTimeout(exc)
    return exc


class Reply:
    """A successful (2xx) reply. Streaming replies must be closed (or used as a context manager).

    Thread safety: a Reply belongs to the thread that sent the request.
    """

    def __init__(self, response: Union[requests.Response, urllib3.BaseHTTPResponse], what: str,
                 bucket_id: Optional[str], key: Optional[str], max_reply: int = DEFAULT_MAX_REPLY) -> None:
        if isinstance(response, requests.Response):
            self._response: Optional[requests.Response] = response
            self._raw: Any = response.raw
            self._status = int(response.status_code)
            self._headers: Mapping[str, str] = response.headers
        else:  # the direct path: urllib3's own response, no requests.Response around it
            self._response = None
            self._raw = response
            self._status = int(response.status)
            self._headers = response.headers
        self._what = what
        self._bucket_id = bucket_id
        self._key = key
        self._max_reply = max_reply
        self._body: Optional[bytes] = None

    @property
    def status(self) -> int:
        """The HTTP status."""
        return self._status

    @property
    def headers(self) -> Mapping[str, str]:
        """The reply headers (case-insensitive)."""
        return self._headers

    @property
    def content(self) -> bytes:
        """The whole body (for small replies only; a data body is not bounded by ``max_reply``).

        Raises:
            RequestTimeoutError: the deadline passed while the body was still arriving.
        """
        if self._body is None:
            self._body = self.read_body(None)
        return self._body

    def read_body(self, limit: Optional[int], *, truncate: bool = False) -> bytes:
        """Read the rest of the body, at most ``limit`` bytes, checking the deadline between reads.

        Args:
            limit: the most bytes accepted (None: no limit).
            truncate: past ``limit``, keep the first ``limit`` bytes instead of failing.

        Raises:
            ProtocolError: the body (or its declared ``Content-Length``) exceeds ``limit``.
            RequestTimeoutError: the deadline passed.
        """
        if self._body is not None:
            return self._body
        declared = self.headers.get("Content-Length", "")
        if limit is not None and not truncate and declared.strip().isdigit() and int(declared) > limit:
            self.close()
            raise self._too_large(limit, f"declares {int(declared)} bytes")
        raw = self._raw
        pieces = []
        total = 0
        try:
            while True:
                deadline.check(self._what, bucket_id=self._bucket_id, key=self._key)
                piece = raw.read1(_PIECE) if limit is None else raw.read1(min(_PIECE, limit + 1 - total))
                if not piece:
                    break
                pieces.append(piece)
                total += len(piece)
                if limit is not None and total > limit:
                    if truncate:
                        return b"".join(pieces)[:limit]
                    raise self._too_large(limit, "is longer")
        except _LIB_ERRORS as exc:
            raise _network_error(exc, self._what, self._bucket_id, self._key) from exc
        finally:
            if limit is not None and total > limit:
                self.close()
        return b"".join(pieces)

    def _too_large(self, limit: int, how: str) -> errors.ProtocolError:
        return errors.ProtocolError(
            f"{self._what}: the reply {how} than the limit of {limit} bytes (max_reply_size); "
            f"not read", bucket_id=self._bucket_id, key=self._key, status=self.status)

    def json(self) -> Any:
        """The body decoded as JSON; at most ``max_reply_size`` bytes are read.

        Raises:
            ServerError: the body is not JSON.
            ProtocolError: the body is larger than ``max_reply_size``.
        """
        body = self.read_body(self._max_reply)
        try:
            return _json.loads(body)
        except ValueError as exc:
            raise errors.ServerError(f"{self._what} answered a body that is not JSON: {body[:200]!r}",
                                     bucket_id=self._bucket_id, key=self._key,
                                     status=self.status) from exc

    def iter_bytes(self, size: int) -> Iterator[bytes]:
        """Iterate over the body in pieces of at most ``size`` bytes, without holding it whole."""
        raw = self._raw
        bounded = deadline.remaining() is not None
        try:
            while True:
                deadline.check(self._what, bucket_id=self._bucket_id, key=self._key)
                # read1: one socket read per check, so a trickled body cannot outlive the deadline
                piece = raw.read1(size) if bounded else raw.read(size)
                if not piece:
                    return
                yield piece
        except _LIB_ERRORS as exc:
            raise _network_error(exc, self._what, self._bucket_id, self._key) from exc
        finally:
            self.close()

    def readinto_exact(self, buffer: memoryview) -> int:
        """Fill ``buffer`` with exactly ``len(buffer)`` body bytes and check nothing follows.

        The bytes go from the socket straight into ``buffer``: urllib3's own ``readinto`` reads
        into a temporary ``bytes`` and copies it (twice over, through ``http.client.read``), which
        costs more CPU than the SHA-256 of the same bytes. When the body is a plain
        ``http.client`` response (always, on a real connection) it is read directly; anything
        else (a test double, a decoder in the way) goes through urllib3.

        Raises:
            IntegrityError: the body is shorter or longer than the buffer.
            NetworkError: the connection broke.
        """
        raw = self._raw
        view = buffer.cast("B") if buffer.format != "B" else buffer
        body = getattr(raw, "_fp", None)
        direct = isinstance(body, http.client.HTTPResponse) and not self.headers.get("Content-Encoding")
        reader: Any = body if direct else raw
        bounded = deadline.remaining() is not None
        filled = 0
        try:
            while filled < len(view):
                if bounded:
                    # One socket read at a time (a copy), so that a body trickled byte by byte
                    # ends at the deadline; without a deadline, straight into the buffer.
                    deadline.check(self._what, bucket_id=self._bucket_id, key=self._key)
                    piece = reader.read1(min(_PIECE, len(view) - filled))
                    got = len(piece)
                    view[filled:filled + got] = piece
                else:
                    got = reader.readinto(view[filled:])
                if not got:
                    raise errors.IntegrityError(
                        f"{self._what}: body ended after {filled} of {len(view)} bytes",
                        bucket_id=self._bucket_id, key=self._key)
                filled += got
            if reader.read(1):
                raise errors.IntegrityError(f"{self._what}: body is longer than {len(view)} bytes",
                                            bucket_id=self._bucket_id, key=self._key)
            if direct and reader.isclosed():
                raw.release_conn()  # read to its end behind urllib3's back: the connection is reusable
        except (*_LIB_ERRORS, http.client.HTTPException) as exc:
            raise _network_error(exc, self._what, self._bucket_id, self._key) from exc
        finally:
            self.close()
        return filled

    def close(self) -> None:
        """Release the connection back to the pool (closed first unless the body was read)."""
        if self._response is not None:
            self._response.close()
            return
        self._raw.close()  # as requests does; a body read to its end was released already
        self._raw.release_conn()

    def __enter__(self) -> Reply:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HTTPClient:
    """HTTP access to one base URL through one ``requests.Session``.

    Thread safety: ``send`` may be called from many threads at once; the session is configured
    once at construction and then only read. Keep ``pool_maxsize`` >= the number of threads.

    Args:
        base_url: ``http://host:port`` (no trailing slash).
        timeouts: connect/read timeouts (always finite).
        retry: the retry policy for idempotent requests.
        verify: TLS verification (bool or CA bundle path).
        pool_maxsize: connections kept open to this host.
        session_factory: test seam; builds the session instead of :func:`make_session`.
        token: sent as ``Authorization: Bearer <token>`` on every request (a local VSS started
            with ``--token`` requires it; a real MictlanX router ignores it).
    """

    def __init__(self, base_url: str, *, timeouts: Optional[Timeouts] = None,
                 retry: Optional[RetryConfig] = None, verify: Union[bool, str] = True,
                 pool_maxsize: int = 10, session_factory: Optional[SessionFactory] = None,
                 max_reply_size: int = DEFAULT_MAX_REPLY, token: Optional[str] = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts or Timeouts()
        self.max_reply_size = max_reply_size
        retry = retry or RetryConfig()
        if session_factory is not None:
            self._new_session: SessionFactory = session_factory
        else:
            self._new_session = functools.partial(make_session, retry=retry, pool_maxsize=pool_maxsize,
                                                  verify=verify, base_url=self.base_url)
        self._own_session = session_factory is None
        self._token = token
        self._session = self._authorized(self._new_session())
        self._direct = self._direct_path()  # copies the session's headers, the token's included
        _fork.register(self, HTTPClient._after_fork)

    def _authorized(self, session: requests.Session) -> requests.Session:
        """``session`` sending the bearer token, when there is one."""
        if self._token:
            session.headers[P.H_AUTHORIZATION] = P.bearer(self._token)
        return session

    def _after_fork(self) -> None:
        """In a forked child: a new session, so no pooled socket is shared with the parent (the
        inherited ones are dropped, never closed with a goodbye the parent would feel)."""
        self._session = self._authorized(self._new_session())
        self._direct = self._direct_path()

    def _direct_path(self) -> Optional[_Direct]:
        """What ``send`` needs to go through the session's adapter pool directly: only for a
        session built here, over plain http, without a proxy. A session from a factory (a test
        seam: hooks, adapters of its own) or over https always goes through requests whole."""
        if not self._own_session:
            return None
        split = urllib3.util.parse_url(self.base_url)
        adapter = self._session.get_adapter(self.base_url)
        if split.scheme != "http" or self._session.proxies or not split.host or not isinstance(adapter, HTTPAdapter):
            return None
        headers = {name: value if isinstance(value, str) else value.decode("latin-1")
                   for name, value in self._session.headers.items()}
        return adapter, split.host, split.port or 80, headers, split.path or ""

    def send(self, method: str, path: str, *, params: Optional[Mapping[str, Any]] = None,
             json: Any = None, data: Any = None, files: Any = None,
             headers: Optional[Mapping[str, str]] = None, stream: bool = False,
             timeout: Optional[Tuple[float, float]] = None, bucket_id: Optional[str] = None,
             key: Optional[str] = None,
             on_404: Optional[Type[errors.MictlanXError]] = None) -> Reply:
        """Send one request; return the 2xx :class:`Reply` or raise a typed error.

        The body is always read by this layer, never by requests: a reply that is not
        ``stream``-ed is read here, at most ``max_reply_size`` bytes, checking the deadline
        (:mod:`~mictlanx_sync.deadline`) between reads. Redirects are never followed (a 3xx is a
        ``ProtocolError``): MictlanX does not redirect, and following one could send an object's
        bytes to another origin.

        Raises:
            NetworkError: connection failures, timeouts, resets (after the adapter's retries).
            RequestTimeoutError: the current deadline passed (before or during the request).
            ProtocolError: a redirect, or a reply larger than ``max_reply_size``.
            MictlanXError: the subclass that matches a non-2xx reply (see ``error_from_reply``).
        """
        url = self.base_url + path
        what = f"{method} {url}"
        deadline.check(what, bucket_id=bucket_id, key=key)
        connect, read = timeout or self.timeouts.as_tuple()
        limits = deadline.clamp_pair(connect, read)
        direct = self._direct
        response: Union[requests.Response, urllib3.BaseHTTPResponse]
        if direct is not None and params is None and files is None and \
                (data is None or isinstance(data, (bytes, bytearray, memoryview))) and \
                type(direct[0]).send is _STOCK_ADAPTER_SEND:
            response = self._urlopen(direct, method, path, what, json, data, headers, limits, bucket_id, key)
        else:
            try:
                response = self._session.request(
                    method, url, params=params, json=json, data=data, files=files,
                    headers=dict(headers) if headers else None, stream=True, allow_redirects=False,
                    timeout=limits)
            except _LIB_ERRORS as exc:
                raise _network_error(exc, what, bucket_id, key) from exc
        reply = Reply(response, what, bucket_id, key, self.max_reply_size)
        status = reply.status
        if 300 <= status < 400:
            reply.close()
            raise errors.ProtocolError(
                f"{what} answered a redirect (HTTP {status}) to {reply.headers.get('Location')!r}; "
                f"redirects are not followed", bucket_id=bucket_id, key=key, status=status)
        if not 200 <= status < 300:
            try:
                text = reply.read_body(_MAX_ERROR_BODY, truncate=True).decode("utf-8", "replace")
            except errors.MictlanXError:
                text = ""
            finally:
                reply.close()
            raise error_from_reply(status, text, what=what, bucket_id=bucket_id, key=key, on_404=on_404)
        if not stream:
            try:
                reply._body = reply.read_body(self.max_reply_size)
            finally:
                reply.close()
        return reply

    def _urlopen(self, direct: _Direct, method: str, path: str, what: str, json: Any,
                 data: Optional[Union[bytes, bytearray, memoryview]], headers: Optional[Mapping[str, str]],
                 limits: Tuple[float, float], bucket_id: Optional[str],
                 key: Optional[str]) -> urllib3.BaseHTTPResponse:
        """Send through the session's adapter pool directly, with the adapter's ``Retry``.

        What requests adds on the way (merging settings, preparing and re-quoting the URL,
        cookies, hooks, a ``Response`` around urllib3's) cost more CPU than the request itself
        on a small read; this path sends the same bytes (the session's headers, ``Content-Length``
        as requests sets it, the same timeouts, retries and no redirects) and maps urllib3's
        exceptions to the same typed errors, chained through the ones requests would raise.
        """
        adapter, host, port, base_headers, prefix = direct
        all_headers = dict(base_headers)
        if headers:
            all_headers.update(headers)
        body: Optional[Union[bytes, bytearray, memoryview]] = data
        if json is not None and data is None:
            body = _json.dumps(json, allow_nan=False).encode("utf-8")
            all_headers.setdefault("Content-Type", "application/json")
        if body is not None:
            all_headers["Content-Length"] = str(memoryview(body).nbytes)
        elif method not in _NO_BODY_METHODS:
            all_headers["Content-Length"] = "0"
        try:
            pool = adapter.poolmanager.connection_from_host(host, port, scheme="http")
            response: urllib3.BaseHTTPResponse = pool.urlopen(
                method, prefix + path, body=body, headers=all_headers, redirect=False, assert_same_host=False,
                preload_content=False, decode_content=False, retries=adapter.max_retries,
                timeout=urllib3.Timeout(connect=limits[0], read=limits[1]), chunked=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            cause = _as_requests_error(exc)
            raise _network_error(cause, what, bucket_id, key) from cause
        return response

    def close(self) -> None:
        """Close the session and its pooled connections.

        The pools are closed one by one: urllib3 2.x's ``PoolManager.clear()`` (what closing a
        session does) only forgets them, so their idle sockets stayed open until the garbage
        collector found them (later still when a kept traceback referred to them).
        """
        for adapter in self._session.adapters.values():
            pools = getattr(getattr(adapter, "poolmanager", None), "pools", None)
            if pools is not None:
                for pool_key in list(pools.keys()):
                    pool = pools.get(pool_key)
                    if pool is not None:
                        pool.close()
        self._session.close()
