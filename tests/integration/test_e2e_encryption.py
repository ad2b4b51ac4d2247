"""End-to-end encryption against a live VSS: chunks leave the process AES-256-GCM encrypted,
checksums cover the stored bytes, nothing derived from the plaintext is stored, and a wrong key or
a swapped, truncated or downgraded object raises instead of returning bytes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

pytest.importorskip("cryptography", reason="the 'crypto' extra is not installed")

from mictlanx_sync import Client, IntegrityError, InvalidArgumentError, Router, keys  # noqa: E402
from mictlanx_sync import _protocol as P  # noqa: E402
from mictlanx_sync.models import Metadata  # noqa: E402
from mictlanx_sync.vss import LocalVSS  # noqa: E402

CHUNK = 1000
DATA = os.urandom(3 * CHUNK + 500)  # 4 chunks


@pytest.fixture
def key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def client(vss: LocalVSS, key: bytes) -> Iterator[Client]:
    with Client(vss.uri, chunk_size=CHUNK, encryption_key=key, capacity_storage=0) as c:
        yield c


@pytest.fixture
def router(vss: LocalVSS) -> Iterator[Router]:
    with Router(vss.router_url) as r:
        yield r


def stored_chunks(router: Router, bucket: str, key: str) -> List[Tuple[Metadata, bytes]]:
    """Each chunk's metadata and stored bytes, as the router serves them, in index order."""
    metas = sorted({m.key: m for m in router.get_by_ball_id(bucket, key).chunks}.values(),
                   key=lambda m: int(m.tags[P.TAG_INDEX]))
    return [(m, router.get(bucket, m.key)) for m in metas]


def replace_chunk(router: Router, bucket: str, meta: Metadata, data: bytes, tags: Dict[str, str]) -> None:
    """Store ``data`` under ``meta.key`` with ``tags`` and a checksum that matches ``data``."""
    router.delete(bucket, meta.key)
    reply = router.put_metadata(bucket, meta.key, len(data), hashlib.sha256(data).hexdigest(), "tamper",
                                meta.content_type, meta.ball_id, tags)
    router.put_chunked(reply.tasks_ids[0], data)


def test_round_trip_stores_only_ciphertext(client: Client, router: Router, bucket: str, tmp_path: Path) -> None:
    result = client.put(bucket, "secret", DATA, tags={"owner": "bob"})
    assert result.size == len(DATA) and result.num_chunks == 4 and result.checksum == ""
    got = client.get(bucket, "secret")
    assert got.content == DATA and got.info.size == len(DATA) and len(got.metadatas) == 4
    assert b"".join(client.get_stream(bucket, "secret")) == DATA
    assert client.get_metadata(bucket, "secret").size == len(DATA)  # the plaintext's size
    assert [o.size for o in client.find(bucket, owner="bob")] == [len(DATA)]
    path = client.get_to_file(bucket, "secret", tmp_path, fullname="out.bin")
    assert Path(path).read_bytes() == DATA

    chunks = stored_chunks(router, bucket, "secret")
    plain_digest = hashlib.sha256(DATA).hexdigest()
    for index, (meta, stored) in enumerate(chunks):
        plain = DATA[index * CHUNK:(index + 1) * CHUNK]
        assert len(stored) == len(plain) + 28 == meta.size  # nonce + tag per chunk
        assert meta.checksum == hashlib.sha256(stored).hexdigest()  # checksums cover stored bytes
        assert plain[:64] not in stored
        assert meta.tags[P.TAG_CHUNK_SIZE] == str(len(stored))
        assert meta.tags[P.TAG_ENCRYPTION] == "aes-256-gcm" and len(meta.tags[P.TAG_ENCRYPTION_VERSION]) == 32
        assert P.TAG_FULL_CHECKSUM not in meta.tags  # no plaintext digest in the clear
        assert plain_digest not in repr(meta.to_json())
        assert hashlib.sha256(plain).hexdigest() not in repr(meta.to_json())
    assert len({stored[:12] for _, stored in chunks}) == 4  # a fresh nonce per chunk


