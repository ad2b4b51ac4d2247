"""Frozen configuration: :class:`ClientConfig` made of :class:`Timeouts`, :class:`RetryConfig` and
:class:`TransferConfig`. Derive variants with ``attrs.evolve``.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Tuple, Union

import attrs

from .errors import InvalidArgumentError
from .units import parse_size

__all__ = ["Timeouts", "RetryConfig", "TransferConfig", "ClientConfig", "MAX_CHUNK_SIZE", "MAX_OBJECT_SIZE",
           "DEFAULT_MAX_REPLY_SIZE", "check_chunk_size", "merge_config"]

MAX_CHUNK_SIZE = 1 << 30
"""The largest chunk (1 GiB): a chunk is one request body, held in memory while it moves."""

MAX_OBJECT_SIZE = 1 << 50
"""The largest object size (1 PiB) this client believes a server about: metadata claiming more
(or a negative size) is a ``ProtocolError`` before anything is allocated or downloaded."""

DEFAULT_MAX_REPLY_SIZE = 64 << 20
"""The default largest JSON reply read (64 MiB, about 300,000 chunk entries in a listing)."""


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise InvalidArgumentError(f"{attribute.name} must be a positive finite number, got {value!r}")


def _positive_int(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{attribute.name} must be a positive integer, got {value!r}")


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise InvalidArgumentError(f"{attribute.name} must not be negative, got {value!r}")


def _optional_positive(instance: object, attribute: attrs.Attribute[Any], value: Optional[float]) -> None:
    if value is not None:
        _positive(instance, attribute, value)


def _size(value: Union[int, str]) -> int:
    return parse_size(value)


def check_chunk_size(value: Union[int, str]) -> int:
    """A chunk size in bytes, in 1..``MAX_CHUNK_SIZE``.

    Raises:
        InvalidArgumentError: it is not a size, or is out of range.
    """
    size = parse_size(value)
    if not 0 < size <= MAX_CHUNK_SIZE:
        raise InvalidArgumentError(f"chunk_size must be between 1 byte and 1 GiB, got {value!r}")
    return size


def _chunk_size(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    check_chunk_size(value)


@attrs.frozen(kw_only=True)
class Timeouts:
    """Finite timeouts in seconds.

    * ``connect``: to open one connection.
    * ``read``: the longest silence while waiting for a reply or its next bytes (per socket read).
    * ``metadata``: the deadline of one metadata call (a listing, a stat, a delete, a chunk
      listing), every retry, failover and backoff included; so against a router that accepts
      connections and never answers, ``ls``/``stat`` fail within ``metadata`` seconds.
    * ``operation``: an optional deadline of one whole operation (a put, a get, a listing...),
      chunks, retries and failovers included; None (the default) bounds a transfer only by the
      other timeouts, since its duration grows with its size. A body trickled byte by byte ends
      at the deadline in force (``metadata`` for metadata replies, ``operation`` for data).

    With the defaults a silent router fails a metadata call within 60 s and a put within about
    ``retry.chunk_attempts * read`` (90 s).
    """

    connect: float = attrs.field(default=5.0, validator=_positive)
    read: float = attrs.field(default=30.0, validator=_positive)
    metadata: float = attrs.field(default=60.0, validator=_positive)
    operation: Optional[float] = attrs.field(default=None, validator=_optional_positive)

    @classmethod
    def of(cls, timeout: float, deadline: Optional[float] = None) -> Timeouts:
        """Timeouts from one number (``Client(timeout=...)``, ``--timeout``): ``connect`` and
        ``read`` are ``timeout``, a metadata call gets ``3 * timeout`` (retries included), and
        ``deadline`` bounds whole operations.

        Raises:
            InvalidArgumentError: a value is not a positive finite number.
        """
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise InvalidArgumentError(f"timeout must be a positive finite number, got {timeout!r}")
        return cls(connect=timeout, read=timeout, metadata=3 * timeout, operation=deadline)

    def as_tuple(self) -> Tuple[float, float]:
        """``(connect, read)``, as requests takes it."""
        return (self.connect, self.read)


@attrs.frozen(kw_only=True)
class RetryConfig:
    """One retry policy.

    The HTTP adapter retries idempotent requests (GET, HEAD, DELETE) on connection errors and on
    429/502/503/504, honouring ``Retry-After``; the transfer engine retries each chunk's PUT
    (step 1 + step 2 together) up to ``chunk_attempts`` times with the same backoff.
    Sleep before attempt n is ``min(backoff_max, backoff_factor * 2**(n-1)) + random(0, backoff_jitter)``.
    """

    total: int = attrs.field(default=2, validator=_non_negative)
    backoff_factor: float = attrs.field(default=0.1, validator=_non_negative)
    backoff_max: float = attrs.field(default=5.0, validator=_non_negative)
    backoff_jitter: float = attrs.field(default=0.1, validator=_non_negative)
    status_forcelist: Tuple[int, ...] = (429, 502, 503, 504)
    allowed_methods: Tuple[str, ...] = ("GET", "HEAD", "DELETE")
    chunk_attempts: int = attrs.field(default=3, validator=_positive_int)

    def backoff(self, attempt: int, jitter: float) -> float:
        """Seconds to sleep before retry ``attempt`` (1-based), given a jitter draw in [0, 1)."""
        exponential = self.backoff_factor * float(2 ** max(0, attempt - 1))
        return min(self.backoff_max, exponential) + jitter * self.backoff_jitter


@attrs.frozen(kw_only=True)
class TransferConfig:
    """How objects are split and moved.

    ``chunk_size`` bytes per chunk; ``max_workers`` threads move chunks in parallel; at most
    ``window`` chunks are in flight at once, so a transfer holds at most ``chunk_size * window``
    bytes in memory (default 1 MB x 16 = 16 MB) whatever the object size.
    """

    chunk_size: int = attrs.field(default=1_000_000, converter=_size, validator=_chunk_size)
    max_workers: int = attrs.field(default=8, validator=_positive_int)
    window: int = attrs.field(default=0, validator=_non_negative)

    @property
    def effective_window(self) -> int:
        """The in-flight chunk limit (``2 * max_workers`` unless set)."""
        return self.window or 2 * self.max_workers


@attrs.frozen(kw_only=True)
class ClientConfig:
    """Everything a :class:`~mictlanx_sync.Client` needs besides its URI.

    ``verify`` is a bool or the path of a CA bundle, as in requests. ``max_reply_size`` is the
    largest JSON reply read from a server (bytes or a size string); a larger one, or one that
    declares a larger ``Content-Length``, is a ``ProtocolError`` and is not read.
    """

    timeouts: Timeouts = attrs.field(factory=Timeouts)
    retry: RetryConfig = attrs.field(factory=RetryConfig)
    transfer: TransferConfig = attrs.field(factory=TransferConfig)
    verify: Union[bool, str] = True
    router_cooldown: float = attrs.field(default=5.0, validator=_non_negative)
    max_reply_size: int = attrs.field(default=DEFAULT_MAX_REPLY_SIZE, converter=_size,
                                      validator=_positive_int)


def merge_config(config: Optional[ClientConfig], *, max_workers: Optional[int] = None,
                 chunk_size: Optional[Union[int, str]] = None,
                 verify: Optional[Union[bool, str]] = None) -> ClientConfig:
    """``config`` (or the defaults) with every argument that is not None put in its place:
    explicit arguments win over the config's values.

    Raises:
        InvalidArgumentError: an argument is out of range.

    Example:
        >>> merge_config(ClientConfig(), max_workers=2, chunk_size="256KiB").transfer.chunk_size
        262144
    """
    base = config if config is not None else ClientConfig()
    transfer = base.transfer
    if max_workers is not None:
        transfer = attrs.evolve(transfer, max_workers=max_workers)
    if chunk_size is not None:
        transfer = attrs.evolve(transfer, chunk_size=chunk_size)
    return attrs.evolve(base, transfer=transfer, verify=base.verify if verify is None else verify)
