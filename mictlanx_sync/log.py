"""Logger factory: console output, and a file log safe across processes when a path is given."""

from __future__ import annotations

import logging
import os
import sys
from typing import Optional

__all__ = ["get_logger", "release_logger", "LOG_PATH_ENV"]

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


def release_logger(logger: logging.Logger) -> None:
    """Detach and close the handlers :func:`get_logger` attached to ``logger``."""
    for handler in list(logger.handlers):
        if (handler.get_name() or "").startswith("mictlanx-"):
            logger.removeHandler(handler)
            handler.close()


def get_logger(name: str, *, debug: bool = False, log_output_path: Optional[str] = None) -> logging.Logger:
    """A logger for one client: console at DEBUG when ``debug``; with ``log_output_path`` (or the
    ``MICTLANX_LOG_PATH`` environment variable) also a ``ConcurrentRotatingFileHandler`` writing
    ``<path>/<name>.log``. Handlers are attached once per logger name.

    Args:
        name: the logger name (``mictlanx_sync.client.<client_id>``).
        debug: log at DEBUG to the console.
        log_output_path: a directory for the rotating file log.
    """
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
        from concurrent_log_handler import ConcurrentRotatingFileHandler

        os.makedirs(path, exist_ok=True)
        handler = ConcurrentRotatingFileHandler(os.path.join(path, f"{name.rsplit('.', 1)[-1]}.log"),
                                                maxBytes=10_000_000, backupCount=5)
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.set_name("mictlanx-file")
        logger.addHandler(handler)
    return logger
