"""Peer storage: data files plus a SQLite index of committed balls. No WSGI in here.

Layout under ``data_dir``::

    objects/<first 2 hex>/<sha256(bucket_id \\0 key) hex>   committed data (never named after the key)
    tmp/                                                  uploads in progress (removed at start)
    index.sqlite3                                         committed metadata (WAL, synchronous=FULL)

Commit protocol (every step through the :class:`~mictlanx_sync.vss.diskio.FileSystem` seam):
stream to a temp file while counting and hashing; refuse on size or checksum mismatch (nothing
stored); else fsync the file, then, inside one index transaction, check that the key is still
free (compare-and-set: a committed ball is never replaced by different content), ``replace`` the
file into place, fsync its directory, insert the row and COMMIT. Only then does the peer answer
2xx, so an acknowledged ball survives a power cut. Any failure on the way (disk full included:
507) rolls back and removes the file, leaving no orphan.

One writer per key: step 1 claims the key (:class:`~mictlanx_sync.vss.claims.KeyClaims`) until the
upload ends; a second step 1 for different content is refused with 409 while the claim lasts.

Startup reconciles the index and the files: rows whose file is missing or has the wrong size are
dropped, files without a row (a crash between rename and commit) are removed, ``tmp/`` is emptied.
Expired tasks and stray temp files are also reclaimed while running (:meth:`Storage.reclaim`).
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
from typing import Any, BinaryIO, Dict, Iterable, List, Optional, Set, Tuple

import attrs

from .. import _protocol
from ..models import Metadata
from .claims import ClaimConflict, KeyClaims, content_identity
from .diskio import FileSystem

__all__ = ["StorageConfig", "StorageError", "Storage", "Task", "CommitResult", "DiskUsage", "Reclaimed",
           "FileSystem"]

_TASK_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_NAME_RE = re.compile(r"^[0-9a-f]{64}$")
GIB = 1 << 30
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class StorageError(Exception):
    """A refused storage operation, with the HTTP status and ``detail`` that describe it."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


def _bad(msg: str, **extra: Any) -> StorageError:
    return StorageError(400, {"msg": msg, "code": 400, **extra})


def _conflict(msg: str, bucket_id: str, key: str, **extra: Any) -> StorageError:
    return StorageError(409, {"msg": msg, "code": 409, "bucket_id": bucket_id, "key": key, **extra})


def _disk_full() -> StorageError:
    return StorageError(507, "Insufficient storage: the disk is full")


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    if isinstance(exc, sqlite3.OperationalError):
        return "full" in str(exc).lower()  # SQLITE_FULL: "database or disk is full"
    return False


@attrs.frozen(kw_only=True)
class StorageConfig:
    """How a peer stores balls.

    Attributes:
        data_dir: the root directory (created if missing).
        peer_id: this peer's id (reported in replies).
        max_body_size: the largest ball accepted, in bytes (413 beyond it).
        task_ttl: seconds a pending task (step 1 without step 2) stays valid.
        capacity: the disk size to report (bytes); None means the real file system's size.
        fsync: make each ball durable before acknowledging it (data file and directory fsync,
            index ``synchronous=FULL``); off is faster and loses acknowledged balls on a power cut.
        reclaim_interval: seconds between two passes of :meth:`Storage.reclaim` while serving.
    """

    data_dir: str
    peer_id: str = "mictlanx-peer-0"
    max_body_size: int = GIB
    task_ttl: float = 600.0
    capacity: Optional[int] = None
    fsync: bool = True
    reclaim_interval: float = 60.0


@attrs.frozen(kw_only=True)
class Task:
    """A pending upload: the metadata announced by step 1 and when it expires."""

    task_id: str
    metadata: Metadata
    expires: float


@attrs.frozen(kw_only=True)
class CommitResult:
    """A committed upload: its metadata, byte count and time taken (seconds).

    ``already_stored`` is True when the key already held this very content (a joined or repeated
    upload): nothing was written.
    """

    metadata: Metadata
    size: int
    seconds: float
    already_stored: bool = False


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


