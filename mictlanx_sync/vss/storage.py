"""Peer storage: data files plus a SQLite index of committed balls. No WSGI in here.

Layout under ``data_dir``::

    objects/<first 2 hex>/<sha256(bucket_id \\0 key) hex>   committed data (never named after the key)
    tmp/                                                  uploads in progress (removed at start)
    index.sqlite3                                         committed metadata (WAL)

Commit protocol: stream to a temp file while counting and hashing; refuse on size or checksum
mismatch (nothing stored); else fsync, ``os.replace`` into place and only then insert the metadata
row. So metadata is visible only once its data is durable, and a restart serves every committed ball.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from typing import Any, BinaryIO, Dict, Iterable, List, Optional, Tuple

import attrs

from .. import _protocol
from ..models import Metadata

__all__ = ["StorageConfig", "StorageError", "Storage", "Task", "CommitResult", "DiskUsage"]

_TASK_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_CHECKSUM_RE = re.compile(r"^[0-9a-fA-F]{64}$")
GIB = 1 << 30


class StorageError(Exception):
    """A refused storage operation, with the HTTP status and ``detail`` that describe it."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


def _bad(msg: str, **extra: Any) -> StorageError:
    return StorageError(400, {"msg": msg, "code": 400, **extra})


@attrs.frozen(kw_only=True)
class StorageConfig:
    """How a peer stores balls.

    Attributes:
        data_dir: the root directory (created if missing).
        peer_id: this peer's id (reported in replies).
        max_body_size: the largest ball accepted, in bytes (413 beyond it).
        task_ttl: seconds a pending task (step 1 without step 2) stays valid.
        capacity: the disk size to report (bytes); None means the real file system's size.
        fsync: fsync data files before they become visible.
    """

    data_dir: str
    peer_id: str = "mictlanx-peer-0"
    max_body_size: int = GIB
    task_ttl: float = 600.0
    capacity: Optional[int] = None
    fsync: bool = True


@attrs.frozen(kw_only=True)
class Task:
    """A pending upload: the metadata announced by step 1 and when it expires."""

    task_id: str
    metadata: Metadata
    expires: float


@attrs.frozen(kw_only=True)
class CommitResult:
    """A committed upload: its metadata, byte count and time taken (seconds)."""

    metadata: Metadata
    size: int
    seconds: float


@attrs.frozen(kw_only=True)
class DiskUsage:
    """Disk figures for stats: bytes used by balls, total and available bytes, utilisation."""

    used: int
    total: int
    available: int

    @property
    def uf(self) -> float:
        """Utilisation fraction ``1 - (total - used) / total``."""
        return 1.0 - (self.total - self.used) / self.total if self.total > 0 else 1.0


def object_name(bucket_id: str, key: str) -> str:
    """The data file name of ``(bucket_id, key)``: hex sha256 of ``bucket \\0 key``."""
    return hashlib.sha256(bucket_id.encode() + b"\0" + key.encode()).hexdigest()


def check_ids(**ids: str) -> None:
    """Refuse (400) any id that the sanitization rule would change."""
    for what, value in ids.items():
        problem = _protocol.id_problem(value, what)
        if problem is not None:
            raise _bad(problem)


_COLUMNS = ("bucket_id, key, ball_id, size, checksum, content_type, producer_id, tags, is_disabled, "
            "file, updated")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS balls (
    bucket_id TEXT NOT NULL, key TEXT NOT NULL, ball_id TEXT NOT NULL, size INTEGER NOT NULL,
    checksum TEXT NOT NULL, content_type TEXT NOT NULL, producer_id TEXT NOT NULL,
    tags TEXT NOT NULL, is_disabled INTEGER NOT NULL, file TEXT NOT NULL, updated INTEGER NOT NULL,
    PRIMARY KEY (bucket_id, key));
