"""A thread-safe cache of whole objects, bounded in bytes, with LRU or LFU eviction."""

from __future__ import annotations

import mmap
import threading
from collections import OrderedDict
from typing import Dict, Hashable, Optional, Tuple, Union

from . import _fork
from .errors import InvalidArgumentError

Data = Union[bytes, bytearray, mmap.mmap]

__all__ = ["Cache"]


class Cache:
    """Whole objects keyed by any hashable, each stored with a version tag (its checksum).

    ``get(key, version)`` returns the bytes only when the stored version matches, so a stale
    entry is never served. Objects larger than the capacity are not cached.

    Thread safety: every method may be called from any thread (one short lock).

    Args:
        capacity: the most bytes held at once (0 disables the cache).
        policy: ``"LRU"`` (least recently used goes first) or ``"LFU"`` (least frequently used).

    Example:
        >>> c = Cache(capacity=10)
        >>> c.put("a", b"12345", version="v1"); c.get("a", "v1"), c.get("a", "v2")
        (b'12345', None)
    """

    def __init__(self, capacity: int, policy: str = "LRU") -> None:
        if not isinstance(policy, str) or policy.upper() not in ("LRU", "LFU"):
            raise InvalidArgumentError(f"eviction policy must be 'LRU' or 'LFU', not {policy!r}")
        policy = policy.upper()
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
            raise InvalidArgumentError(f"cache capacity must be a non-negative number of bytes, not {capacity!r}")
        self.capacity = capacity
        self.policy = policy
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, Tuple[Data, str]] = OrderedDict()
        self._hits: Dict[Hashable, int] = {}
        self._used = 0
        _fork.register(self, Cache._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()  # another thread may have held it at the fork

    @property
    def used(self) -> int:
        """Bytes held now."""
        with self._lock:
            return self._used

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: object) -> bool:
        """Whether some version of ``key`` is cached (it may still be stale)."""
        with self._lock:
            return key in self._entries

    def get(self, key: Hashable, version: str) -> Optional[Data]:
        """The cached bytes of ``key`` if present with ``version``, else None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[1] != version:
                return None
            self._entries.move_to_end(key)
            self._hits[key] = self._hits.get(key, 0) + 1
            return entry[0]

    def put(self, key: Hashable, data: Data, version: str) -> None:
        """Store ``data`` under ``key``, evicting others as needed; too-large objects are skipped."""
        size = len(data)
        with self._lock:
            self._remove(key)
            if size > self.capacity:
                return
            while self._used + size > self.capacity and self._entries:
                self._remove(self._victim())
            self._entries[key] = (data, version)
            self._hits[key] = 1
            self._used += size

    def invalidate(self, key: Hashable) -> None:
        """Forget ``key``."""
        with self._lock:
            self._remove(key)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
            self._hits.clear()
            self._used = 0

    def _victim(self) -> Hashable:
        if self.policy == "LRU":
            return next(iter(self._entries))
        return min(self._entries, key=lambda k: self._hits.get(k, 0))

    def _remove(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._used -= len(entry[0])
            self._hits.pop(key, None)
