"""Logger factory: console output, and a file log safe across processes when a path is given."""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from typing import Any, Optional

from . import _fork
from .errors import InvalidArgumentError

__all__ = ["get_logger", "release_logger", "check_rotation", "reaches_a_handler", "LOG_PATH_ENV"]

LOG_PATH_ENV = "MICTLANX_LOG_PATH"
_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class _ConsoleHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time of each record (like logging's last
    resort), so a redirected or replaced stderr never breaks logging."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


def _after_fork(handler: Any) -> None:
    """In a forked child: a fresh thread lock for a ``ConcurrentRotatingFileHandler`` (logging
    re-creates ``handler.lock`` itself; the handler reopens its lock file on its own)."""
    if hasattr(handler, "_thread_lock"):
        handler._thread_lock = threading.RLock()


def reaches_a_handler(logger: logging.Logger, level: int) -> bool:
    """Whether a record of ``level`` logged on ``logger`` would reach anything: a handler that
    takes it (``Logger.callHandlers``' walk up the hierarchy; a ``NullHandler`` drops it), logging's
    last resort, or a filter of ``logger`` itself (it runs, and may act, before any handler). When this is False,
    ``logger.log(level, ...)`` only builds a record that nobody sees; skipping it is cheaper.
    """
    if not logger.isEnabledFor(level):
        return False
    if logger.filters:
        return True
    found = False
    current: Optional[logging.Logger] = logger
    while current is not None:
        for handler in current.handlers:
            found = True  # counts as found, as in ``callHandlers``: no last resort then
            if level >= handler.level and type(handler) is not logging.NullHandler:
                return True  # (a NullHandler, the package's own, does nothing with a record)
        if not current.propagate:
            break
        current = current.parent
    if found:
        return False
    last = logging.lastResort
    return last is None or level >= last.level


def release_logger(logger: logging.Logger) -> None:
    """Detach and close the handlers :func:`get_logger` attached to ``logger``."""
    for handler in list(logger.handlers):
        if (handler.get_name() or "").startswith("mictlanx-"):
            logger.removeHandler(handler)
            handler.close()


_WHEN_RE = re.compile(r"(?i)s|m|h|d|midnight|w[0-6]")


def check_rotation(log_when: Optional[str], log_interval: int) -> None:
    """Validate time-based rotation options (as :class:`logging.handlers.TimedRotatingFileHandler`).

    Raises:
        InvalidArgumentError: ``log_when`` is not S, M, H, D, MIDNIGHT or W0..W6 (any case), or
            ``log_interval`` is not a positive integer.
    """
    if log_when is not None and (not isinstance(log_when, str) or not _WHEN_RE.fullmatch(log_when)):
        raise InvalidArgumentError(f"log_when must be one of S, M, H, D, MIDNIGHT, W0..W6, got {log_when!r}")
    if isinstance(log_interval, bool) or not isinstance(log_interval, int) or log_interval < 1:
        raise InvalidArgumentError(f"log_interval must be a positive integer, got {log_interval!r}")


def get_logger(name: str, *, debug: bool = False, log_output_path: Optional[str] = None,
               log_when: Optional[str] = None, log_interval: int = 1) -> logging.Logger:
    """A logger for one client: console at DEBUG when ``debug``; with ``log_output_path`` (or the
    ``MICTLANX_LOG_PATH`` environment variable) also a file log ``<path>/<name>.log``, safe across
    processes: rotated by size (``ConcurrentRotatingFileHandler``, 10 MB x 5) or, with
    ``log_when``, by time (``ConcurrentTimedRotatingFileHandler``: every ``log_interval`` units of
    ``log_when``, 5 backups), as the reference client's ``when``/``interval``. Handlers are
    attached once per logger name.

    Args:
        name: the logger name (``mictlanx_sync.client.<client_id>``).
        debug: log at DEBUG to the console.
        log_output_path: a directory for the rotating file log.
        log_when: ``"S"``, ``"M"``, ``"H"``, ``"D"``, ``"MIDNIGHT"`` or ``"W0"``..``"W6"``.
        log_interval: how many ``log_when`` units per file.

    Raises:
        InvalidArgumentError: bad rotation options.
    """
    check_rotation(log_when, log_interval)
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = True
    if any(h.get_name() and h.get_name().startswith("mictlanx-") for h in logger.handlers):
        return logger
    if debug:
        console = _ConsoleHandler()
        console.setLevel(logging.DEBUG)
        console.setFormatter(logging.Formatter(_FORMAT))
        console.set_name("mictlanx-console")
        logger.addHandler(console)
        logger.propagate = False
    path = log_output_path or os.environ.get(LOG_PATH_ENV)
    if path:
        from concurrent_log_handler import ConcurrentRotatingFileHandler, ConcurrentTimedRotatingFileHandler

        os.makedirs(path, exist_ok=True)
        filename = os.path.join(path, f"{name.rsplit('.', 1)[-1]}.log")
        handler: logging.Handler
        if log_when is None:
            handler = ConcurrentRotatingFileHandler(filename, maxBytes=10_000_000, backupCount=5)
        else:
            handler = ConcurrentTimedRotatingFileHandler(filename, when=log_when.upper(), interval=log_interval,
                                                         backupCount=5)
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.set_name("mictlanx-file")
        _fork.register(handler, _after_fork)
        logger.addHandler(handler)
    return logger
