"""Peer storage durability, one writer per key and disk full (issue 11, items 1, 2 and 5).

Every file-system step goes through an injected :class:`FileSystem` (the documented ``fs=``
argument of :class:`Storage`): a recorder asserts the order of the durability operations, a
failing one plays the full disk. No timing, no real disk filling.
"""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import threading
from typing import Any, List, Optional, Tuple

import pytest

from mictlanx_sync.models import Metadata
from mictlanx_sync.vss.diskio import FileSystem
from mictlanx_sync.vss.storage import Storage, StorageConfig, StorageError, Task, object_name


def _meta(key: str = "k", data: bytes = b"hello", **tags: str) -> Metadata:
    return Metadata(key=key, size=len(data), checksum=hashlib.sha256(data).hexdigest(), tags=dict(tags),
                    content_type="text/plain", producer_id="p", ball_id=key, bucket_id="b")


def _put(storage: Storage, data: bytes = b"hello", key: str = "k", **tags: str) -> Any:
    task = storage.take_task(storage.open_task(_meta(key, data, **tags)))
    return storage.commit(task, [data[:2], data[2:]])


def _files(root: str) -> List[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


class Recorder(FileSystem):
    """Records every durability operation; checks the index at commit time."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.ops: List[Tuple[str, ...]] = []
        self.synchronous: Optional[int] = None
        self.journal: Optional[str] = None

    def write(self, fd: int, data: memoryview) -> int:
        self.ops.append(("write",))
        return super().write(fd, data)

    def fsync(self, fd: int) -> None:
        self.ops.append(("fsync", os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else ""))
        super().fsync(fd)

    def replace(self, src: str, dst: str) -> None:
        self.ops.append(("replace", src, dst))
        super().replace(src, dst)

    def fsync_dir(self, path: str) -> None:
        self.ops.append(("fsync_dir", path))
        super().fsync_dir(path)

    def commit_index(self, db: sqlite3.Connection) -> None:
        self.synchronous = db.execute("PRAGMA synchronous").fetchone()[0]
        self.journal = db.execute("PRAGMA journal_mode").fetchone()[0]
        # Another reader must not see the row before COMMIT: it is not acknowledged yet.
        other = sqlite3.connect(os.path.join(self.root, "index.sqlite3"))
        try:
            self.ops.append(("visible_before_commit", str(other.execute("SELECT COUNT(*) FROM balls").fetchone()[0])))
        finally:
            other.close()
        super().commit_index(db)
        self.ops.append(("commit_index",))


def test_commit_order_fsync_rename_dirsync_then_index_commit(tmp_path):
    root = str(tmp_path / "data")
    rec = Recorder(root)
    storage = Storage(StorageConfig(data_dir=root), fs=rec)
    try:
        result = _put(storage, b"durable bytes")
        assert not result.already_stored
        names = [op[0] for op in rec.ops]
        final = os.path.join(storage.objects_dir, object_name("b", "k")[:2], object_name("b", "k"))
        # first ball: the new objects/<xx>/ directory is synced into objects/ first
        assert names == ["write", "write", "fsync", "fsync_dir", "replace", "fsync_dir",
                         "visible_before_commit", "commit_index"], rec.ops
        assert rec.ops[3] == ("fsync_dir", storage.objects_dir)
        replace = rec.ops[4]
        assert replace[1].startswith(storage.tmp_dir) and replace[2] == final
        assert rec.ops[2][1] in ("", replace[1])  # the fsynced file is the one renamed
        assert rec.ops[5] == ("fsync_dir", os.path.dirname(final))
        assert rec.ops[6] == ("visible_before_commit", "0")
        assert rec.synchronous == 2 and rec.journal == "wal"  # FULL: COMMIT syncs the WAL
        # a second ball in the same objects/<xx>/ directory: no directory creation, same order
        prefix = object_name("b", "k")[:2]
        neighbour = next(f"n{i}" for i in range(100000) if object_name("b", f"n{i}")[:2] == prefix)
        rec.ops.clear()
        _put(storage, b"more", key=neighbour)
        assert [op[0] for op in rec.ops] == ["write", "write", "fsync", "replace", "fsync_dir",
                                             "visible_before_commit", "commit_index"], rec.ops
        assert rec.ops[5] == ("visible_before_commit", "1")
    finally:
        storage.close()


def test_no_fsync_config_skips_syncs_but_keeps_the_order(tmp_path):
    root = str(tmp_path / "data")
    rec = Recorder(root)
    storage = Storage(StorageConfig(data_dir=root, fsync=False), fs=rec)
    try:
        _put(storage, b"x")
        assert [op[0] for op in rec.ops] == ["write", "replace", "visible_before_commit", "commit_index"]
        assert rec.synchronous == 0
    finally:
        storage.close()


class Full(FileSystem):
    """A disk that fills up at one stage."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.failures = 0

    def _maybe(self, stage: str) -> None:
        if stage == self.stage:
            self.failures += 1
            raise OSError(errno.ENOSPC, "No space left on device")

    def create(self, path: str) -> int:
        self._maybe("create")
        return super().create(path)

    def write(self, fd: int, data: memoryview) -> int:
        self._maybe("write")
        return super().write(fd, data)

    def fsync(self, fd: int) -> None:
        self._maybe("fsync")
        super().fsync(fd)

    def replace(self, src: str, dst: str) -> None:
        self._maybe("replace")
        super().replace(src, dst)

    def fsync_dir(self, path: str) -> None:
        self._maybe("fsync_dir")
        super().fsync_dir(path)

    def commit_index(self, db: sqlite3.Connection) -> None:
        if self.stage == "index":
            self.failures += 1
            raise sqlite3.OperationalError("database or disk is full")
        super().commit_index(db)


@pytest.mark.parametrize("stage", ["create", "write", "fsync", "replace", "fsync_dir", "index"])
def test_disk_full_at_every_stage_is_507_and_leaves_nothing(tmp_path, stage):
    root = str(tmp_path / "data")
    fs = Full("none")
    storage = Storage(StorageConfig(data_dir=root), fs=fs)
    try:
        _put(storage, b"already stored", key="old")
        before = _files(storage.objects_dir)
        fs.stage = stage
        with pytest.raises(StorageError) as info:
            _put(storage, b"does not fit", key="new")
        assert info.value.status == 507 and fs.failures == 1
        assert _files(storage.objects_dir) == before  # the renamed file was removed again
        assert os.listdir(storage.tmp_dir) == []
        assert storage.count() == 1 and storage.usage().used == len(b"already stored")
        with pytest.raises(StorageError) as missing:
            storage.get("b", "new")
        assert missing.value.status == 404
        # the key is free again (no claim left behind) and a delete works on the full disk
        storage.open_task(_meta("new", b"other content"))
        assert storage.delete("b", "old") == 1 and _files(storage.objects_dir) == []
        fs.stage = "none"
        _put(storage, b"does not fit", key="new2")
        assert storage.get("b", "new2").size == len(b"does not fit")
    finally:
        storage.close()


def test_startup_reconciles_files_and_rows(tmp_path):
    root = str(tmp_path / "data")
    config = StorageConfig(data_dir=root)
    s = Storage(config)
    _put(s, b"kept", key="kept")
    _put(s, b"file gone", key="gone")
    _put(s, b"file short", key="short")
    s.close()
    name = object_name("b", "gone")
    os.remove(os.path.join(root, "objects", name[:2], name))
    short = object_name("b", "short")
    with open(os.path.join(root, "objects", short[:2], short), "r+b") as f:
        f.truncate(3)
    # a crash after the rename but before the index COMMIT leaves a file without a row
    orphan = object_name("b", "orphan")
    os.makedirs(os.path.join(root, "objects", orphan[:2]), exist_ok=True)
    with open(os.path.join(root, "objects", orphan[:2], orphan), "wb") as f:
        f.write(b"never acknowledged")
    with open(os.path.join(root, "tmp", "upload.part"), "wb") as f:
        f.write(b"half")
    s2 = Storage(config)
    try:
        assert s2.recovered.orphan_files == 1 and s2.recovered.stale_rows == 2
        kept = object_name("b", "kept")
        assert _files(os.path.join(root, "objects")) == [os.path.join(kept[:2], kept)]
        assert os.listdir(s2.tmp_dir) == []
        assert [m.key for m in s2.all_balls()] == ["kept"] and s2.usage().used == 4
        meta, handle = s2.open("b", "kept")
        with handle:
            assert handle.read() == b"kept"
    finally:
        s2.close()


def test_reclaim_frees_expired_tasks_and_stray_temp_files(tmp_path):
    s = Storage(StorageConfig(data_dir=str(tmp_path), task_ttl=0.0))
    try:
        s.open_task(_meta(data=b"abandoned"))  # expires at once
        with open(os.path.join(s.tmp_dir, "stray.part"), "wb") as f:
            f.write(b"left by a crashed upload")
        reclaimed = s.reclaim()
        assert reclaimed.tasks == 1 and reclaimed.temp_files == 1 and os.listdir(s.tmp_dir) == []
    finally:
        s.close()


def test_reclaim_keeps_the_temp_file_of_an_upload_in_progress(tmp_path):
    s = Storage(StorageConfig(data_dir=str(tmp_path)))
    started, release = threading.Event(), threading.Event()

    def pieces():
        yield b"he"
        started.set()
        release.wait(10)
        yield b"llo"

    task = s.take_task(s.open_task(_meta()))
    thread = threading.Thread(target=s.commit, args=(task, pieces()))
    thread.start()
    try:
        assert started.wait(10)
        assert s.reclaim().temp_files == 0 and len(os.listdir(s.tmp_dir)) == 1
    finally:
        release.set()
        thread.join(10)
    assert s.get("b", "k").size == 5
    s.close()


# --- one writer per key ---------------------------------------------------------------------------
@pytest.fixture
def storage(tmp_path):
    s = Storage(StorageConfig(data_dir=str(tmp_path / "data"), fsync=False))
    yield s
    s.close()


def test_second_step_1_with_different_content_is_409_while_a_task_is_open(storage):
    storage.open_task(_meta(data=b"A"))
    with pytest.raises(StorageError) as info:
        storage.open_task(_meta(data=b"B"))
    assert info.value.status == 409 and info.value.detail["pending"] is True


def test_second_step_1_is_409_while_the_first_upload_streams(storage):
    started, release = threading.Event(), threading.Event()

    def pieces():
        yield b"A" * 2
        started.set()
        release.wait(10)
        yield b"A" * 2

    task = storage.take_task(storage.open_task(_meta(data=b"AAAA")))
    thread = threading.Thread(target=storage.commit, args=(task, pieces()))
    thread.start()
    try:
        assert started.wait(10)
        with pytest.raises(StorageError) as info:
            storage.open_task(_meta(data=b"BBBB"))
        assert info.value.status == 409
    finally:
        release.set()
        thread.join(10)
    meta, handle = storage.open("b", "k")
    with handle:
        assert handle.read() == b"AAAA"
    with pytest.raises(StorageError) as info:  # committed: a plain 409 (stored), not pending
        storage.open_task(_meta(data=b"BBBB"))
    assert info.value.status == 409


def test_a_failed_upload_frees_the_key(storage):
    task = storage.take_task(storage.open_task(_meta(data=b"AAAA")))
    with pytest.raises(StorageError):
        storage.commit(task, [b"AAAB"])  # checksum mismatch
    _put(storage, b"BBBB")
    assert storage.get("b", "k").checksum == hashlib.sha256(b"BBBB").hexdigest()


def test_same_content_joins_and_commits_once(storage):
    first = storage.take_task(storage.open_task(_meta(data=b"same")))
    second = storage.take_task(storage.open_task(_meta(data=b"same")))
    assert not storage.commit(first, [b"same"]).already_stored
    assert storage.commit(second, [b"same"]).already_stored
    assert storage.count() == 1


def test_a_chunk_of_another_object_with_equal_bytes_is_different_content(storage):
    storage.open_task(_meta(data=b"x", full_checksum="f1", index="0", num_chunks="2"))
    with pytest.raises(StorageError) as info:
        storage.open_task(_meta(data=b"x", full_checksum="f2", index="0", num_chunks="2"))
    assert info.value.status == 409


def test_commit_is_compare_and_set(storage):
    """The backstop when claims are bypassed (a task made by hand): a committed ball is never
    replaced by different content."""
    _put(storage, b"first")
    intruder = Task(task_id="t", metadata=_meta(data=b"second"), expires=1e18)
    with pytest.raises(StorageError) as info:
        storage.commit(intruder, [b"second"])
    assert info.value.status == 409
    meta, handle = storage.open("b", "k")
    with handle:
        assert handle.read() == b"first"
    assert os.listdir(storage.tmp_dir) == []


def test_conditional_delete(storage):
    _put(storage, b"mine")
    with pytest.raises(StorageError) as info:
        storage.delete("b", "k", checksum=hashlib.sha256(b"theirs").hexdigest())
    assert info.value.status == 409 and storage.count() == 1
    assert storage.delete("b", "k", checksum=hashlib.sha256(b"mine").hexdigest().upper()) == 1
    assert storage.count() == 0
    assert storage.delete("b", "k", checksum=hashlib.sha256(b"mine").hexdigest()) == 0


def test_conditional_delete_drops_only_its_own_pending_task(storage):
    storage.open_task(_meta(data=b"A"))
    storage.delete("b", "k", checksum=hashlib.sha256(b"B").hexdigest())
    with pytest.raises(StorageError):  # A's task still holds the key
        storage.open_task(_meta(data=b"B"))
    storage.delete("b", "k", checksum=hashlib.sha256(b"A").hexdigest())
    storage.open_task(_meta(data=b"B"))  # free now


def test_flushing_tasks_frees_their_keys(storage):
    storage.open_task(_meta(data=b"A"))
    assert len(storage.flush_tasks()) == 1
    storage.open_task(_meta(data=b"B"))  # no claim left by the flushed task
