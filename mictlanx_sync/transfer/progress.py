"""Progress reporting: a monotonic, clamped byte counter that calls back (or draws a tqdm bar)."""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional, Union

from .. import _fork

__all__ = ["Progress", "ProgressArg"]

ProgressCallback = Callable[[int, int], None]
ProgressArg = Union[None, bool, ProgressCallback]


class Progress:
    """Counts bytes done out of a total and reports ``(bytes_done, bytes_total)``.

    Bytes are added when a chunk completes (never while it is retried), so the count never goes
    backwards and never exceeds the total. Callbacks run on worker threads, one at a time.

    Thread safety: ``add`` may be called from any thread.

    Args:
        total: the object's size in bytes.
        target: a callback ``(done, total)``, ``True`` for a ``tqdm.auto`` bar that stays when
            finished (when tqdm is installed), or
            None/False for nothing.
        description: the tqdm bar's label.
    """

    def __init__(self, total: int, target: ProgressArg = None, description: str = "") -> None:
        self.total = total
        self._done = 0
        self._lock = threading.Lock()
        self._report_lock = threading.Lock()
        self._reported = -1  # the count last reported (-1: none yet, so an empty transfer reports 0)
        self._callback: Optional[ProgressCallback] = None
        self._bar: Any = None
        if target is True:
            try:  # tqdm.auto: a widget in notebooks, text in terminals
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:  # leave=True: a finished bar stays, showing size, time and rate
                self._bar = tqdm(total=total, unit="B", unit_scale=True, desc=description, leave=True)
        elif callable(target):
            self._callback = target
        _fork.register(self, Progress._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()  # a worker may have held them at the fork
        self._report_lock = threading.Lock()

    @property
    def done(self) -> int:
        """Bytes counted so far."""
        return self._done

    def add(self, num_bytes: int) -> None:
        """Count ``num_bytes`` more (clamped to the total) and report the latest count.

        Reports are serialized and each reports the count as it is when its turn comes, so a
        slow callback on one worker never makes a later report carry an older count; a count
        already reported is not reported again.
        """
        with self._lock:
            self._done = min(self.total, self._done + max(0, num_bytes))
        with self._report_lock:
            current = self._done
            if current == self._reported:
                return
            if self._bar is not None:
                self._bar.update(current - max(0, self._reported))
            self._reported = current
            if self._callback is not None:
                self._callback(current, self.total)

    def close(self) -> None:
        """Close the tqdm bar, if any."""
        if self._bar is not None:
            self._bar.close()
