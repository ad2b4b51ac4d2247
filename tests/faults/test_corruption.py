"""Scenario 3: one byte of a stored chunk file is flipped on a peer's disk.

The read must never return the corrupt bytes. With rf=2 the other replica holds good bytes, so
every read (get, get_to_file, get_stream, get_chunk) should succeed from it; with rf=1 there is no
good copy and every read must raise ``IntegrityError`` (and get_to_file must leave no file).
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Tuple

import pytest

from mictlanx_sync import IntegrityError
from mictlanx_sync.client import Client
from mictlanx_sync.config import ClientConfig, RetryConfig, Timeouts, TransferConfig
from mictlanx_sync.vss import LocalVSS

pytestmark = pytest.mark.timeout(90)

CHUNK = 64_000


@pytest.fixture(scope="module")
def corrupt_vss() -> Iterator[LocalVSS]:
    from mictlanx_sync.vss import serve

    with serve(peers=2, fsync=False) as vss:
        yield vss


def _client(vss: LocalVSS) -> Client:
    config = ClientConfig(timeouts=Timeouts(connect=1, read=10),
                          retry=RetryConfig(total=1, chunk_attempts=3, backoff_factor=0.02),
                          transfer=TransferConfig(chunk_size=CHUNK, max_workers=4))
    return Client(vss.uri, config=config, capacity_storage="0")


def _write(vss: LocalVSS, h: Any, rf: int) -> Tuple[str, bytes]:
    bucket = h.unique("cx")
    payload = os.urandom(3 * CHUNK + 100)  # chunks 0..3
    with _client(vss) as client:
        client.put(bucket, "obj", payload, rf=rf)
    return bucket, payload


def _holders(vss: LocalVSS, h: Any, bucket: str, key: str) -> list:
    return [i for i, d in enumerate(vss.data_dirs) if os.path.isfile(h.object_file(d, bucket, key))]


@pytest.mark.parametrize("corrupt_peer", [0, 1])
def test_corrupt_replica_rf2_reads_from_the_other(corrupt_vss: LocalVSS, workdir: str, h: Any,
                                                  corrupt_peer: int) -> None:
    bucket, payload = _write(corrupt_vss, h, rf=2)
    assert _holders(corrupt_vss, h, bucket, "obj_1") == [0, 1]
    path = h.object_file(corrupt_vss.data_dirs[corrupt_peer], bucket, "obj_1")
    h.flip_byte(path, 1234)
    with _client(corrupt_vss) as client:
        assert client.get(bucket, "obj", use_cache=False).content == payload
        target = client.get_to_file(bucket, "obj", os.path.join(workdir, "obj.bin"))
        with open(target, "rb") as handle:
            assert handle.read() == payload
        assert b"".join(client.get_stream(bucket, "obj")) == payload
        meta, data = client.get_chunk(bucket, "obj", 1)
        assert data == payload[CHUNK:2 * CHUNK] and h.sha(data) == meta.checksum
    assert h.part_files(workdir) == []


def test_corrupt_chunk_rf1_raises_integrity_error(corrupt_vss: LocalVSS, workdir: str, h: Any) -> None:
    bucket, payload = _write(corrupt_vss, h, rf=1)
    holders = _holders(corrupt_vss, h, bucket, "obj_2")
    assert len(holders) == 1
    path = h.object_file(corrupt_vss.data_dirs[holders[0]], bucket, "obj_2")
    with open(path, "rb") as handle:
        corrupt = bytearray(handle.read())
    corrupt[0] ^= 0xFF
    h.flip_byte(path, 0)
    good_prefix = payload[:2 * CHUNK]
    with _client(corrupt_vss) as client:
        with pytest.raises(IntegrityError):
            client.get(bucket, "obj", use_cache=False)
        target = os.path.join(workdir, "obj.bin")
        with pytest.raises(IntegrityError):
            client.get_to_file(bucket, "obj", target)
        assert not os.path.exists(target)
        assert h.part_files(workdir) == []
        yielded = []
        with pytest.raises(IntegrityError):
            for piece in client.get_stream(bucket, "obj"):
                yielded.append(piece)
        assert bytes(corrupt) not in yielded
        assert b"".join(yielded) == good_prefix[:len(b"".join(yielded))]
        with pytest.raises(IntegrityError):
            client.get_chunk(bucket, "obj", 2)
        # the other chunks are fine on their own
        assert client.get_chunk(bucket, "obj", 1)[1] == payload[CHUNK:2 * CHUNK]


def test_truncated_chunk_file_is_never_served_as_data(corrupt_vss: LocalVSS, workdir: str, h: Any) -> None:
    """A data file shorter than its metadata (lost tail): rf=1 reads fail typed, nothing partial."""
    from mictlanx_sync import MictlanXError

    bucket, payload = _write(corrupt_vss, h, rf=1)
    holders = _holders(corrupt_vss, h, bucket, "obj_0")
    path = h.object_file(corrupt_vss.data_dirs[holders[0]], bucket, "obj_0")
    with open(path, "r+b") as handle:
        handle.truncate(CHUNK // 2)
    with _client(corrupt_vss) as client:
        with pytest.raises(MictlanXError):
            client.get(bucket, "obj", use_cache=False)
        target = os.path.join(workdir, "t.bin")
        with pytest.raises(MictlanXError):
            client.get_to_file(bucket, "obj", target)
        assert not os.path.exists(target) and h.part_files(workdir) == []
