"""Progress reporting: a monotonic, clamped byte counter that calls back (or draws a tqdm bar)."""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional, Union

__all__ = ["Progress", "ProgressArg"]

ProgressCallback = Callable[[int, int], None]
ProgressArg = Union[None, bool, ProgressCallback]


class Progress:
    """Counts bytes done out of a total and reports ``(bytes_done, bytes_total)``.

    Bytes are added when a chunk completes (never while it is retried), so the count never goes
    backwards and never exceeds the total. Callbacks run on worker threads, outside the lock.

    Thread safety: ``add`` may be called from any thread.

    Args:
        total: the object's size in bytes.
        target: a callback ``(done, total)``, ``True`` for a tqdm bar (when tqdm is installed), or
            None/False for nothing.
        description: the tqdm bar's label.
    """

    def __init__(self, total: int, target: ProgressArg = None, description: str = "") -> None:
        self.total = total
        self._done = 0
        self._lock = threading.Lock()
        self._callback: Optional[ProgressCallback] = None
        self._bar: Any = None
        if target is True:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, unit="B", unit_scale=True, desc=description, leave=False)
        elif callable(target):
            self._callback = target

    @property
    def done(self) -> int:
        """Bytes counted so far."""
        return self._done

    def add(self, num_bytes: int) -> None:
        """Count ``num_bytes`` more (clamped to the total) and report."""
        with self._lock:
            new = min(self.total, self._done + max(0, num_bytes))
            delta = new - self._done
            self._done = new
        if self._bar is not None and delta:
            self._bar.update(delta)
        if self._callback is not None:
            self._callback(new, self.total)

    def close(self) -> None:
        """Close the tqdm bar, if any."""
        if self._bar is not None:
            self._bar.close()
