"""Where a peer or router lives: a base URL, or the seed's ``ip_addr``/``port``/``protocol``/
``api_version`` keywords (PROTOCOL §2.1), and back.

``Peer(peer_id=..., ip_addr="localhost", port=24000, protocol="http", api_version=4)`` and
``Router(router_id=..., ip_addr=..., port=..., protocol=..., api_version=..., http2=...)`` are
the reference client's constructors; ours also take a base URL. Both forms end in one base URL
and the same attributes.
"""

from __future__ import annotations

from typing import Optional, Tuple
from urllib.parse import urlsplit

import attrs

from .errors import InvalidArgumentError

__all__ = ["Address", "resolve_address"]

API_VERSION = 4


@attrs.frozen(kw_only=True)
class Address:
    """A service's base URL and the parts the seed names it by."""

    base_url: str
    ip_addr: str
    port: int
    protocol: str
    api_version: int = API_VERSION


def _from_parts(ip_addr: str, port: Optional[int], protocol: str, *, omit_https_port: bool) -> str:
    if not isinstance(ip_addr, str) or not ip_addr.strip() or any(c in ip_addr for c in " \r\n\t?#@"):
        raise InvalidArgumentError(f"invalid ip_addr {ip_addr!r}: expected a hostname or IP (optionally /path)")
    if port is None or isinstance(port, bool) or not isinstance(port, int) or not -1 <= port <= 65535:
        raise InvalidArgumentError(f"invalid port {port!r}: expected an integer in 1..65535 (0 or -1: none)")
    host, slash, path = ip_addr.strip().partition("/")
    suffix = f"/{path}".rstrip("/") if slash else ""
    if port in (0, -1) or (omit_https_port and protocol == "https"):
        return f"{protocol}://{host}{suffix}"
    return f"{protocol}://{host}:{port}{suffix}"


def _from_url(base_url: str) -> Tuple[str, int, str]:
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError as exc:
        raise InvalidArgumentError(f"invalid base URL {base_url!r}: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgumentError(f"invalid base URL {base_url!r}: expected http(s)://host:port")
    host = parts.hostname + parts.path.rstrip("/")
    return host, port if port is not None else (443 if parts.scheme == "https" else 80), parts.scheme


def resolve_address(base_url: Optional[str], *, ip_addr: Optional[str], port: Optional[int],
                    protocol: Optional[str], api_version: Optional[int], kind: str) -> Address:
    """One :class:`Address` from either a base URL or the seed's keywords, never both.

    Args:
        base_url: ``http(s)://host:port[/path]``.
        ip_addr: the seed's host (a router's may carry a ``/path``).
        port: the seed's port; 0 or -1 leave it out of the URL, as does ``https`` for a router.
        protocol: ``http`` or ``https`` (default ``http`` with ``ip_addr``).
        api_version: only 4 is spoken.
        kind: ``"peer"`` or ``"router"`` (routers leave the port out on https, PROTOCOL §2.1).

    Raises:
        InvalidArgumentError: neither form, both forms, or a bad part (named in the message).
    """
    if api_version is not None and (isinstance(api_version, bool) or api_version != API_VERSION):
        raise InvalidArgumentError(f"api_version {api_version!r} is not supported: this client speaks "
                                   f"API v{API_VERSION}")
    if protocol is not None and protocol not in ("http", "https"):
        raise InvalidArgumentError(f"invalid protocol {protocol!r}: must be 'http' or 'https'")
    if base_url is not None:
        if ip_addr is not None or port is not None:
            raise InvalidArgumentError(f"give the {kind} either a base URL or ip_addr/port, not both")
        if not isinstance(base_url, str):
            raise InvalidArgumentError(f"base URL must be a string, not {type(base_url).__name__}")
        host, url_port, scheme = _from_url(base_url)
        if protocol is not None and protocol != scheme:
            raise InvalidArgumentError(f"protocol {protocol!r} contradicts the base URL {base_url!r}")
        return Address(base_url=base_url.rstrip("/"), ip_addr=host, port=url_port, protocol=scheme)
    if ip_addr is None:
        raise InvalidArgumentError(f"a {kind} needs a base URL, or ip_addr and port")
    scheme = protocol or "http"
    url = _from_parts(ip_addr, port, scheme, omit_https_port=kind == "router")
    assert port is not None
    return Address(base_url=url, ip_addr=ip_addr.strip().rstrip("/"), port=port, protocol=scheme)
