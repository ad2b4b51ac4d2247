"""The Client against a real local VSS (router + 2 peers on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
import uuid
from typing import Iterator, List

import pytest
import requests

from mictlanx_sync import Router
from mictlanx_sync.client import Client
from mictlanx_sync.errors import (
    AlreadyExistsError,
    BadRequestError,
    ForbiddenError,
    IntegrityError,
    InvalidArgumentError,
    MictlanXError,
    NetworkError,
    NotFoundError,
)

_CREATED: List[str] = []


def _bucket() -> str:
    name = f"b-{uuid.uuid4().hex[:10]}"
    _CREATED.append(name)
    return name


@pytest.fixture(autouse=True)
def _track_buckets(_delete_created_buckets: List[str]) -> Iterator[None]:
    """Hand this module's buckets to the session cleanup (run against an external router)."""
    yield
    _delete_created_buckets.extend(_CREATED)
    _CREATED.clear()


class CountingSession(requests.Session):
    """A session that counts the requests it sends (for request-count assertions)."""

    def __init__(self, counter):
        super().__init__()
        self._counter = counter

    def request(self, method, url, *args, **kwargs):
        self._counter.append((method, url))
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def client(vss):
    with Client(vss.uri, chunk_size="64kb", max_workers=4) as c:
        yield c


