"""FileSink: chunks written at their offsets into a temp file beside the target, renamed into
place only after the whole object verified; removed on any failure."""

from __future__ import annotations

import os
import tempfile
import threading

from ..errors import InvalidArgumentError

__all__ = ["FileSink"]


def _umask() -> int:
    """The process umask, read without changing it (Linux); 0o022 when unknown."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _start_writeback(fd: int, offset: int, size: int) -> None:
    """Start writing a just-written range to disk without waiting for it.

    On Linux, ``POSIX_FADV_DONTNEED`` on dirty pages starts their writeback (and, being dirty,
    they stay cached), so by the time :meth:`FileSink.commit` calls ``fsync`` most of the file is
    already on disk: the disk works while the network does, instead of after it (``get_to_file``
    of 1 GiB on the benchmark VM: fsync 0.8-1.0 s -> ~0 s, about 16% faster end to end).
    """
    if size and hasattr(os, "posix_fadvise"):
        try:
            os.posix_fadvise(fd, offset, size, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass  # advice only: commit's fsync still makes the file durable


class FileSink:
    """A temp file in the target's directory that workers ``pwrite`` into.

    ``abort`` removes the temp file at once; the descriptor is closed only when no worker is in
    the middle of a write, so a late worker never writes into a reused descriptor.

    Thread safety: ``write`` may be called from many threads at once.

    Args:
        target: the final path.
        size: the object's size (the file is preallocated to it).
    """

    def __init__(self, target: str, size: int) -> None:
        self.target = target
        directory = os.path.dirname(os.path.abspath(target)) or "."
        if not os.path.isdir(directory):
            raise InvalidArgumentError(f"directory does not exist: {directory!r}")
        self._fd, self.temp_path = tempfile.mkstemp(prefix=".mictlanx-", suffix=".part", dir=directory)
        self._lock = threading.Lock()
        self._writers = 0
        self._closing = False
        self._fd_closed = False
        try:
            os.fchmod(self._fd, 0o666 & ~_umask())  # a new file's usual mode, not mkstemp's 0600
            if size:
                os.ftruncate(self._fd, size)
        except BaseException:
            self.abort()  # no .part file outlives a sink that could not be set up
            raise

    def write(self, data: bytes | bytearray | memoryview, offset: int) -> bool:
        """Write ``data`` at ``offset``; returns False (writing nothing) once the sink is aborted."""
        with self._lock:
            if self._closing:
                return False
            self._writers += 1
        try:
            view = memoryview(data)
            start = offset
            while view:
                written = os.pwrite(self._fd, view, offset)
                view = view[written:]
                offset += written
            _start_writeback(self._fd, start, offset - start)
            return True
        finally:
            with self._lock:
                self._writers -= 1
                self._maybe_close()

    def read(self, offset: int, size: int) -> bytes:
        """Read back ``size`` bytes written at ``offset`` (before commit or abort)."""
        return os.pread(self._fd, size, offset)

    def commit(self) -> str:
        """fsync, close and rename the temp file onto the target; returns the target path."""
        os.fsync(self._fd)
        with self._lock:
            self._closing = True
            self._maybe_close()
        os.replace(self.temp_path, self.target)
        return self.target

    def abort(self) -> None:
        """Remove the temp file; the descriptor closes once in-flight writes finish."""
        with self._lock:
            self._closing = True
            self._maybe_close()
        try:
            os.unlink(self.temp_path)
        except FileNotFoundError:
            pass

    def _maybe_close(self) -> None:
        if self._closing and self._writers == 0 and not self._fd_closed:
            os.close(self._fd)
            self._fd_closed = True
