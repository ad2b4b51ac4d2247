"""Peer storage of the local VSS: commits, refusals, restarts and the on-disk layout."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from mictlanx_sync.models import Metadata
from mictlanx_sync.vss.storage import Storage, StorageConfig, StorageError, object_name


def _meta(key="k", data=b"hello", bucket="b", ball_id=None, **extra):
    return Metadata(key=key, size=len(data), checksum=hashlib.sha256(data).hexdigest(), tags=extra.pop("tags", {}),
                    content_type="text/plain", producer_id="p", ball_id=ball_id or key, bucket_id=bucket,
                    **extra)


def _put(storage, data=b"hello", **kw):
    meta = _meta(data=data, **kw)
    task = storage.take_task(storage.open_task(meta))
    return storage.commit(task, [data[:2], data[2:]])


@pytest.fixture
def storage(tmp_path):
    s = Storage(StorageConfig(data_dir=str(tmp_path / "data"), max_body_size=1 << 20, fsync=False))
    yield s
    s.close()


def _files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_commit_then_read(storage):
    result = _put(storage, b"hello world", tags={"a": "1"})
    assert result.size == 11
    meta, handle = storage.open("b", "k")
    with handle:
        assert handle.read() == b"hello world"
    assert meta.tags == {"a": "1"} and storage.get("b", "k").size == 11
    assert storage.usage().used == 11 and storage.count() == 1


def test_files_are_named_by_hash_and_stay_inside_data_dir(storage, tmp_path):
    _put(storage, key="k1")
    name = object_name("b", "k1")
    files = _files(str(tmp_path))
    assert os.path.join("data", "objects", name[:2], name) in files
    assert all(f.startswith("data" + os.sep) for f in files)
    assert not any("k1" in f for f in files)


@pytest.mark.parametrize("data,pieces", [(b"hello", [b"hell"]), (b"hello", [b"hello!"]),
                                         (b"hello", [b"jello"])])
def test_size_or_checksum_mismatch_stores_nothing(storage, data, pieces):
    task = storage.take_task(storage.open_task(_meta(data=data)))
    with pytest.raises(StorageError) as info:
        storage.commit(task, pieces)
    assert info.value.status == 400 and info.value.detail["code"] == 400
    with pytest.raises(StorageError) as missing:
        storage.get("b", "k")
    assert missing.value.status == 404
    assert os.listdir(storage.tmp_dir) == [] and storage.count() == 0


def test_tasks_are_single_use_and_the_same_content_joins(storage):
    meta = _meta()
    first = storage.open_task(meta)
    second = storage.open_task(meta)  # the same content joins the open upload: both tasks valid
    storage.take_task(first)
    storage.take_task(second)
    for task_id in (first, second):
        with pytest.raises(StorageError) as info:
            storage.take_task(task_id)
        assert info.value.status == 404


def test_task_id_header_is_honoured_and_validated(storage):
    assert storage.open_task(_meta(), task_id="Grp_id-123") == "Grp_id-123"
    with pytest.raises(StorageError):
        storage.open_task(_meta(), task_id="../bad")


def test_tasks_expire(tmp_path):
    s = Storage(StorageConfig(data_dir=str(tmp_path), task_ttl=0.0, fsync=False))
    task_id = s.open_task(_meta())
    with pytest.raises(StorageError):
        s.take_task(task_id)
    s.close()


def test_existing_key_conflicts_unless_update(storage):
    _put(storage)
    with pytest.raises(StorageError) as info:
        storage.open_task(_meta())
    assert info.value.status == 409
    storage.open_task(_meta(tags={"x": "y"}), update=True)
    assert storage.get("b", "k").tags == {"x": "y"}
    assert storage.count() == 1


def test_disable_delete_and_delete_discards_pending_task(storage):
    _put(storage, key="k1", ball_id="g")
    _put(storage, key="k2", ball_id="g")
    assert storage.disable("b", "k1") and not storage.disable("b", "nope")
    with pytest.raises(StorageError) as info:
        storage.open("b", "k1")
    assert info.value.status == 403 and storage.get("b", "k1").is_disabled
    task_id = storage.open_task(_meta(key="k3"))
    assert storage.delete("b", "k3") == 0
    with pytest.raises(StorageError):
        storage.take_task(task_id)
    assert [m.key for m in storage.group("b", "g")] == ["k1", "k2"]
    assert storage.delete_by_ball_id("b", "g") == 2 and storage.count() == 0
    assert storage.usage().used == 0 and _files(storage.objects_dir) == []


@pytest.mark.parametrize("bad", ["../x", "a/b", "/etc/passwd", "..", "x" * 10_000, "", "a b", "k_"])
def test_bad_ids_are_refused(storage, bad):
    with pytest.raises(StorageError) as info:
        storage.open_task(_meta(key=bad))
    assert info.value.status == 400
    with pytest.raises(StorageError):
        storage.get(bad, "k")


def test_limits_and_bad_checksums(storage):
    with pytest.raises(StorageError) as info:
        storage.open_task(_meta(data=b"x" * ((1 << 20) + 1)))
    assert info.value.status == 413
    # PROTOCOL §11.9: any checksum string is accepted at step 1; the body can never match it.
    odd = Metadata(key="k", size=1, checksum="abc", tags={}, content_type="x", producer_id="p", ball_id="k",
                   bucket_id="b")
    task = storage.take_task(storage.open_task(odd))
    with pytest.raises(StorageError) as info:
        storage.commit(task, [b"x"])
    assert info.value.status == 400 and storage.count() == 0


def test_restart_serves_committed_and_cleans_tmp(tmp_path):
    config = StorageConfig(data_dir=str(tmp_path), fsync=True)
    s = Storage(config)
    _put(s, b"persisted", key="k1")
    s.open_task(_meta(key="pending"))
    with open(os.path.join(s.tmp_dir, "stale.part"), "wb") as f:
        f.write(b"junk")
    s.close()
    s2 = Storage(config)
    meta, handle = s2.open("b", "k1")
    with handle:
        assert handle.read() == b"persisted"
    assert os.listdir(s2.tmp_dir) == [] and s2.usage().used == len(b"persisted")
    with pytest.raises(StorageError):
        s2.get("b", "pending")
    s2.close()


def test_concurrent_commits_of_one_key_stay_consistent(storage):
    datas = [os.urandom(50_000) for _ in range(6)]
    storage_errors = []

    def put(data):
        try:
            task = storage.take_task(storage.open_task(_meta(data=data), task_id=os.urandom(8).hex()))
            storage.commit(task, [data])
        except StorageError as exc:  # replaced tasks are expected
            storage_errors.append(exc.status)

    threads = [threading.Thread(target=put, args=(d,)) for d in datas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    meta, handle = storage.open("b", "k")
    with handle:
        assert hashlib.sha256(handle.read()).hexdigest() == meta.checksum
    assert set(storage_errors) <= {404, 409}
