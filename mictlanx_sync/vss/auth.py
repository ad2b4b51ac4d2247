"""Opt-in access control for the VSS: one WSGI wrapper for the peer and the router apps.

With a token, every endpoint except ``GET /health`` requires ``Authorization: Bearer <token>``
(401 ``{"detail": ...}`` otherwise; the comparison is constant-time). Independently, the admin
endpoints (peer registration and removal on a router, the task flush on a peer) can be disabled
outright (403). Without a token and with admin endpoints enabled the app is served unwrapped,
exactly as before. A real MictlanX router ignores the ``Authorization`` header, so clients may
always send it.

Example:
    >>> from mictlanx_sync.vss._wsgi import App
    >>> guarded = protect(App([], max_body_size=0), AuthConfig(token="s3cret"), ROUTER_ADMIN)
    >>> isinstance(guarded, TokenGuard)
    True
"""

from __future__ import annotations

import hmac
from typing import Any, Iterable, Optional, Pattern, Sequence, Tuple

import attrs

from .. import _protocol as P
from ..errors import InvalidArgumentError
from ._wsgi import Environ, HTTPError, Request, StartResponse, WSGIApp, json_response, raw_path, status_line

__all__ = ["TOKEN_ENV", "AuthConfig", "TokenGuard", "protect", "ROUTER_ADMIN", "PEER_ADMIN"]

TOKEN_ENV = "MICTLANX_VSS_TOKEN"
# Admin endpoints as (method, path template).
ROUTER_ADMIN: Tuple[Tuple[str, str], ...] = (
    ("POST", P.XPEERS), ("POST", P.PEERS), ("DELETE", P.PEER), ("DELETE", P.XPEERS))
PEER_ADMIN: Tuple[Tuple[str, str], ...] = (("DELETE", P.TASKS),)
# Body bytes of a refused request read and discarded so the client can read the refusal (beyond
# that the connection is closed instead).
REFUSED_DRAIN = 4 << 20


def _check_token(instance: object, attribute: attrs.Attribute[Optional[str]],
                 value: Optional[str]) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError("the VSS token must be a non-empty string")
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in value):
        raise InvalidArgumentError("the VSS token must be printable ASCII without spaces")


@attrs.frozen(kw_only=True)
class AuthConfig:
    """Who may call a VSS server.

    Attributes:
        token: the bearer token every request but ``/health`` must carry (None: no check).
        admin: serve the admin endpoints (False: they answer 403).
    """

    token: Optional[str] = attrs.field(default=None, repr=False, validator=_check_token)
    admin: bool = True

    @property
    def enabled(self) -> bool:
        """Whether any check applies."""
        return self.token is not None or not self.admin


class TokenGuard:
    """A WSGI app that checks the bearer token (and admin switch) before calling ``app``.

    Other attributes (``registry``, ``storage``, ``close``...) are those of the wrapped app.

    Thread safety: immutable after construction.

    Args:
        app: the wrapped WSGI app.
        config: the token and the admin switch.
        admin_routes: the app's admin endpoints as (method, ``_protocol`` template).
        strip_prefix: accept the optional ``/mictlanx`` prefix when matching paths.
    """

    def __init__(self, app: WSGIApp, config: AuthConfig, admin_routes: Sequence[Tuple[str, str]],
                 strip_prefix: bool = True) -> None:
        self.app = app
        self.config = config
        self._expected = P.bearer(config.token).encode() if config.token is not None else None
        self._admin: Tuple[Tuple[str, Pattern[str]], ...] = tuple(
            (method.upper(), P.compile_template(template)) for method, template in admin_routes)
        self._strip_prefix = strip_prefix

    def __getattr__(self, name: str) -> Any:
        if name == "app":  # not set yet (copy/pickle): no recursion
            raise AttributeError(name)
        return getattr(self.app, name)

    def _authorized(self, environ: Environ) -> bool:
        if self._expected is None:
            return True
        given = str(environ.get("HTTP_" + P.H_AUTHORIZATION.upper().replace("-", "_"), ""))
        try:
            raw = given.strip().encode("latin-1")
        except UnicodeEncodeError:
            raw = b""
        return hmac.compare_digest(raw, self._expected)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = raw_path(environ, self._strip_prefix)
        if path == P.HEALTH and method in ("GET", "HEAD"):
            return self.app(environ, start_response)
        if not self._authorized(environ):
            return self._refuse(environ, start_response, HTTPError(
                401, "missing or wrong bearer token (send 'Authorization: Bearer <token>')",
                ((P.H_WWW_AUTHENTICATE, f'{P.BEARER} realm="mictlanx-vss"'),)))
        if not self.config.admin and any(method == m and pattern.match(path)
                                         for m, pattern in self._admin):
            return self._refuse(environ, start_response,
                                HTTPError(403, "admin endpoints are disabled on this server"))
        return self.app(environ, start_response)

    @staticmethod
    def _refuse(environ: Environ, start_response: StartResponse, error: HTTPError) -> Iterable[bytes]:
        try:
            Request(environ, "/", 0).body.drain(REFUSED_DRAIN)
        except HTTPError:
            pass  # a malformed Content-Length: the connection is closed after the reply anyway
        response = json_response({"detail": error.detail}, error.status,
                                 (*error.headers, ("Connection", "close")))
        start_response(status_line(response.status), list(response.headers))
        return response.body


def protect(app: WSGIApp, config: AuthConfig, admin_routes: Sequence[Tuple[str, str]]) -> WSGIApp:
    """``app`` guarded by ``config`` (``app`` itself when ``config`` checks nothing)."""
    if not config.enabled:
        return app
    return TokenGuard(app, config, admin_routes, strip_prefix=bool(getattr(app, "strip_prefix", True)))