CREATE INDEX IF NOT EXISTS balls_by_ball_id ON balls (bucket_id, ball_id);
"""


def _row_metadata(row: Tuple[Any, ...]) -> Metadata:
    return Metadata(bucket_id=row[0], key=row[1], ball_id=row[2], size=row[3], checksum=row[4],
                    content_type=row[5], producer_id=row[6], tags=json.loads(row[7]),
                    is_disabled=bool(row[8]))


class Storage:
    """Balls of one peer on disk.

    Thread safety: every method may be called from many threads; the index and the task table
    each sit behind one short lock, and uploads stream outside any lock.

    Args:
        config: where and how to store.
    """

    def __init__(self, config: StorageConfig) -> None:
        self.config = config
        self.root = os.path.abspath(config.data_dir)
        self.objects_dir = os.path.join(self.root, "objects")
        self.tmp_dir = os.path.join(self.root, "tmp")
        os.makedirs(self.objects_dir, exist_ok=True)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        os.makedirs(self.tmp_dir, exist_ok=True)
        self._db_lock = threading.Lock()
        self._db = sqlite3.connect(os.path.join(self.root, "index.sqlite3"), check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL" if config.fsync else "PRAGMA synchronous=OFF")
        self._db.executescript(_SCHEMA)
        self._tasks: Dict[str, Task] = {}
        self._task_by_key: Dict[Tuple[str, str], str] = {}
        self._task_lock = threading.Lock()
        self._used = 0
        self._recover()

    # --- lifecycle --------------------------------------------------------------------------
    def _recover(self) -> None:
        """Drop index rows whose data file vanished and compute the used bytes."""
        with self._db_lock:
            rows = self._db.execute("SELECT bucket_id, key, file FROM balls").fetchall()
            for bucket_id, key, name in rows:
                if not os.path.isfile(self._file_path(name)):
                    self._db.execute("DELETE FROM balls WHERE bucket_id=? AND key=?", (bucket_id, key))
            self._used = int(self._db.execute("SELECT COALESCE(SUM(size), 0) FROM balls").fetchone()[0])

    def close(self) -> None:
        """Close the index."""
        with self._db_lock:
            self._db.close()

    def _file_path(self, name: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", name):
            raise StorageError(500, "corrupt index entry")
        return os.path.join(self.objects_dir, name[:2], name)

    # --- tasks ------------------------------------------------------------------------------
    def open_task(self, metadata: Metadata, *, task_id: Optional[str] = None,
                  update: bool = False) -> str:
        """PUT step 1: register a pending upload (or, with ``update``, rewrite stored metadata).

        Args:
            metadata: the announced ball.
            task_id: the id to use (the router's group id); a fresh one when None.
            update: overwrite the metadata of an existing ball in place (no upload follows).

        Returns:
            The task id.

        Raises:
            StorageError: 400 invalid metadata, 409 existing key without ``update``, 413 too large.
        """
        check_ids(bucket_id=metadata.bucket_id, key=metadata.key, ball_id=metadata.ball_id)
        problem = _protocol.content_type_problem(metadata.content_type)
        if problem is not None:
            raise _bad(problem)
        if task_id is None or task_id == "":
            task_id = uuid.uuid4().hex
        elif not _TASK_ID_RE.match(task_id):
            raise _bad("Task-Id must be 1-128 characters from [A-Za-z0-9_-]")
        if metadata.size < 0:
            raise _bad(f"size must not be negative, got {metadata.size}")
        if metadata.size > self.config.max_body_size:
            raise StorageError(413, f"size {metadata.size} exceeds the limit of "
                                    f"{self.config.max_body_size} bytes")
        if not _CHECKSUM_RE.match(metadata.checksum):
            raise _bad("checksum must be the 64-character hex SHA-256 of the data")
        metadata = attrs.evolve(metadata, checksum=metadata.checksum.lower())
        combined = _protocol.combined_key(metadata.bucket_id, metadata.key)
        with self._db_lock:
            row = self._db.execute("SELECT size, checksum FROM balls WHERE bucket_id=? AND key=?",
                                   (metadata.bucket_id, metadata.key)).fetchone()
            if row is not None:
                if not update:
                    raise StorageError(409, f"{combined} already exists")
                self._db.execute(
                    "UPDATE balls SET ball_id=?, content_type=?, producer_id=?, tags=?, is_disabled=?, "
                    "updated=? WHERE bucket_id=? AND key=?",
                    (metadata.ball_id, metadata.content_type, metadata.producer_id,
                     json.dumps(metadata.tags), int(metadata.is_disabled), time.time_ns(),
                     metadata.bucket_id, metadata.key))
                return task_id
        task = Task(task_id=task_id, metadata=metadata, expires=time.monotonic() + self.config.task_ttl)
        slot = (metadata.bucket_id, metadata.key)
        with self._task_lock:
            self._expire_locked()
            old = self._task_by_key.pop(slot, None)
            if old is not None:
                self._tasks.pop(old, None)
            clash = self._tasks.pop(task_id, None)
            if clash is not None:
                self._task_by_key.pop((clash.metadata.bucket_id, clash.metadata.key), None)
            self._tasks[task_id] = task
            self._task_by_key[slot] = task_id
        return task_id

    def _expire_locked(self) -> None:
        now = time.monotonic()
        for task_id in [t for t, task in self._tasks.items() if task.expires <= now]:
            task = self._tasks.pop(task_id)
            self._task_by_key.pop((task.metadata.bucket_id, task.metadata.key), None)

    def take_task(self, task_id: str) -> Task:
        """Claim a pending task (single use).

        Raises:
            StorageError: 404 when the task is unknown, expired or already used.
        """
        with self._task_lock:
            self._expire_locked()
            task = self._tasks.pop(task_id, None)
            if task is None:
                raise StorageError(404, f"Task({task_id[:140]}) not found")
            slot = (task.metadata.bucket_id, task.metadata.key)
            if self._task_by_key.get(slot) == task_id:
                del self._task_by_key[slot]
        return task

    def pending_task(self, task_id: str) -> Optional[Task]:
        """The pending task with this id, without claiming it."""
        with self._task_lock:
            self._expire_locked()
            return self._tasks.get(task_id)

    def flush_tasks(self) -> List[str]:
        """Drop every pending task; return their ids."""
        with self._task_lock:
            ids = list(self._tasks)
            self._tasks.clear()
            self._task_by_key.clear()
        return ids

    def _discard_task_for(self, bucket_id: str, key: str) -> None:
        with self._task_lock:
            task_id = self._task_by_key.pop((bucket_id, key), None)
            if task_id is not None:
                self._tasks.pop(task_id, None)

    # --- commit -----------------------------------------------------------------------------
    def commit(self, task: Task, pieces: Iterable[bytes]) -> CommitResult:
        """PUT step 2: store the bytes of a claimed task and make the ball visible.

        Args:
            task: from :meth:`take_task`.
            pieces: the data, in pieces of any size.

        Raises:
            StorageError: 400 size or checksum mismatch (nothing stored), 507 disk full.
        """
        meta = task.metadata
        started = time.perf_counter()
        digest = hashlib.sha256()
        count = 0
        fd, tmp_path = _mkstemp(self.tmp_dir)
        committed = False
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                for piece in pieces:
                    count += len(piece)
                    if count > meta.size:
                        raise _bad(f"Data size mismatch: received more than the declared {meta.size} "
                                   f"bytes", bucket_id=meta.bucket_id, key=meta.key, expected=meta.size)
                    digest.update(piece)
                    _write_all(out, piece)
                if count != meta.size:
                    raise _bad(f"Data size mismatch: {count} != {meta.size}", bucket_id=meta.bucket_id,
                               key=meta.key, expected=meta.size, received=count)
                checksum = digest.hexdigest()
                if checksum != meta.checksum:
                    raise _bad(f"Checksum mismatch: {checksum} != {meta.checksum}",
                               bucket_id=meta.bucket_id, key=meta.key, expected=meta.checksum,
                               received=checksum)
                if self.config.fsync:
                    os.fsync(out.fileno())
            name = object_name(meta.bucket_id, meta.key)
            final = self._file_path(name)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            with self._db_lock:
                old = self._db.execute("SELECT size FROM balls WHERE bucket_id=? AND key=?",
                                       (meta.bucket_id, meta.key)).fetchone()
                os.replace(tmp_path, final)
                committed = True
                self._db.execute(
                    f"INSERT OR REPLACE INTO balls ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (meta.bucket_id, meta.key, meta.ball_id, meta.size, meta.checksum,
                     meta.content_type, meta.producer_id, json.dumps(meta.tags),
                     int(meta.is_disabled), name, time.time_ns()))
                self._used += meta.size - (int(old[0]) if old else 0)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageError(507, "Insufficient storage: the disk is full") from exc
            raise
        finally:
            if not committed:
                _remove_quietly(tmp_path)
        seconds = max(time.perf_counter() - started, 1e-9)
        return CommitResult(metadata=meta, size=count, seconds=seconds)

    # --- reads ------------------------------------------------------------------------------
    def get(self, bucket_id: str, key: str) -> Metadata:
        """The committed metadata of ``(bucket_id, key)``.

        Raises:
            StorageError: 400 invalid id, 404 unknown (or not yet committed).
        """
        check_ids(bucket_id=bucket_id, key=key)
        with self._db_lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM balls WHERE bucket_id=? AND key=?",
                                   (bucket_id, key)).fetchone()
        if row is None:
            raise StorageError(404, f"{_protocol.combined_key(bucket_id, key)} not found")
        return _row_metadata(row)

    def open(self, bucket_id: str, key: str) -> Tuple[Metadata, BinaryIO]:
        """The metadata and an open data file of a committed, enabled ball (caller closes it).

        Raises:
            StorageError: 400 invalid id, 404 unknown, 403 disabled.
        """
        check_ids(bucket_id=bucket_id, key=key)
        with self._db_lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM balls WHERE bucket_id=? AND key=?",
                                   (bucket_id, key)).fetchone()
            if row is None:
                raise StorageError(404, f"{_protocol.combined_key(bucket_id, key)} not found")
            meta = _row_metadata(row)
            if meta.is_disabled:
                raise StorageError(403, f"{_protocol.combined_key(bucket_id, key)} is disabled")
            try:
                handle = open(self._file_path(row[9]), "rb", buffering=0)  # noqa: SIM115
            except FileNotFoundError as exc:
                raise StorageError(404, f"{_protocol.combined_key(bucket_id, key)} not found") from exc
        return meta, handle

    def _select(self, where: str, args: Tuple[Any, ...], start: int = 0,
                end: Optional[int] = None) -> List[Metadata]:
        with self._db_lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM balls {where} ORDER BY updated, rowid",
                                    args).fetchall()
        return [_row_metadata(row) for row in rows[start:end]]

    def list_bucket(self, bucket_id: str) -> List[Metadata]:
        """Every committed ball of a bucket (empty for an unknown bucket)."""
        check_ids(bucket_id=bucket_id)
        return self._select("WHERE bucket_id=?", (bucket_id,))

    def group(self, bucket_id: str, ball_id: str) -> List[Metadata]:
        """Every committed ball of a bucket whose metadata ``ball_id`` equals ``ball_id``."""
        check_ids(bucket_id=bucket_id, ball_id=ball_id)
        return self._select("WHERE bucket_id=? AND ball_id=?", (bucket_id, ball_id))

    def all_balls(self, start: int = 0, end: Optional[int] = None) -> List[Metadata]:
        """Every committed ball, oldest first, sliced ``[start:end]``."""
        return self._select("", (), start, end)

    def count(self) -> int:
        """The number of committed balls."""
        with self._db_lock:
            return int(self._db.execute("SELECT COUNT(*) FROM balls").fetchone()[0])

    def usage(self) -> DiskUsage:
        """Disk figures: used bytes (sum of ball sizes), total and available bytes."""
        fs = shutil.disk_usage(self.root)
        total = self.config.capacity if self.config.capacity is not None else fs.total
        with self._db_lock:
            used = self._used
        available = max(0, min(total - used, fs.free))
        return DiskUsage(used=used, total=total, available=available)

    # --- changes ----------------------------------------------------------------------------
    def delete(self, bucket_id: str, key: str) -> int:
        """Delete a ball (and any pending task for it); return how many were deleted (0 or 1)."""
        check_ids(bucket_id=bucket_id, key=key)
        self._discard_task_for(bucket_id, key)
        return self._delete_where("WHERE bucket_id=? AND key=?", (bucket_id, key))

    def delete_by_ball_id(self, bucket_id: str, ball_id: str) -> int:
        """Delete every ball of a bucket whose metadata ``ball_id`` matches; return the count."""
        check_ids(bucket_id=bucket_id, ball_id=ball_id)
        with self._task_lock:
            for task_id in [t for t, task in self._tasks.items()
                            if task.metadata.bucket_id == bucket_id and task.metadata.ball_id == ball_id]:
                task = self._tasks.pop(task_id)
                self._task_by_key.pop((task.metadata.bucket_id, task.metadata.key), None)
        return self._delete_where("WHERE bucket_id=? AND ball_id=?", (bucket_id, ball_id))

    def _delete_where(self, where: str, args: Tuple[Any, ...]) -> int:
        with self._db_lock:
            rows = self._db.execute(f"SELECT file, size FROM balls {where}", args).fetchall()
            self._db.execute(f"DELETE FROM balls {where}", args)
            for name, size in rows:
                _remove_quietly(self._file_path(name))
                self._used -= int(size)
        return len(rows)

    def disable(self, bucket_id: str, key: str) -> bool:
        """Mark a ball disabled; False when it is not stored (not an error)."""
        check_ids(bucket_id=bucket_id, key=key)
        with self._db_lock:
            cursor = self._db.execute("UPDATE balls SET is_disabled=1 WHERE bucket_id=? AND key=?",
                                      (bucket_id, key))
        return cursor.rowcount > 0


def _mkstemp(directory: str) -> Tuple[int, str]:
    name = os.path.join(directory, uuid.uuid4().hex + ".part")
    return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), name


def _write_all(out: Any, piece: bytes) -> None:
    view = memoryview(piece)
    while view:
        written = out.write(view)
        view = view[written:]


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
