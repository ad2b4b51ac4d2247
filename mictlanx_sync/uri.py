"""``mictlanx://`` connection URIs: parse and build.

Grammar (PROTOCOL §2.2)::

    mictlanx://[router_id@]host[/path]:port[,[router_id@]host:port...][/]?protocol=http&api_version=4&http2=0

``protocol`` defaults to ``https`` (as in the reference), ``api_version`` to 4, ``http2`` to off.
``token`` (optional, ours) is the bearer token of a local VSS started with ``--token``; it never
appears in ``repr()``, ``str()`` or ``build()`` (unless ``build(include_token=True)``).
A router without an id gets ``mictlanx-router-{i}`` (its position), so ``build(parse(u))`` is the
canonical form of ``u`` and ``parse(build(x)) == x``.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, overload
from urllib.parse import parse_qsl, quote

import attrs

from .errors import InvalidURIError

__all__ = ["MictlanXURI", "RouterSpec", "DEFAULT_URI"]

SCHEME = "mictlanx://"
DEFAULT_URI = "mictlanx://mictlanx-router-0@localhost:60666/?protocol=http&api_version=4&http2=0"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_DIGITS_RE = re.compile(r"[0-9]+")
_HOST_RE = re.compile(r"[A-Za-z0-9._\-\[\]:]+(/[A-Za-z0-9._~\-/]*)?")


def _check_host(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not _HOST_RE.fullmatch(value):
        raise InvalidURIError(f"invalid host {value!r}: expected a hostname or IP, optionally with a /path")


def _check_port(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise InvalidURIError(f"invalid port {value!r}: must be an integer in 1..65535")


def _check_router_id(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise InvalidURIError(f"invalid router id {value!r}: use letters, digits, '.', '_' and '-'")


@attrs.frozen(kw_only=True)
class RouterSpec:
    """One router named by a URI: its id, host (possibly with a path) and port."""

    router_id: str = attrs.field(validator=_check_router_id)
    host: str = attrs.field(validator=_check_host)
    port: int = attrs.field(validator=_check_port)

    def base_url(self, protocol: str) -> str:
        """The router's base URL (``http://host:port``); ``https`` on port 443 omits the port."""
        if protocol == "https" and self.port == 443:
            return f"https://{self.host}"
        if "/" in self.host:
            host, _, path = self.host.partition("/")
            return f"{protocol}://{host}:{self.port}/{path}"
        return f"{protocol}://{self.host}:{self.port}"