@attrs.frozen(kw_only=True)
class Reclaimed:
    """What :meth:`Storage.reclaim` or startup recovery removed."""

    tasks: int = 0
    temp_files: int = 0
    orphan_files: int = 0
    stale_rows: int = 0


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
    each sit behind one short lock, and uploads stream outside any lock (only the final
    check-rename-commit of an upload holds the index lock).

    Args:
        config: where and how to store.
        fs: the file-system operations (default: the operating system's). Pass a subclass of
            :class:`~mictlanx_sync.vss.diskio.FileSystem` to observe or fail them (tests).
    """

    def __init__(self, config: StorageConfig, fs: Optional[FileSystem] = None) -> None:
        self.config = config
        self.fs = fs if fs is not None else FileSystem()
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
        # FULL: a WAL commit is fsynced before COMMIT returns, so an acknowledged row is on disk.
        self._db.execute("PRAGMA synchronous=FULL" if config.fsync else "PRAGMA synchronous=OFF")
        self._db.executescript(_SCHEMA)
        self._tasks: Dict[str, Task] = {}
        self._task_lock = threading.Lock()
        self._claims = KeyClaims()
        self._active_tmp: Set[str] = set()
        self._used = 0
        self._next_reclaim = time.monotonic() + config.reclaim_interval
        self.recovered = self._recover()

    # --- lifecycle --------------------------------------------------------------------------
    def _recover(self) -> Reclaimed:
        """Reconcile the index and the files at startup.

        Rows whose file is missing or has another size are dropped (and such a file removed);
        files under ``objects/`` without a row (renamed into place but never committed) are
        removed. Computes the used bytes.
        """
        stale = orphans = 0
        with self._db_lock:
            rows = self._db.execute("SELECT bucket_id, key, file, size FROM balls").fetchall()
            known: Set[str] = set()
            for bucket_id, key, name, size in rows:
                path = self._file_path(name)
                try:
                    ok = os.path.getsize(path) == int(size)
                except OSError:
                    ok = False
                if ok:
                    known.add(name)
                    continue
                self._db.execute("DELETE FROM balls WHERE bucket_id=? AND key=?", (bucket_id, key))
                _remove_quietly(path)
                stale += 1
            for directory, _, files in os.walk(self.objects_dir):
                for name in files:
                    if name not in known:
                        _remove_quietly(os.path.join(directory, name))
                        orphans += 1
            self._used = int(self._db.execute("SELECT COALESCE(SUM(size), 0) FROM balls").fetchone()[0])
        return Reclaimed(orphan_files=orphans, stale_rows=stale)

    def close(self) -> None:
        """Close the index."""
        with self._db_lock:
            self._db.close()

    def _file_path(self, name: str) -> str:
        if not _NAME_RE.match(name):
            raise StorageError(500, "corrupt index entry")
        return os.path.join(self.objects_dir, name[:2], name)

    def reclaim(self) -> Reclaimed:
        """Drop expired tasks (freeing their keys) and remove temp files no upload is writing."""
        with self._task_lock:
            tasks = self._expire_locked()
        removed = 0
        with self._task_lock:
            active = set(self._active_tmp)
        try:
            names = os.listdir(self.tmp_dir)
        except OSError:
            names = []
        for name in names:
            path = os.path.join(self.tmp_dir, name)
            if path not in active:
                _remove_quietly(path)
                removed += 1
        return Reclaimed(tasks=tasks, temp_files=removed)

    def _maybe_reclaim(self) -> None:
        now = time.monotonic()
        if now >= self._next_reclaim:
            self._next_reclaim = now + self.config.reclaim_interval
            self.reclaim()

    # --- tasks ------------------------------------------------------------------------------
    def open_task(self, metadata: Metadata, *, task_id: Optional[str] = None,
                  update: bool = False) -> str:
        """PUT step 1: register a pending upload (or, with ``update``, rewrite stored metadata).

        The checksum may be any string (PROTOCOL §11.9): a body can only be stored when its
        SHA-256 equals it, so a checksum that is not hex is accepted here and refused at step 2.

        Args:
            metadata: the announced ball.
            task_id: the id to use (the router's group id); a fresh one when None.
            update: overwrite the metadata of an existing ball in place (no upload follows).

        Returns:
            The task id.

        Raises:
            StorageError: 400 invalid metadata, 409 existing key without ``update`` or an upload
                of different content in progress for the key, 413 too large.
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
        if _protocol.is_hex_checksum(metadata.checksum):
            metadata = attrs.evolve(metadata, checksum=metadata.checksum.lower())
        self._maybe_reclaim()
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
            clash = self._tasks.pop(task_id, None)
            if clash is not None:
                self._claims.release((clash.metadata.bucket_id, clash.metadata.key), task_id)
            try:
                self._claims.claim(slot, content_identity(metadata), task_id)
            except ClaimConflict:
                raise _conflict(f"{combined}: an upload of different content is in progress; "
                                f"try again later", metadata.bucket_id, metadata.key,
                                pending=True) from None
            self._tasks[task_id] = task
        return task_id

    def _expire_locked(self) -> int:
        now = time.monotonic()
        expired = [t for t, task in self._tasks.items() if task.expires <= now]
        for task_id in expired:
            task = self._tasks.pop(task_id)
            self._claims.release((task.metadata.bucket_id, task.metadata.key), task_id)
        return len(expired)

    def take_task(self, task_id: str) -> Task:
        """Claim a pending task (single use). The key stays claimed until :meth:`commit` ends.

        Raises:
            StorageError: 404 when the task is unknown, expired or already used.
        """
        with self._task_lock:
            self._expire_locked()
            task = self._tasks.pop(task_id, None)
            if task is None:
                raise StorageError(404, f"Task({task_id[:140]}) not found")
        return task

    def release_task(self, task: Task) -> None:
        """Free the key a taken task claimed without committing it (:meth:`commit` does this)."""
        self._claims.release((task.metadata.bucket_id, task.metadata.key), task.task_id)

    def pending_task(self, task_id: str) -> Optional[Task]:
        """The pending task with this id, without claiming it."""
        with self._task_lock:
            self._expire_locked()
            return self._tasks.get(task_id)

    def flush_tasks(self) -> List[str]:
        """Drop every pending task; return their ids."""
        with self._task_lock:
            tasks = list(self._tasks.values())
            self._tasks.clear()
            for task in tasks:
                self.release_task(task)
        return [t.task_id for t in tasks]

    def _discard_tasks_for(self, bucket_id: str, key: str, checksum: Optional[str] = None) -> None:
        with self._task_lock:
            for task_id in [t for t, task in self._tasks.items()
                            if task.metadata.bucket_id == bucket_id and task.metadata.key == key
                            and (checksum is None or task.metadata.checksum == checksum)]:
                self.release_task(self._tasks.pop(task_id))

    # --- commit -----------------------------------------------------------------------------
    def commit(self, task: Task, pieces: Iterable[bytes]) -> CommitResult:
        """PUT step 2: store the bytes of a claimed task and make the ball visible.

        The ball is durable (data file, directory entry and index row on disk) before this
        returns. Compare-and-set: when the key was committed meanwhile with the same content
        (:func:`~mictlanx_sync.vss.claims.content_identity`) nothing is written and
        ``already_stored`` is True; with different content the upload is refused.

        Args:
            task: from :meth:`take_task`.
            pieces: the data, in pieces of any size.

        Raises:
            StorageError: 400 size or checksum mismatch, 409 the key holds different content,
                507 disk full (at any stage, the index write included). Nothing is left behind.
        """
        try:
            return self._commit(task, pieces)
        except (OSError, sqlite3.OperationalError) as exc:
            if _is_disk_full(exc):
                raise _disk_full() from exc
            raise
        finally:
            self.release_task(task)

    def _commit(self, task: Task, pieces: Iterable[bytes]) -> CommitResult:
        meta = task.metadata
        started = time.perf_counter()
        tmp_path = os.path.join(self.tmp_dir, uuid.uuid4().hex + ".part")
        with self._task_lock:
            self._active_tmp.add(tmp_path)
        try:
            fd = self.fs.create(tmp_path)
            try:
                count = self._receive(fd, meta, pieces)
                if self.config.fsync:
                    self.fs.fsync(fd)
            finally:
                os.close(fd)
            already = self._place(meta, tmp_path)
        finally:
            _remove_quietly(tmp_path)  # gone already once renamed into place
            with self._task_lock:
                self._active_tmp.discard(tmp_path)
        seconds = max(time.perf_counter() - started, 1e-9)
        return CommitResult(metadata=meta, size=count, seconds=seconds, already_stored=already)

    def _receive(self, fd: int, meta: Metadata, pieces: Iterable[bytes]) -> int:
        digest = hashlib.sha256()
        count = 0
        for piece in pieces:
            count += len(piece)
            if count > meta.size:
                raise _bad(f"Data size mismatch: received more than the declared {meta.size} "
                           f"bytes", bucket_id=meta.bucket_id, key=meta.key, expected=meta.size)
            digest.update(piece)
            view = memoryview(piece)
            while view:
                view = view[self.fs.write(fd, view):]
        if count != meta.size:
            raise _bad(f"Data size mismatch: {count} != {meta.size}", bucket_id=meta.bucket_id,
                       key=meta.key, expected=meta.size, received=count)
        checksum = digest.hexdigest()
        if checksum != meta.checksum:
            raise _bad(f"Checksum mismatch: {checksum} != {meta.checksum}",
                       bucket_id=meta.bucket_id, key=meta.key, expected=meta.checksum,
                       received=checksum)
        return count

    def _place(self, meta: Metadata, tmp_path: str) -> bool:
        """Check-and-set inside one index transaction: rename into place, sync the directory,
        insert the row, commit. Returns True when the same content was already committed."""
        name = object_name(meta.bucket_id, meta.key)
        final = self._file_path(name)
        directory = os.path.dirname(final)
        if not os.path.isdir(directory):
            os.makedirs(directory, exist_ok=True)
            if self.config.fsync:
                self.fs.fsync_dir(self.objects_dir)
        with self._db_lock:
            self._db.execute("BEGIN IMMEDIATE")
            placed = False
            try:
                row = self._db.execute(f"SELECT {_COLUMNS} FROM balls WHERE bucket_id=? AND key=?",
                                       (meta.bucket_id, meta.key)).fetchone()
                if row is not None:
                    if content_identity(_row_metadata(row)) != content_identity(meta):
                        raise _conflict(f"{_protocol.combined_key(meta.bucket_id, meta.key)} was "
                                        f"committed with different content meanwhile; nothing stored",
                                        meta.bucket_id, meta.key)
                    self._db.execute("ROLLBACK")
                    return True
                self.fs.replace(tmp_path, final)
                placed = True
                if self.config.fsync:
                    self.fs.fsync_dir(directory)
                self._db.execute(
                    f"INSERT INTO balls ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (meta.bucket_id, meta.key, meta.ball_id, meta.size, meta.checksum,
                     meta.content_type, meta.producer_id, json.dumps(meta.tags),
                     int(meta.is_disabled), name, time.time_ns()))
                self.fs.commit_index(self._db)
            except BaseException:
                if self._db.in_transaction:
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                if placed:
                    _remove_quietly(final)  # no row points at it: never leave an orphan
                raise
            self._used += meta.size
        return False

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
    def delete(self, bucket_id: str, key: str, *, checksum: Optional[str] = None) -> int:
        """Delete a ball (and its pending tasks); return how many were deleted (0 or 1).

        Args:
            checksum: delete only when the stored checksum equals this one (a conditional delete:
                an upload's cleanup removes its own ball, never another writer's); pending tasks
                are then dropped only when they announced this checksum.

        Raises:
            StorageError: 409 the stored checksum differs (nothing deleted).

        Works on a full disk: the data file is removed first (freeing space), then the row
        (startup recovery drops a row whose file is gone, should the process stop in between).
        """
        check_ids(bucket_id=bucket_id, key=key)
        if checksum is not None and _protocol.is_hex_checksum(checksum):
            checksum = checksum.lower()
        self._discard_tasks_for(bucket_id, key, checksum)
        where, args = "WHERE bucket_id=? AND key=?", (bucket_id, key)
        if checksum is not None:
            with self._db_lock:
                row = self._db.execute("SELECT checksum FROM balls WHERE bucket_id=? AND key=?",
                                       args).fetchone()
                if row is not None and row[0] != checksum:
                    raise _conflict(f"{_protocol.combined_key(bucket_id, key)} holds other content "
                                    f"(checksum {row[0]}); nothing deleted", bucket_id, key,
                                    stored_checksum=row[0])
                return self._delete_where_locked(where + " AND checksum=?", (*args, checksum))
        with self._db_lock:
            return self._delete_where_locked(where, args)

    def delete_by_ball_id(self, bucket_id: str, ball_id: str) -> int:
        """Delete every ball of a bucket whose metadata ``ball_id`` matches; return the count."""
        check_ids(bucket_id=bucket_id, ball_id=ball_id)
        with self._task_lock:
            for task_id in [t for t, task in self._tasks.items()
                            if task.metadata.bucket_id == bucket_id and task.metadata.ball_id == ball_id]:
                self.release_task(self._tasks.pop(task_id))
        with self._db_lock:
            return self._delete_where_locked("WHERE bucket_id=? AND ball_id=?", (bucket_id, ball_id))

    def _delete_where_locked(self, where: str, args: Tuple[Any, ...]) -> int:
        rows = self._db.execute(f"SELECT file, size FROM balls {where}", args).fetchall()
        for name, _ in rows:
            _remove_quietly(self._file_path(name))
        try:
            self._db.execute(f"DELETE FROM balls {where}", args)
        except sqlite3.OperationalError as exc:
            if _is_disk_full(exc):
                raise _disk_full() from exc
            raise
        for _, size in rows:
            self._used -= int(size)
        return len(rows)

    def disable(self, bucket_id: str, key: str) -> bool:
        """Mark a ball disabled; False when it is not stored (not an error)."""
        check_ids(bucket_id=bucket_id, key=key)
        with self._db_lock:
            cursor = self._db.execute("UPDATE balls SET is_disabled=1 WHERE bucket_id=? AND key=?",
                                      (bucket_id, key))
        return cursor.rowcount > 0


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
