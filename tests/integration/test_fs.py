"""mictlanx_sync.fs on a live VSS: fsspec's own abstract suites, pandas end to end, ranged reads."""

from __future__ import annotations

import os
import threading
from typing import Any, Iterator, List
from urllib.parse import urlsplit

import fsspec
import fsspec.tests.abstract as abstract
import pandas as pd
import pytest
import requests
from fsspec.tests.abstract import AbstractFixtures

from mictlanx_sync import Client
from mictlanx_sync._http import make_session
from mictlanx_sync.config import RetryConfig
from mictlanx_sync.fs import MictlanXFileSystem

from .conftest import unique_bucket


@pytest.fixture(scope="module")
def mfs(vss) -> Iterator[MictlanXFileSystem]:
    fs = MictlanXFileSystem(uri=vss.uri, chunk_size="64kb", max_workers=4, skip_instance_cache=True)
    yield fs
    fs.client.close()


class MictlanXFixtures(AbstractFixtures):  # type: ignore[misc]
    """fsspec's fixtures on our filesystem: a fresh bucket per test, no empty directories."""

    @pytest.fixture
    def fs(self, mfs: MictlanXFileSystem) -> MictlanXFileSystem:
        return mfs

    @pytest.fixture
    def fs_path(self) -> str:
        return unique_bucket("fs")

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return False  # directories are name prefixes, as in S3


class TestMictlanXCopy(abstract.AbstractCopyTests, MictlanXFixtures):  # type: ignore[misc]
    pass


class TestMictlanXGet(abstract.AbstractGetTests, MictlanXFixtures):  # type: ignore[misc]
    pass


class TestMictlanXPut(abstract.AbstractPutTests, MictlanXFixtures):  # type: ignore[misc]
    pass


class TestMictlanXPipe(abstract.AbstractPipeTests, MictlanXFixtures):  # type: ignore[misc]
    pass


class TestMictlanXOpen(abstract.AbstractOpenTests, MictlanXFixtures):  # type: ignore[misc]
    pass


# ------------------------------------------------------------------------------------ our own
def test_the_protocol_is_registered_by_entry_point(vss) -> None:
    fs = fsspec.filesystem("mictlanx", uri=vss.uri, skip_instance_cache=True)
    assert isinstance(fs, MictlanXFileSystem)
    fs.client.close()


def test_ls_info_and_directories(mfs: MictlanXFileSystem, tmp_path: Any) -> None:
    b = unique_bucket("fs")
    mfs.pipe_file(f"{b}/x/data.csv", b"a,b\n1,2\n")
    mfs.pipe_file(f"{b}/x/y/deep.txt", b"deep")
    mfs.pipe_file(f"{b}/top.txt", b"top")
    assert mfs.ls(b, detail=False) == [f"{b}/top.txt", f"{b}/x"]
    assert mfs.ls(f"mictlanx://{b}/x/", detail=False) == [f"{b}/x/data.csv", f"{b}/x/y"]
    info = mfs.info(f"{b}/x/data.csv")
    assert (info["type"], info["size"]) == ("file", 8) and info["key"] != "x/data.csv"
    assert mfs.info(f"{b}/x")["type"] == "directory" and mfs.isdir(f"{b}/x/y")
    assert mfs.ls(f"{b}/top.txt", detail=False) == [f"{b}/top.txt"]
    assert not mfs.exists(f"{b}/nope") and not mfs.exists(f"{b}/x/data")
    with pytest.raises(FileNotFoundError):
        mfs.ls(f"{b}/nope")
    with pytest.raises(FileNotFoundError):
        mfs.cat_file(f"{b}/nope")
    assert sorted(mfs.find(b)) == [f"{b}/top.txt", f"{b}/x/data.csv", f"{b}/x/y/deep.txt"]
    local = tmp_path / "top.txt"
    local.write_bytes(b"an older local file")
    mfs.get_file(f"{b}/top.txt", str(local))  # fsspec's get replaces local files
    assert local.read_bytes() == b"top"
    mfs.makedirs(f"{b}/empty/dir")  # a no-op
    assert not mfs.exists(f"{b}/empty")
    with pytest.raises(NotImplementedError, match="immutable"):
        mfs.open(f"{b}/top.txt", "ab")
    mfs.rm(b, recursive=True)
    assert mfs.find(b) == []


