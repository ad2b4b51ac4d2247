"""Deadlines: an overall bound on one operation or call, retries and backoff included.

A per-socket read timeout alone bounds only one wait: a server that answers one byte per second,
or a call retried on every router with backoff, can take any time. A deadline is a point in
monotonic time set around a call with :func:`within`; everything under it (every request, every
retry, every backoff sleep, every read of a reply body) checks it and stops with
:class:`~mictlanx_sync.errors.RequestTimeoutError` once it has passed. Deadlines nest: an inner
one never extends an outer one.

The deadline lives in a :class:`contextvars.ContextVar`, so it follows the call into the worker
threads of a transfer (the transfer manager runs each task in a copy of the caller's context).
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from typing import ContextManager, Iterator, Optional, Tuple

from .errors import RequestTimeoutError

__all__ = ["within", "fresh", "remaining", "check", "clamp"]

_deadline: contextvars.ContextVar[Optional[Tuple[float, float]]] = contextvars.ContextVar(
    "mictlanx_sync_deadline", default=None)


class _Within:
    """The context manager :func:`within` returns (a class: a generator-based one costs several
    calls more, and one runs around every request)."""

    __slots__ = ("_seconds", "_token")

    def __init__(self, seconds: Optional[float]) -> None:
        self._seconds = seconds
        self._token: Optional[contextvars.Token[Optional[Tuple[float, float]]]] = None

    def __enter__(self) -> None:
        seconds = self._seconds
        if seconds is None:
            return
        at = time.monotonic() + seconds
        outer = _deadline.get()
        self._token = _deadline.set((at, seconds) if outer is None or at < outer[0] else outer)

    def __exit__(self, *exc: object) -> None:
        token = self._token
        if token is not None:
            self._token = None
            _deadline.reset(token)


def within(seconds: Optional[float]) -> ContextManager[None]:
    """Run the block under a deadline ``seconds`` from now (None: no new bound; the enclosing
    deadline, if any, still applies)."""
    return _Within(seconds)


@contextlib.contextmanager
def fresh(seconds: float) -> Iterator[None]:
    """Run the block under a new deadline ``seconds`` from now that replaces the enclosing one,
    for work that must still happen after an operation ran out of time (its cleanup)."""
    token = _deadline.set((time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> Optional[float]:
    """Seconds left before the current deadline (may be <= 0), or None without one."""
    current = _deadline.get()
    return None if current is None else current[0] - time.monotonic()


def check(what: str, *, bucket_id: Optional[str] = None, key: Optional[str] = None) -> None:
    """Raise ``RequestTimeoutError`` naming ``what`` when the current deadline has passed."""
    current = _deadline.get()
    if current is not None and time.monotonic() >= current[0]:
        raise RequestTimeoutError(f"{what}: gave up after the deadline of {current[1]:g} s",
                                  bucket_id=bucket_id, key=key)


def clamp(seconds: float) -> float:
    """``seconds``, or less when the current deadline comes sooner (never below 1 ms)."""
    return clamp_pair(seconds, seconds)[0]


def clamp_pair(first: float, second: float) -> Tuple[float, float]:
    """:func:`clamp` of two limits (a connect and a read timeout), reading the deadline once."""
    left = remaining()
    if left is None:
        return first, second
    return max(0.001, min(first, left)), max(0.001, min(second, left))