def _check_protocol(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ("http", "https"):
        raise InvalidURIError(f"invalid protocol {value!r}: must be 'http' or 'https'")


def _to_routers(value: Iterable[RouterSpec]) -> Tuple[RouterSpec, ...]:
    return tuple(value)


def _check_routers(instance: object, attribute: attrs.Attribute[Tuple[RouterSpec, ...]],
                   value: Tuple[RouterSpec, ...]) -> None:
    if not value:
        raise InvalidURIError("no routers in URI: name at least one router as host:port")


def _check_token(instance: object, attribute: attrs.Attribute[Optional[str]], value: Optional[str]) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value or any(ord(c) < 0x21 or ord(c) > 0x7E for c in value):
        raise InvalidURIError("invalid token: must be non-empty printable ASCII without spaces")


def _check_api_version(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidURIError(f"invalid api_version {value!r}: must be a positive integer")


class _Build:
    """``uri.build()``: the canonical string of a parsed URI; ``MictlanXURI.build(routers)``: the
    seed's form, the URI string naming a list of routers (see :meth:`MictlanXURI.from_routers`)."""

    @overload
    def __get__(self, instance: None, owner: type) -> Callable[[Iterable[Any]], str]: ...

    @overload
    def __get__(self, instance: MictlanXURI, owner: type) -> Callable[..., str]: ...

    def __get__(self, instance: Optional[MictlanXURI], owner: type) -> Callable[..., str]:
        if instance is None:
            return _build_from_routers
        return functools.partial(MictlanXURI._canonical, instance)


def _build_from_routers(routers: Iterable[Any]) -> str:
    """The canonical URI string naming ``routers`` (``MictlanXURI.build(routers)``)."""
    return MictlanXURI.from_routers(routers)._canonical()


@attrs.frozen(kw_only=True)
class MictlanXURI:
    """A parsed ``mictlanx://`` URI: the routers to use and how to talk to them.

    Example:
        >>> uri = MictlanXURI.parse("mictlanx://r0@localhost:60666/?protocol=http")
        >>> uri.routers[0].port, uri.protocol, uri.api_version
        (60666, 'http', 4)
        >>> uri.build()
        'mictlanx://r0@localhost:60666/?protocol=http&api_version=4&http2=0'

    ``MictlanXURI.build(routers)`` (called on the class, as the seed does) names a list of
    :class:`~mictlanx_sync.Router` objects:

        >>> from mictlanx_sync import Router
        >>> MictlanXURI.build([Router(router_id="r0", ip_addr="localhost", port=60666, protocol="http",
        ...                           api_version=4)])
        'mictlanx://r0@localhost:60666/?protocol=http&api_version=4&http2=0'
    """

    routers: Tuple[RouterSpec, ...] = attrs.field(converter=_to_routers, validator=_check_routers)
    protocol: str = attrs.field(default="https", validator=_check_protocol)
    api_version: int = attrs.field(default=4, validator=_check_api_version)
    http2: bool = False
    token: Optional[str] = attrs.field(default=None, repr=False, validator=_check_token)

    @classmethod
    def parse(cls, uri: str) -> MictlanXURI:
        """Parse a URI string.

        Raises:
            InvalidURIError: the message names the bad part (scheme, router spec, port, query).
        """
        if not isinstance(uri, str):
            raise InvalidURIError(f"URI must be a string, not {type(uri).__name__}")
        text = uri.strip()
        if not text.lower().startswith(SCHEME):
            raise InvalidURIError(f"invalid URI {uri!r}: must start with {SCHEME!r}")
        body = text[len(SCHEME):]
        routers_part, _, query = body.partition("?")
        if routers_part.endswith("/"):
            routers_part = routers_part[:-1]
        if not routers_part.strip():
            raise InvalidURIError(f"invalid URI {uri!r}: no routers")
        specs = routers_part.split(",")
        routers: List[RouterSpec] = []
        for index, spec in enumerate(specs):
            if not spec.strip():
                raise InvalidURIError(
                    f"invalid URI {uri!r}: empty router spec at position {index} (no routers after ',')")
            routers.append(cls._parse_router(spec.strip(), index))
        options = cls._parse_query(query, uri)
        return cls(routers=tuple(routers), **options)

    @staticmethod
    def _parse_router(spec: str, index: int) -> RouterSpec:
        router_id, at, hostport = spec.rpartition("@")
        if not at:
            router_id = f"mictlanx-router-{index}"
        elif not router_id:
            raise InvalidURIError(f"invalid router spec {spec!r}: empty router id before '@'")
        host, colon, port_text = hostport.rpartition(":")
        if not colon or not host:
            raise InvalidURIError(f"invalid router spec {spec!r}: the port is mandatory (host:port)")
        if not _DIGITS_RE.fullmatch(port_text):
            raise InvalidURIError(f"invalid router spec {spec!r}: port {port_text!r} is not a number")
        return RouterSpec(router_id=router_id, host=host, port=int(port_text))

    @staticmethod
    def _parse_query(query: str, uri: str) -> Dict[str, Any]:
        options: Dict[str, Any] = {}
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
        except ValueError as exc:
            raise InvalidURIError(f"invalid query {query!r} in URI {uri!r}") from exc
        for name, value in pairs:
            if name == "protocol":
                options["protocol"] = value.lower()
            elif name == "api_version":
                if not _DIGITS_RE.fullmatch(value):
                    raise InvalidURIError(f"invalid api_version {value!r}: must be a positive integer")
                options["api_version"] = int(value)
            elif name == "http2":
                if value.lower() in _TRUE:
                    options["http2"] = True
                elif value.lower() in _FALSE:
                    options["http2"] = False
                else:
                    raise InvalidURIError(f"invalid http2 {value!r}: use 1/0, true/false, yes/no, on/off")
            elif name == "token":
                options["token"] = value
            else:
                raise InvalidURIError(
                    f"unknown query parameter {name!r}: expected protocol, api_version, http2 or token")
        return options

    build = _Build()

    @classmethod
    def from_routers(cls, routers: Iterable[Any]) -> MictlanXURI:
        """The URI naming ``routers``: :class:`~mictlanx_sync.Router` objects (or anything with
        ``router_id``, ``ip_addr``, ``port``, ``protocol``, ``api_version`` and ``http2``) or
        :class:`RouterSpec` values. ``MictlanXURI.build(routers)`` is ``from_routers(routers).build()``.

        Raises:
            InvalidURIError: no routers, or routers that disagree on protocol, api_version or http2.
        """
        specs: List[RouterSpec] = []
        options: Dict[str, Any] = {}
        for index, router in enumerate(routers):
            if isinstance(router, RouterSpec):
                specs.append(router)
                continue
            try:
                spec = RouterSpec(router_id=router.router_id or f"mictlanx-router-{index}",
                                  host=router.ip_addr, port=router.port)
                these = {"protocol": router.protocol, "api_version": router.api_version,
                         "http2": bool(getattr(router, "http2", False))}
            except AttributeError as exc:
                raise InvalidURIError(f"router {index} ({router!r}) has no router_id/ip_addr/port/protocol/"
                                      f"api_version") from exc
            for name, value in these.items():
                if options.setdefault(name, value) != value:
                    raise InvalidURIError(f"routers disagree on {name} ({options[name]!r} and {value!r}): "
                                          f"one URI carries one {name} for all its routers")
            specs.append(spec)
        if not specs:
            raise InvalidURIError("no routers: MictlanXURI.build needs at least one router")
        return cls(routers=tuple(specs), **options)

    def _canonical(self, include_token: bool = False) -> str:
        """The canonical URI string (``uri.build()``); the token only with ``include_token``
        (so a URI printed or logged never carries it)."""
        routers = ",".join(f"{r.router_id}@{r.host}:{r.port}" for r in self.routers)
        token = f"&token={quote(self.token, safe='')}" if include_token and self.token else ""
        return (f"{SCHEME}{routers}/?protocol={self.protocol}&api_version={self.api_version}"
                f"&http2={int(self.http2)}{token}")

    def router_urls(self) -> Tuple[str, ...]:
        """The base URL of every router, in URI order."""
        return tuple(r.base_url(self.protocol) for r in self.routers)

    def __str__(self) -> str:
        return self.build()
