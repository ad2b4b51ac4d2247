"""RoundRobinBalancer: which router to use next, with a cool-down for routers that failed."""

from __future__ import annotations

import threading
import time
from typing import Callable, Dict, Generic, List, Sequence, TypeVar

from . import _fork

__all__ = ["RoundRobinBalancer"]

T = TypeVar("T")


class RoundRobinBalancer(Generic[T]):
    """Hands out routers round-robin; a router marked down is skipped for ``cooldown`` seconds.

    Thread safety: every method may be called from any thread (one short lock).

    Args:
        items: the routers, in URI order (at least one).
        cooldown: seconds a router stays marked down after a connection failure.
        clock: test seam returning monotonic seconds.

    Example:
        >>> b = RoundRobinBalancer(["r0", "r1"], cooldown=5.0)
        >>> b.candidates()[0], b.candidates()[0]
        ('r0', 'r1')
    """

    def __init__(self, items: Sequence[T], *, cooldown: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not items:
            raise ValueError("a balancer needs at least one item")
        self._items: List[T] = list(items)
        self._cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._next = 0
        self._down_until: Dict[int, float] = {}
        _fork.register(self, RoundRobinBalancer._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()  # another thread may have held it at the fork

    @property
    def items(self) -> List[T]:
        """Every router, in URI order."""
        return list(self._items)

    def candidates(self) -> List[T]:
        """Routers to try, in order: the up ones round-robin from the next turn, then the down
        ones (earliest recovery first), so a call still works when every router was marked down."""
        now = self._clock()
        with self._lock:
            start = self._next
            self._next = (self._next + 1) % len(self._items)
            if not self._down_until:  # every router up: the rotation itself
                return self._items[start:] + self._items[:start]
            order = [(start + i) % len(self._items) for i in range(len(self._items))]
            up = [i for i in order if self._down_until.get(i, 0.0) <= now]
            down = sorted((i for i in order if self._down_until.get(i, 0.0) > now),
                          key=lambda i: self._down_until[i])
        return [self._items[i] for i in up + down]

    def mark_down(self, item: T) -> None:
        """Skip ``item`` for the cool-down period."""
        with self._lock:
            index = self._index(item)
            self._down_until[index] = self._clock() + self._cooldown

    def mark_up(self, item: T) -> None:
        """Use ``item`` again at once."""
        with self._lock:
            self._down_until.pop(self._index(item), None)

    def is_down(self, item: T) -> bool:
        """Whether ``item`` is in its cool-down."""
        with self._lock:
            return self._down_until.get(self._index(item), 0.0) > self._clock()

    def _index(self, item: T) -> int:
        for i, candidate in enumerate(self._items):
            if candidate is item:
                return i
        raise ValueError(f"{item!r} is not managed by this balancer")