def test_open_reads_at_random_and_writes_on_close(mfs: MictlanXFileSystem) -> None:
    b = unique_bucket("fs")
    data = os.urandom(300_000)  # 5 chunks of 64 kB
    with mfs.open(f"{b}/blob.bin", "wb") as f:
        for i in range(0, len(data), 70_000):
            f.write(data[i:i + 70_000])
        assert not mfs.exists(f"{b}/blob.bin")  # stored on close, not before
    with mfs.open(f"{b}/blob.bin", "rb") as f:
        f.seek(200_000)
        assert f.read(10) == data[200_000:200_010]
        f.seek(5)
        assert f.read(100_000) == data[5:100_005]
        assert f.read() == data[100_005:]
    assert mfs.cat_file(f"{b}/blob.bin", start=-10) == data[-10:]
    assert mfs.cat_file(f"{b}/blob.bin", start=64_000, end=64_001) == data[64_000:64_001]
    with mfs.open(f"{b}/blob.bin", "wb") as f:  # overwrite replaces the object
        f.write(b"short")
    assert mfs.cat(f"{b}/blob.bin") == b"short"


def test_pandas_round_trip_and_globbing(vss) -> None:
    b = unique_bucket("pd")
    options = {"uri": vss.uri}
    df = pd.DataFrame({"city": ["Ciudad Victoria", "東京", "Zürich"], "t": [31.5, 18.0, 9.25]})
    df.to_csv(f"mictlanx://{b}/x/data.csv", index=False, storage_options=options)
    df.to_csv(f"mictlanx://{b}/x/more.csv", index=False, storage_options=options)
    df.to_csv(f"mictlanx://{b}/x/notes.txt", index=False, storage_options=options)
    back = pd.read_csv(f"mictlanx://{b}/x/data.csv", storage_options=options)
    pd.testing.assert_frame_equal(back, df)
    files = fsspec.open_files(f"mictlanx://{b}/x/*.csv", "rb", **options)
    assert sorted(f.path for f in files) == [f"{b}/x/data.csv", f"{b}/x/more.csv"]
    for f in files:
        with f as handle:
            pd.testing.assert_frame_equal(pd.read_csv(handle), df)


class _Counter:
    """A session factory counting data GETs (``/buckets/{b}/{key}``) per chunk key."""

    def __init__(self) -> None:
        self.paths: List[str] = []
        self._lock = threading.Lock()

    def __call__(self) -> requests.Session:
        session = make_session(retry=RetryConfig(), pool_maxsize=32)

        def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            with self._lock:
                self.paths.append(f"{response.request.method} {urlsplit(response.url).path}")

        session.hooks["response"].append(hook)
        return session

    def data_gets(self, bucket: str) -> List[str]:
        prefix = f"GET /api/v4/buckets/{bucket}/"
        with self._lock:
            return [p for p in self.paths if p.startswith(prefix) and not p[len(prefix):].startswith("metadata")]


def test_a_ranged_read_fetches_only_the_covering_chunks(vss) -> None:
    b = unique_bucket("range")
    data = os.urandom(2_000_000)  # 40 chunks of 50 kB
    with Client(vss.uri, chunk_size="50kb") as writer:
        key = writer.put(b, "big/object.bin", data).key
    counter = _Counter()
    fs = MictlanXFileSystem(uri=vss.uri, max_workers=4, session_factory=counter, skip_instance_cache=True)
    try:
        assert fs.cat_file(f"{b}/big/object.bin", start=1_234_567, end=1_234_667) == data[1_234_567:1_234_667]
        assert counter.data_gets(b) == [f"GET /api/v4/buckets/{b}/{key}_24"]  # 1 chunk of 40
        counter.paths.clear()
        assert fs.cat_file(f"{b}/big/object.bin", start=99_990, end=150_010) == data[99_990:150_010]
        assert sorted(counter.data_gets(b)) == [f"GET /api/v4/buckets/{b}/{key}_{i}" for i in (1, 2, 3)]
        counter.paths.clear()
        with fs.open(f"{b}/big/object.bin", "rb") as f:  # read-ahead: 4 workers x 50 kB per miss
            f.seek(1_000_000)
            assert f.read(10) == data[1_000_000:1_000_010]
            # the 10 bytes and one 200 kB block after them: [1_000_000, 1_200_010) is chunks 20-24
            assert sorted(counter.data_gets(b)) == sorted(f"GET /api/v4/buckets/{b}/{key}_{i}" for i in range(20, 25))
            assert f.read(150_000) == data[1_000_010:1_150_010]  # served from the read-ahead
        assert len(counter.data_gets(b)) == 5
    finally:
        fs.client.close()
