"""The file-system operations a peer's commit depends on, as one replaceable object.

:class:`mictlanx_sync.vss.storage.Storage` does every write, fsync, rename, directory sync and
index commit through a :class:`FileSystem` (its ``fs=`` argument). The default one calls the
operating system. A subclass can record the order of the operations or make one of them fail
(``ENOSPC``, "database or disk is full"), which is how the durability and disk-full rules are
tested without timing and without filling a real disk.

The order a commit follows (and tests assert)::

    create(tmp) -> write* -> fsync(data file) -> replace(tmp, final) -> fsync_dir(final's directory)
           -> commit_index (SQLite COMMIT, synchronous=FULL) -> 2xx

Example:
    >>> import os, tempfile
    >>> fs = FileSystem()
    >>> d = tempfile.mkdtemp()
    >>> fd = os.open(os.path.join(d, "a"), os.O_WRONLY | os.O_CREAT)
    >>> fs.write(fd, memoryview(b"hi")), fs.fsync(fd), os.close(fd)
    (2, None, None)
    >>> fs.replace(os.path.join(d, "a"), os.path.join(d, "b")); fs.fsync_dir(d)
    >>> sorted(os.listdir(d))
    ['b']
"""

from __future__ import annotations

import os
import sqlite3

__all__ = ["FileSystem"]


class FileSystem:
    """The operating system's file operations, one method per durability step.

    Thread safety: stateless; subclasses that record must lock themselves.
    """

    def create(self, path: str) -> int:
        """Create a new private file for writing (fails if it exists); return its descriptor."""
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

    def write(self, fd: int, data: memoryview) -> int:
        """Write some of ``data`` to ``fd``; return how many bytes were written."""
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:
        """Make a data file's content durable."""
        os.fsync(fd)

    def replace(self, src: str, dst: str) -> None:
        """Atomically rename ``src`` over ``dst``."""
        os.replace(src, dst)

    def fsync_dir(self, path: str) -> None:
        """Make a directory's entries (a rename, a new file) durable."""
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def commit_index(self, db: sqlite3.Connection) -> None:
        """Commit the open index transaction (durable when the index runs ``synchronous=FULL``)."""
        db.execute("COMMIT")