def test_two_clients_with_the_two_sides_of_a_keypair(vss: LocalVSS, bucket: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(keys.SECRET_PATH_ENV, str(tmp_path / "keys"))
    keys.generate_keypair("alice")
    keys.generate_keypair("bob")
    alice_key = keys.shared_key(keys.load_private_key("alice"), keys.load_public_key("bob"))
    bob_key = keys.shared_key(keys.load_private_key("bob"), keys.load_public_key("alice"))
    with Client(vss.uri, chunk_size=CHUNK, encryption_key=alice_key) as alice:
        alice.put(bucket, "letter", DATA)
    with Client(vss.uri, chunk_size=CHUNK, encryption_key=bob_key) as bob:
        assert bob.get(bucket, "letter").content == DATA
    keys.generate_keypair("eve")
    eve_key = keys.shared_key(keys.load_private_key("eve"), keys.load_public_key("alice"))
    with Client(vss.uri, encryption_key=eve_key, capacity_storage=0) as eve:
        with pytest.raises(IntegrityError, match="failed authentication"):
            eve.get(bucket, "letter")


def test_wrong_key_returns_no_bytes(client: Client, vss: LocalVSS, bucket: str, tmp_path: Path) -> None:
    client.put(bucket, "secret", DATA)
    with Client(vss.uri, encryption_key=os.urandom(32), capacity_storage=0) as other:
        with pytest.raises(IntegrityError, match="failed authentication"):
            other.get(bucket, "secret")
        with pytest.raises(IntegrityError):
            other.get_to_file(bucket, "secret", tmp_path, fullname="leak.bin")
        with pytest.raises(IntegrityError):
            next(iter(other.get_stream(bucket, "secret")))
    assert os.listdir(tmp_path) == []  # no file, no temp file


def test_swapped_chunks_fail_authentication(client: Client, router: Router, bucket: str) -> None:
    client.put(bucket, "swap", DATA)
    (m1, s1), (m2, s2) = stored_chunks(router, bucket, "swap")[1:3]
    # Each stored chunk keeps a valid checksum for its new bytes: only the codec can tell.
    replace_chunk(router, bucket, m1, s2, m1.tags)
    replace_chunk(router, bucket, m2, s1, m2.tags)
    with pytest.raises(IntegrityError, match="failed authentication"):
        client.get(bucket, "swap")


def test_truncated_object_fails_authentication(client: Client, router: Router, bucket: str) -> None:
    client.put(bucket, "cut", DATA)
    chunks = stored_chunks(router, bucket, "cut")
    router.delete(bucket, chunks[-1][0].key)  # drop the last chunk and say there were only 3
    for meta, stored in chunks[:-1]:
        replace_chunk(router, bucket, meta, stored, {**meta.tags, P.TAG_NUM_CHUNKS: "3"})
    with pytest.raises(IntegrityError, match="failed authentication"):
        client.get(bucket, "cut")


def test_truncated_chunk_fails_authentication(client: Client, router: Router, bucket: str) -> None:
    client.put(bucket, "short", DATA)
    meta, stored = stored_chunks(router, bucket, "short")[2]
    replace_chunk(router, bucket, meta, stored[:-10], meta.tags)
    with pytest.raises(IntegrityError, match="failed authentication"):
        client.get(bucket, "short")


def test_plain_and_encrypted_objects_are_never_confused(client: Client, vss: LocalVSS, key: bytes,
                                                        bucket: str) -> None:
    with Client(vss.uri, chunk_size=CHUNK, capacity_storage=0) as plain:
        plain.put(bucket, "plain", DATA)
        client.put(bucket, "sealed", DATA)
        with pytest.raises(InvalidArgumentError, match="end-to-end encrypted"):
            plain.get(bucket, "sealed")
        with pytest.raises(IntegrityError, match="not encrypted"):
            client.get(bucket, "plain")  # a key-holding read refuses plaintext (no downgrade)
        # Per call: encrypt_with / decrypt_with on a client without a key.
        plain.put(bucket, "percall", DATA, encrypt_with=key)
        assert plain.get(bucket, "percall", decrypt_with=key).content == DATA
        assert client.get(bucket, "percall").content == DATA


def test_file_put_and_seed_get_keywords(client: Client, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "movie.bin"
    src.write_bytes(DATA)
    client.put_file(bucket, "movie", src)
    got = client.get(bucket, "movie", chunk_size="1MB", max_retries=2, max_paralell_gets=2)
    assert got.content == DATA
    out = tmp_path / "downloads"
    out.mkdir()
    path = client.get_to_file(bucket_id=bucket, ball_id="movie", output_path=str(out), fullname="m.bin",
                              chunk_size="1MB")
    assert Path(path).read_bytes() == DATA