@pytest.mark.parametrize("size", [0, 1, 63_999, 64_000, 64_001, 300_007])
def test_put_get_round_trip(client, size):
    bucket, data = _bucket(), os.urandom(size)
    result = client.put(bucket, "obj", data)
    assert result.size == size and result.checksum == hashlib.sha256(data).hexdigest()
    assert result.num_chunks == max(1, -(-size // 64_000))
    got = client.get(bucket, "obj", use_cache=False)
    assert got.content == data and bytes(got.data) == data
    assert got.info.size == size and got.info.checksum == result.checksum


def test_put_accepts_every_value_kind(client, tmp_path):
    bucket, data = _bucket(), os.urandom(150_000)
    path = tmp_path / "v.bin"
    path.write_bytes(data)
    values = {"bytes": data, "bytearray": bytearray(data), "memoryview": memoryview(data),
              "bytesio": io.BytesIO(data), "iterator": iter([data[:1000], data[1000:]])}
    for name, value in values.items():
        client.put(bucket, name, value)
    with open(path, "rb") as f:
        client.put(bucket, "file", f)
    for name in [*values, "file"]:
        assert client.get(bucket, name).content == data, name


def test_tags_follow_the_reference_layout(client):
    bucket, data = _bucket(), os.urandom(130_000)
    client.put(bucket, "tagged", data, tags={"fullname": "t.bin", "owner": "me"})
    listing = client.get_by_ball_id(bucket, "tagged")
    chunks = sorted({c.key: c for c in listing.chunks}.values(), key=lambda c: int(c.tags["index"]))
    assert [c.key for c in chunks] == ["tagged_0", "tagged_1", "tagged_2"]
    full = hashlib.sha256(data).hexdigest()
    for i, c in enumerate(chunks):
        assert c.ball_id == "tagged" and c.producer_id == client.client_id
        assert c.tags["index"] == str(i) and c.tags["num_chunks"] == "3"
        assert c.tags["chunk_size"] == str(c.size) and c.tags["group_id"] == "tagged"
        assert c.tags["full_checksum"] == full and c.tags["updated_at"].isdigit()
        assert c.tags["owner"] == "me" and all(isinstance(v, str) for v in c.tags.values())
    info = client.get_metadata(bucket, "tagged")
    assert info.tags["owner"] == "me" and "index" not in info.tags


def test_bad_input_is_refused_before_sending(client):
    # names such as "a/b" or "k_" are valid now (mapped to keys, tests/integration/test_names.py)
    for bucket, key in [("b b", "k"), ("b/c", "k"), ("b", ""), ("b", "a\x00b"), ("b", "a\nb"), ("b", "x" * 1025)]:
        with pytest.raises(InvalidArgumentError):
            client.put(bucket, key, b"x")
        with pytest.raises(InvalidArgumentError):
            client.get(bucket, key)
    with pytest.raises(InvalidArgumentError, match="reserved"):
        client.put("b", "k", b"x", tags={"num_chunks": "9"})
    with pytest.raises(InvalidArgumentError):
        client.put("b", "k", b"x", tags={"n": 3})
    with pytest.raises(InvalidArgumentError):
        client.put("b", "k", "text")
    with pytest.raises(InvalidArgumentError):
        client.put("b", "k", b"x", rf=0)


def test_missing_object_is_not_found(client):
    bucket = _bucket()
    with pytest.raises(NotFoundError, match=f"{bucket}@nothing"):
        client.get(bucket, "nothing")
    assert not client.exists(bucket, "nothing")
    assert client.delete(bucket, "nothing") == 0


def test_put_file_and_get_to_file(client, tmp_path):
    bucket, data = _bucket(), os.urandom(200_001)
    src = tmp_path / "photo.jpg"
    src.write_bytes(data)
    client.put_file(bucket, "photo", src)
    info = client.get_metadata(bucket, "photo")
    assert info.tags["fullname"] == "photo.jpg" and info.tags["extension"] == "jpg"
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    path = client.get_to_file(bucket, "photo", out_dir)
    assert path == str(out_dir / "photo.jpg") and open(path, "rb").read() == data
    explicit = client.get_to_file(bucket, "photo", tmp_path / "copy.bin")
    assert open(explicit, "rb").read() == data
    named = client.get_to_file(bucket, "photo", out_dir, fullname="renamed.jpg")
    assert os.path.basename(named) == "renamed.jpg"
    assert not [n for n in os.listdir(out_dir) if n.endswith(".part")]


def test_get_to_file_leaves_nothing_on_failure(client, tmp_path):
    with pytest.raises(NotFoundError):
        client.get_to_file(_bucket(), "missing", tmp_path / "x.bin")
    assert os.listdir(tmp_path) == []


def test_get_stream_yields_verified_chunks_in_order(client):
    bucket, data = _bucket(), os.urandom(64_000 * 20 + 5)
    client.put(bucket, "s", data)
    pieces = list(client.get_stream(bucket, "s"))
    assert len(pieces) == 21 and b"".join(pieces) == data


def test_four_kib_get_costs_two_requests_and_cache_costs_one(vss):
    calls = []
    with Client(vss.uri, session_factory=lambda: CountingSession(calls)) as c:
        bucket, data = _bucket(), os.urandom(4096)
        c.put(bucket, "small", data)
        calls.clear()
        assert c.get(bucket, "small", use_cache=False).content == data
        assert len(calls) == 2, calls
        calls.clear()
        c.get(bucket, "small")
        calls.clear()
        assert c.get(bucket, "small").content == data
        assert len(calls) == 1, calls


def test_cache_is_invalidated_by_this_clients_writes(vss):
    with Client(vss.uri) as c:
        bucket = _bucket()
        c.put(bucket, "k", b"one")
        assert c.get(bucket, "k").content == b"one"
        c.delete(bucket, "k")
        with pytest.raises(NotFoundError):
            c.get(bucket, "k")
        c.put(bucket, "k", b"two")
        assert c.get(bucket, "k").content == b"two"


@pytest.mark.parametrize("rf", [1, 2])
def test_same_content_put_is_idempotent_and_different_content_conflicts(client, rf):
    bucket = _bucket()
    client.put(bucket, "k", b"same", rf=rf)
    client.put(bucket, "k", b"same", rf=rf)
    with pytest.raises(AlreadyExistsError):
        client.put(bucket, "k", b"different", rf=rf)
    for _ in range(4):
        assert client.get(bucket, "k", use_cache=False).content == b"same"
    assert len({c.checksum for c in client.get_by_ball_id(bucket, "k").chunks}) == 1


def test_rf2_lands_on_both_peers_and_listing_dedupes(client, vss):
    bucket, data = _bucket(), os.urandom(100_000)
    result = client.put(bucket, "twice", data, rf=2)
    assert len(result.replicas) == 2
    objects = client.get_bucket_metadata(bucket)
    assert [o.key for o in objects] == ["twice"] and objects[0].size == 100_000
    assert objects[0].num_chunks == 2


def test_update_tags_disable_and_delete(client):
    bucket = _bucket()
    client.put(bucket, "k", os.urandom(70_000), tags={"a": "1"})
    info = client.update_tags(bucket, "k", {"b": "2"})
    assert info.tags["a"] == "1" and info.tags["b"] == "2"
    assert client.get_metadata(bucket, "k").tags["b"] == "2"
    with pytest.raises(InvalidArgumentError):
        client.update_tags(bucket, "k", {"index": "3"})
    client.disable(bucket, "k")
    with pytest.raises(ForbiddenError):
        client.get(bucket, "k", use_cache=False)
    assert client.delete(bucket, "k") >= 2
    assert not client.exists(bucket, "k")


def test_delete_by_ball_id_and_delete_bucket(client):
    bucket = _bucket()
    for k in ("a", "b", "c"):
        client.put(bucket, k, os.urandom(1000))
    assert client.delete_by_ball_id(bucket, "a") == 1
    assert client.delete_by_ball_id(bucket, "a") == 0
    assert client.delete_bucket(bucket) == 2
    assert client.get_bucket_metadata(bucket) == []


def test_put_chunks_and_get_chunk(client):
    bucket = _bucket()
    chunks = [b"first", b"second-chunk", b"3"]
    result = client.put_chunks(bucket, "pc", chunks)
    assert result.num_chunks == 3
    meta, data = client.get_chunk(bucket, "pc", 1)
    assert data == b"second-chunk" and meta.key == "pc_1"
    assert client.get(bucket, "pc").content == b"".join(chunks)


def test_put_chunks_with_an_empty_chunk_in_the_middle(client):
    bucket = _bucket()
    chunks = [b"abc", b"", b"defg"]
    assert client.put_chunks(bucket, "gap", chunks).num_chunks == 3
    assert client.get(bucket, "gap").content == b"abcdefg"
    assert client.get_chunk(bucket, "gap", 1)[1] == b""
    assert client.get_chunk(bucket, "gap", 2)[1] == b"defg"


def test_put_many_and_get_many_report_per_item(client):
    bucket = _bucket()
    items = [(f"k{i}", os.urandom(i * 1000 + 1)) for i in range(20)] + [("bad\x00key", b"x")]
    results = client.put_many(bucket, items)
    assert [r.ok for r in results] == [True] * 20 + [False]
    assert isinstance(results[-1].error, InvalidArgumentError)
    got = client.get_many(bucket, [k for k, _ in items[:20]] + ["missing"])
    assert [g.value.content for g in got[:20]] == [v for _, v in items[:20]]
    assert isinstance(got[-1].error, NotFoundError)


def test_progress_is_monotonic_and_reaches_the_total(client):
    bucket, data = _bucket(), os.urandom(640_000)
    seen = []
    lock = threading.Lock()

    def cb(done, total):
        with lock:
            seen.append((done, total))

    client.put(bucket, "p", data, progress=cb)
    assert seen[-1] == (640_000, 640_000) or max(seen)[0] == 640_000
    assert all(d <= t for d, t in seen)
    seen.clear()
    client.get(bucket, "p", progress=cb, use_cache=False)
    assert max(d for d, _ in seen) == 640_000


def test_sixteen_threads_share_one_client(client):
    bucket = _bucket()
    errors = []

    def work(n):
        try:
            for i in range(5):
                data = os.urandom(1000 * n + i + 1)
                client.put(bucket, f"t{n}-{i}", data)
                assert client.get(bucket, f"t{n}-{i}").content == data
                client.delete(bucket, f"t{n}-{i}")
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_failover_to_the_live_router(vss):
    port = vss.router_url.rsplit(":", 1)[1]
    uri = f"mictlanx://dead@127.0.0.1:9,live@127.0.0.1:{port}/?protocol=http"
    with Client(uri) as c:
        bucket = _bucket()
        for i in range(4):
            c.put(bucket, f"k{i}", b"data")
            assert c.get(bucket, f"k{i}").content == b"data"


def test_all_routers_down_names_them():
    with Client("mictlanx://a@127.0.0.1:9,b@127.0.0.1:11/?protocol=http") as c:
        c.config.retry  # noqa: B018 - documented default retry policy
        with pytest.raises(NetworkError, match="127.0.0.1:9.*127.0.0.1:11|127.0.0.1:11.*127.0.0.1:9"):
            c.get("b", "k")


def test_reads_objects_written_in_the_reference_layout(vss):
    """Rule A chunking (remainder appended to the last chunk) written with the low-level Router."""
    bucket, data = _bucket(), os.urandom(25_001)
    full = hashlib.sha256(data).hexdigest()
    router = Router(vss.router_url)
    for i, chunk in enumerate([data[:10_000], data[10_000:]]):
        reply = router.put_metadata(bucket, f"clip_{i}", len(chunk), hashlib.sha256(chunk).hexdigest(),
                                    "client-0", ball_id="clip",
                                    tags={"index": str(i), "num_chunks": "2", "chunk_size": str(len(chunk)),
                                          "group_id": "clip", "full_checksum": full})
        router.put_chunked(reply.tasks_ids[0], chunk)
    with Client(vss.uri) as c:
        assert c.get(bucket, "clip").content == data


def test_corrupt_metadata_is_an_integrity_error(vss):
    bucket = _bucket()
    router = Router(vss.router_url)
    data = b"hello"
    reply = router.put_metadata(bucket, "bad_0", 5, hashlib.sha256(data).hexdigest(), "x", ball_id="bad",
                                tags={"index": "0", "num_chunks": "1", "full_checksum": "0" * 64})
    router.put_chunked(reply.tasks_ids[0], data)
    with Client(vss.uri) as c, pytest.raises(IntegrityError):
        c.get(bucket, "bad")


def test_put_file_refuses_a_file_that_changes_during_the_upload(client, tmp_path):
    bucket, path = _bucket(), tmp_path / "moving.bin"
    path.write_bytes(os.urandom(3_000_000))
    changed = []

    def rewrite_head(done, total):
        if not changed:  # chunk 0 is read last, after this first progress report
            with open(path, "r+b") as f:
                f.write(b"changed!")
            changed.append(done)

    with pytest.raises(BadRequestError) as info:  # relayed from the peers, not retried
        client.put_file(bucket, "moving", str(path), chunk_size="1MB", progress=rewrite_head)
    assert changed and "checksum mismatch" in str(info.value).lower()
    with pytest.raises(NotFoundError):
        client.get(bucket, "moving")  # nothing stored under the stale full_checksum


def test_a_key_that_names_another_objects_chunk_is_not_that_chunk(client):
    """``a_0`` is the storage key of chunk 0 of ``a``: as a key of its own it names no object,
    and reading, tagging or deleting it must never reach into ``a``."""
    bucket = _bucket()
    client.put(bucket, "a", b"object-A")
    client.put(bucket, "m", b"0123456789", chunk_size=3)
    for chunk_key in ("a_0", "m_0", "m_3"):
        assert not client.exists(bucket, chunk_key)
        with pytest.raises(NotFoundError):
            client.get(bucket, chunk_key)
        with pytest.raises(NotFoundError):
            client.update_tags(bucket, chunk_key, {"x": "1"})
        assert client.delete(bucket, chunk_key) == 0
    assert client.get(bucket, "a", use_cache=False).content == b"object-A"
    assert client.get(bucket, "m", use_cache=False).content == b"0123456789"


def test_wrapped_file_objects_store_the_bytes_they_read(client, tmp_path):
    """Decompressing readers and archive members have a descriptor of other bytes (or none):
    what is stored is what ``read()`` returns."""
    import bz2
    import gzip
    import lzma
    import tarfile
    import zipfile

    bucket, data = _bucket(), os.urandom(300_000)
    for name, opener in (("x.gz", gzip.open), ("x.bz2", bz2.open), ("x.xz", lzma.open)):
        with opener(tmp_path / name, "wb") as f:
            f.write(data)
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as z:
        z.writestr("member", data)
    member = tmp_path / "member"
    member.write_bytes(data)
    with tarfile.open(tmp_path / "x.tar", "w") as t:
        t.add(member, arcname="member")
    with gzip.open(tmp_path / "x.gz", "rb") as gz, bz2.open(tmp_path / "x.bz2", "rb") as b2, \
            lzma.open(tmp_path / "x.xz", "rb") as xz, zipfile.ZipFile(tmp_path / "x.zip") as z, \
            z.open("member") as zm, tarfile.open(tmp_path / "x.tar") as t:
        tm = t.extractfile("member")
        for key, stream in (("gz", gz), ("bz2", b2), ("xz", xz), ("zip", zm), ("tar", tm)):
            client.put(bucket, key, stream, chunk_size="100KB")
            assert client.get(bucket, key).content == data, key
    with open(tmp_path / "t.txt", "w") as text, pytest.raises(InvalidArgumentError, match="binary"):
        client.put(bucket, "text", text)


def test_strided_memoryviews_are_stored_by_their_bytes(client):
    bucket = _bucket()
    client.put(bucket, "strided", memoryview(b"abcdef")[::2])
    assert client.get(bucket, "strided").content == b"ace"
    results = client.put_many(bucket, [("ok1", b"x"), ("strided2", memoryview(b"abcd")[::2])])
    assert [r.ok for r in results] == [True, True]
    assert client.get(bucket, "strided2").content == b"ac"


def test_put_file_of_files_whose_size_is_not_known_up_front(client, tmp_path):
    bucket = _bucket()
    assert os.stat("/proc/self/mounts").st_size == 0  # a regular file whose size reads as 0
    client.put_file(bucket, "proc", "/proc/self/mounts")
    assert len(client.get(bucket, "proc").content) > 0
    read_end, write_end = os.pipe()
    payload = os.urandom(200_000)
    writer = threading.Thread(target=lambda: (os.write(write_end, payload), os.close(write_end)))
    writer.start()
    try:
        client.put_file(bucket, "pipe", f"/dev/fd/{read_end}", chunk_size="64KB")
    finally:
        writer.join()
        os.close(read_end)
    assert client.get(bucket, "pipe").content == payload


def test_get_to_file_refuses_a_missing_parent_or_a_directory_in_the_way(client, tmp_path):
    bucket = _bucket()
    client.put(bucket, "d", b"data", tags={"fullname": "taken"})
    (tmp_path / "taken").mkdir()
    with pytest.raises(InvalidArgumentError, match="does not exist"):  # a file path in a missing directory
        client.get_to_file(bucket, "d", str(tmp_path / "newdir" / "file"))
    with pytest.raises(InvalidArgumentError, match="in the way"):
        client.get_to_file(bucket, "d", str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # no temp files left


def test_keys_too_long_for_their_chunk_keys_are_refused_before_sending(client):
    bucket = _bucket()
    with pytest.raises(InvalidArgumentError, match="too long for 1 chunks"):
        client.put(bucket, "k" * 512, b"x")
    client.put(bucket, "k" * 510, b"x")  # chunk key k..._0 is exactly 512 characters
    assert client.get(bucket, "k" * 510).content == b"x"
    with pytest.raises(InvalidArgumentError, match="too long for 11 chunks"):
        client.put(bucket, "j" * 510, b"0123456789a", chunk_size=1)
    assert not client.exists(bucket, "j" * 510)


def test_content_types_that_cannot_be_headers_are_refused_before_sending(client):
    bucket = _bucket()
    for content_type in ("text/html\r\nSet-Cookie: a=b", "text/plain; charset=\u20ac", 5):
        with pytest.raises(InvalidArgumentError, match="content_type"):
            client.put(bucket, "ct", b"hello", content_type=content_type)
    assert not client.exists(bucket, "ct")
    client.put(bucket, "ct", b"hello", content_type="text/plain; charset=utf-8")
    assert client.get(bucket, "ct").content == b"hello"


def test_a_cached_object_disabled_by_another_client_is_forbidden(vss, client):
    bucket = _bucket()
    client.put(bucket, "secret", b"secret")
    assert client.get(bucket, "secret").content == b"secret"  # now cached by this client
    with Client(vss.uri) as other:
        other.disable(bucket, "secret")
    with pytest.raises(ForbiddenError):
        client.get(bucket, "secret")


def test_put_file_of_a_directory_and_bad_updated_at_are_invalid(client, tmp_path):
    bucket = _bucket()
    with pytest.raises(InvalidArgumentError, match="directory"):
        client.put_file(bucket, "dir", str(tmp_path))
    client.put(bucket, "t", b"x")
    with pytest.raises(InvalidArgumentError, match="updated_at"):
        client.update_tags(bucket, "t", {"updated_at": "xyz"})


def test_deletes_go_through_the_routers_that_answer(vss):
    from mictlanx_sync.uri import MictlanXURI
    from mictlanx_sync.vss.serve import free_port

    live = MictlanXURI.parse(vss.uri).routers[0].port
    uri = f"mictlanx://dead@127.0.0.1:{free_port()},live@127.0.0.1:{live}/?protocol=http"
    bucket = _bucket()
    with Client(uri) as c:
        for key in ("k", "b2", "b3"):
            c.put(bucket, key, b"hello")
        assert c.delete(bucket, "k") == 1
        assert c.delete_by_ball_id(bucket, "b2") == 1
        assert c.delete_bucket(bucket) == 1
        assert not any(c.exists(bucket, key) for key in ("k", "b2", "b3"))
    dead = f"mictlanx://dead@127.0.0.1:{free_port()}/?protocol=http"
    with Client(dead) as c, pytest.raises(NetworkError, match="all routers failed"):
        c.delete_by_ball_id(bucket, "k")


def test_every_method_of_a_closed_client_raises_the_same_typed_error(vss, tmp_path):
    c = Client(vss.uri)
    c.close()
    calls = [lambda: c.get("b", "k"), lambda: c.put("b", "k", b"x"), lambda: c.get_metadata("b", "k"),
             lambda: c.exists("b", "k"), lambda: list(c.get_stream("b", "k")), lambda: c.get_many("b", ["k"]),
             lambda: c.put_many("b", [("k", b"x")]), lambda: c.delete_bucket("b"),
             lambda: c.delete_by_ball_id("b", "k"), lambda: c.get_chunk("b", "k", 0),
             lambda: c.get_by_ball_id("b", "k"), lambda: c.get_bucket_metadata("b"),
             lambda: c.get_to_file("b", "k", str(tmp_path))]
    for call in calls:
        with pytest.raises(InvalidArgumentError, match="closed"):
            call()


def test_close_while_transfers_run_ends_them_with_an_error(vss):
    bucket, c = _bucket(), Client(vss.uri, max_workers=2, chunk_size="64KB")
    outcomes: list = []

    def put(i):
        try:
            c.put(bucket, f"big{i}", os.urandom(8 << 20))
            outcomes.append("stored")
        except MictlanXError as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    c.close()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a transfer hung after close()"
    assert len(outcomes) == 4


def test_close_closes_every_pooled_socket_without_waiting_for_the_garbage_collector(vss):
    """Mixed racing puts/gets/deletes leave error tracebacks in reference cycles that keep pools
    alive; ``close()`` must still close their sockets (urllib3 2.x's clear() only forgets pools)."""
    import gc
    import random

    def sockets() -> int:
        count = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
            except OSError:
                continue  # the descriptor listdir itself used, already closed
        return count

    bucket = _bucket()
    gc.disable()
    try:
        before = sockets()
        with Client(vss.uri, max_workers=4, chunk_size=1000) as c:
            for k in range(4):
                c.put(bucket, f"k{k}", b"z" * 2500)

            def worker(seed: int) -> None:
                rnd = random.Random(seed)
                for _ in range(30):
                    key, op = f"k{rnd.randrange(4)}", rnd.random()
                    try:
                        if op < 0.5:
                            c.get(bucket, key, use_cache=False)
                        elif op > 0.8:
                            c.delete(bucket, key)
                        else:
                            c.put(bucket, key, os.urandom(2500))
                    except MictlanXError:
                        pass  # racing writers: typed conflicts are expected here

            threads = [threading.Thread(target=worker, args=(w,)) for w in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        time.sleep(0.2)
        assert sockets() - before <= 0
    finally:
        gc.enable()
        gc.collect()
