"""Every storage-peer endpoint of the local VSS, through the low-level Peer (raw requests only
where Peer would refuse the input)."""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid

import pytest
import requests

from mictlanx_sync import _protocol as P
from mictlanx_sync.errors import (
    AlreadyExistsError,
    BadRequestError,
    ForbiddenError,
    MictlanXError,
    NotFoundError,
)
from mictlanx_sync.peer import Peer
from mictlanx_sync.vss.peer_app import PeerConfig, create_peer_app
from mictlanx_sync.vss.server import Server, ServerConfig

# The VSS's own servers and their exact replies: meaningless against another router.
pytestmark = pytest.mark.local_vss

STATS_KEYS = {"peer_id", "used_disk", "total_disk", "available_disk", "disk_uf", "balls", "peers"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def peer(vss):
    with Peer(vss.peer_urls[0], peer_id=vss.peer_ids[0]) as p:
        yield p


@pytest.fixture
def small_peer(tmp_path):
    """An in-process peer with a 64 kB limit whose data dir sits alone under tmp_path."""
    app = create_peer_app(PeerConfig(data_dir=str(tmp_path / "data"), peer_id="small", max_body_size=64_000,
                                     fsync=False))
    server = Server(app, ServerConfig(port=0))
    server.start()
    with Peer(server.url, peer_id="small") as p:
        yield p, tmp_path
    server.stop()


def _put(peer, bucket, key, data, ball_id=None, chunked=True, **kw):
    reply = peer.put_metadata(bucket, key, len(data), _sha(data), "prod", ball_id=ball_id or key, **kw)
    if chunked:
        return peer.put_chunked(reply.task_id, iter([data[: len(data) // 2], data[len(data) // 2:]]),
                                bucket_id=bucket, key=key)
    return peer.put_data(reply.task_id, data, key=key)


def test_health(peer, vss):
    assert requests.get(vss.peer_urls[0] + "/health").json() == {"status": "ok", "peer_id": vss.peer_ids[0]}
    assert peer.health().peer_id == vss.peer_ids[0]


def test_two_step_put_chunked_and_read_back(peer, bucket):
    data = os.urandom(2_500_001)
    step1 = peer.put_metadata(bucket, "k1", len(data), _sha(data), "prod", ball_id="g",
                              content_type="image/png", tags={"a": "1"})
    assert isinstance(step1.service_time, int) and step1.node_id == peer.peer_id
    reply = peer.put_chunked(step1.task_id, iter([data[:1000], data[1000:]]), bucket_id=bucket, key="k1")
    assert (reply.size, reply.key, reply.combined_key) == (len(data), "k1", f"{bucket}@k1")
    meta = peer.get_metadata(bucket, "k1")
    assert meta.metadata.size == len(data) and meta.metadata.tags == {"a": "1"}
    assert meta.peer_id == meta.local_peer_id == peer.peer_id and isinstance(meta.service_time, int)
    raw = requests.get(peer.base_url + P.path(P.DATA, bucket_id=bucket, key="k1"))
    assert raw.status_code == 200 and raw.content == data
    assert raw.headers["Content-Length"] == str(len(data)) and raw.headers["Content-Type"] == "image/png"
    assert "Content-Encoding" not in raw.headers
    assert b"".join(peer.get_streaming(bucket, "k1")) == data


def test_multipart_put_answers_201(peer, bucket):
    data = os.urandom(300_000)
    step1 = peer.put_metadata(bucket, "mp", len(data), _sha(data), "prod")
    raw = requests.post(peer.base_url + P.path(P.PUT_DATA, task_id=step1.task_id),
                        files={"data": ("mp", data, "application/octet-stream")})
    assert raw.status_code == 201
    body = raw.json()
    assert isinstance(body["service_time"], int) and isinstance(body["throughput"], float)
    assert peer.get(bucket, "mp") == data


def test_raw_body_with_content_length(peer, bucket):
    data = os.urandom(1000)
    step1 = peer.put_metadata(bucket, "raw", len(data), _sha(data), "prod")
    raw = requests.post(peer.base_url + P.path(P.PUT_CHUNKED, task_id=step1.task_id), data=data)
    assert raw.status_code == 200 and set(raw.json()) == {"node_id", "combined_key", "bucket_id", "key", "size",
                                                          "throughput", "service_time"}


def test_task_id_header_and_single_use(peer, bucket):
    data = b"abc"
    step1 = peer.put_metadata(bucket, "t", 3, _sha(data), "prod", task_id="GroupId_123-abcdefghijk")
    assert step1.task_id == "GroupId_123-abcdefghijk"
    peer.put_chunked(step1.task_id, data)
    with pytest.raises(NotFoundError):
        peer.put_chunked(step1.task_id, data)
    with pytest.raises(NotFoundError):
        peer.put_chunked("unknown-task", data)


def test_existing_key_conflicts_and_update_overwrites_metadata(peer, bucket):
    _put(peer, bucket, "k", b"data")
    with pytest.raises(AlreadyExistsError):
        peer.put_metadata(bucket, "k", 4, _sha(b"data"), "prod")
    peer.put_metadata(bucket, "k", 4, _sha(b"data"), "prod", tags={"new": "tag"}, update=True)
    assert peer.get_metadata(bucket, "k").metadata.tags == {"new": "tag"}
    assert peer.get(bucket, "k") == b"data"


def test_uncommitted_metadata_is_invisible(peer, bucket):
    peer.put_metadata(bucket, "pending", 5, _sha(b"12345"), "prod")
    with pytest.raises(NotFoundError):
        peer.get_metadata(bucket, "pending")
    assert peer.get_bucket_metadata(bucket).balls == ()
    with pytest.raises(NotFoundError):
        peer.get_size(bucket, "pending")


def test_listing_group_size_and_deletes(peer, bucket):
    for i in range(3):
        _put(peer, bucket, f"c_{i}", os.urandom(100 + i), ball_id="c", chunked=i != 1)
    _put(peer, bucket, "other", b"x")
    listing = peer.get_bucket_metadata(bucket)
    assert listing.peer_id == peer.peer_id and {b.key for b in listing.balls} == {"c_0", "c_1", "c_2", "other"}
    group = peer.get_by_ball_id(bucket, "c")
    assert {b.key for b in group.balls} == {"c_0", "c_1", "c_2"} and group.size == 303
    empty = peer.get_by_ball_id(bucket, "none")
    assert empty.balls == () and empty.size == 0
    assert peer.get_size(bucket, "c_2").size == 102
    raw = requests.delete(peer.base_url + P.path(P.DATA, bucket_id=bucket, key="c_0"), headers={"Force": "1"})
    assert raw.status_code == 200 and raw.headers["n-deletes"] == "1"
    assert raw.json() == {"n_deletes": 1, "key": "c_0"}
    assert peer.delete(bucket, "c_0").n_deletes == 0
    assert peer.delete_by_ball_id(bucket, "c").n_deletes == 2
    assert peer.delete_by_ball_id(bucket, "c").n_deletes == 0
    assert [b.key for b in peer.get_bucket_metadata(bucket).balls] == ["other"]


def test_delete_discards_pending_task(peer, bucket):
    step1 = peer.put_metadata(bucket, "p", 1, _sha(b"x"), "prod")
    assert peer.delete(bucket, "p").n_deletes == 0
    with pytest.raises(NotFoundError):
        peer.put_chunked(step1.task_id, b"x")


def test_disable(peer, bucket):
    _put(peer, bucket, "d", b"secret")
    peer.disable(bucket, "d")
    peer.disable(bucket, "never-stored")  # 2xx for unknown keys
    assert peer.get_metadata(bucket, "d").metadata.is_disabled is True
    with pytest.raises(ForbiddenError):
        peer.get(bucket, "d")
    assert peer.delete(bucket, "d").n_deletes == 1


def test_stats_ufs_tasks_and_listings(peer, bucket):
    _put(peer, bucket, "s1", b"12345")
    _put(peer, bucket, "s2", b"123")
    raw = requests.get(peer.base_url + P.STATS, params={"start": 0, "end": 1}).json()
    assert set(raw) == STATS_KEYS and len(raw["balls"]) == 1
    stats = peer.get_stats()
    assert stats.used_disk >= 8 and stats.total_disk >= stats.available_disk > 0 and 0 <= stats.disk_uf < 1
    ufs = requests.get(peer.base_url + P.STATS_UFS).json()
    assert set(ufs) == {"total_disk", "used_disk", "disk_uf"}
    count = peer.balls_len()
    assert count >= 2
    assert len(peer.xballs()) == count and len(peer.xballs(0, 1)) == 1
    sizes = requests.get(peer.base_url + P.XBALLS_SIZE, params={"start": 0}).json()
    assert all(isinstance(x, list) and len(x) == 3 for x in sizes)
    assert (bucket, "s2", 3) in peer.xballs_size()
    peer.put_metadata(bucket, "pending", 1, _sha(b"x"), "prod", task_id="flush-me")
    raw_tasks = requests.delete(peer.base_url + P.TASKS)
    assert raw_tasks.status_code == 200 and "flush-me" in raw_tasks.json()["tasks"]


@pytest.mark.parametrize("path,status", [
    ("/api/v4/buckets/b/%2e%2e%2fx", 400),
    ("/api/v4/buckets/b/%2Fetc%2Fpasswd", 400),
    ("/api/v4/buckets/b/%2e%2e", 400),
    ("/api/v4/buckets/b/metadata/..%2F..%2Fx", 400),
    ("/api/v4/buckets/" + "x" * 10_000 + "/k", 400),
    ("/api/v4/buckets/b/k/extra/segments/here", 404),
    ("/nope", 404),
])
def test_bad_paths_get_a_json_detail(peer, path, status):
    raw = requests.get(peer.base_url + path)
    assert raw.status_code == status and "detail" in raw.json()


def test_wrong_method_is_405(peer):
    raw = requests.put(peer.base_url + "/health")
    assert raw.status_code == 405 and raw.json() == {"detail": "Method Not Allowed"}


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "%2e%2e%2fx", "x" * 10_000, "a/b", "-a", "k__x"])
def test_bad_keys_are_refused_at_step_1(peer, key):
    body = {"key": key, "size": 1, "checksum": _sha(b"x"), "tags": {}, "producer_id": "p",
            "content_type": "x", "ball_id": "b", "bucket_id": "bkt", "is_disable": False}
    raw = requests.post(peer.base_url + P.path(P.BUCKET_METADATA, bucket_id="bkt"), json=body)
    assert raw.status_code == 400 and raw.json()["detail"]["code"] == 400


@pytest.mark.parametrize("body", [
    {"key": "k"},
    {"key": 5, "size": 1, "checksum": "0" * 64, "tags": {}, "producer_id": "p", "content_type": "x",
     "ball_id": "b"},
    {"key": "k", "size": "big", "checksum": "0" * 64, "tags": {}, "producer_id": "p", "content_type": "x",
     "ball_id": "b"},
    {"key": "k", "size": 1, "checksum": "0" * 64, "tags": {"n": 3}, "producer_id": "p", "content_type": "x",
     "ball_id": "b"},
    [1, 2],
])
def test_wrong_json_types_are_422(peer, body):
    raw = requests.post(peer.base_url + P.path(P.BUCKET_METADATA, bucket_id="bkt"), json=body)
    assert raw.status_code == 422 and isinstance(raw.json()["detail"], list)
    raw = requests.post(peer.base_url + P.path(P.BUCKET_METADATA, bucket_id="bkt"), data=b"{not json")
    assert raw.status_code == 422


def test_size_and_checksum_mismatch_store_nothing(peer, bucket):
    data = b"0123456789"
    for key, sent in (("short", data[:5]), ("long", data + b"!"), ("corrupt", b"x" * 10)):
        step1 = peer.put_metadata(bucket, key, 10, _sha(data), "prod")
        with pytest.raises(BadRequestError) as info:
            peer.put_chunked(step1.task_id, iter([sent]))
        assert info.value.detail["code"] == 400
        with pytest.raises(NotFoundError):
            peer.get_metadata(bucket, key)


def test_truncated_and_malformed_multipart(peer, bucket):
    data = b"payload!"
    step1 = peer.put_metadata(bucket, "mp", len(data), _sha(data), "prod")
    body = b'--bnd\r\nContent-Disposition: form-data; name="data"; filename="mp"\r\n\r\n' + data
    raw = requests.post(peer.base_url + P.path(P.PUT_DATA, task_id=step1.task_id), data=body,
                        headers={"Content-Type": "multipart/form-data; boundary=bnd"})
    assert raw.status_code == 400 and "multipart" in raw.json()["detail"]
    step1 = peer.put_metadata(bucket, "mp2", len(data), _sha(data), "prod")
    raw = requests.post(peer.base_url + P.path(P.PUT_DATA, task_id=step1.task_id), data=data,
                        headers={"Content-Type": "application/octet-stream"})
    assert raw.status_code == 400
    with pytest.raises(NotFoundError):
        peer.get_metadata(bucket, "mp")


def test_chunked_request_body_is_parsed_by_hand(peer, bucket):
    """A hand-written chunked body (odd chunk sizes, a chunk extension) over a raw socket."""
    data = os.urandom(70_000)
    step1 = peer.put_metadata(bucket, "hand", len(data), _sha(data), "prod")
    host, port = peer.base_url.rsplit("/", 1)[1].split(":")
    pieces = [data[:1], data[1:40_000], data[40_000:]]
    body = b"".join(b"%x;ext=1\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
    head = (f"POST {P.path(P.PUT_CHUNKED, task_id=step1.task_id)} HTTP/1.1\r\nHost: {host}\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head + body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200")
    assert peer.get(bucket, "hand") == data


def test_limits_and_nothing_written_outside_data_dir(small_peer):
    peer, root = small_peer
    with pytest.raises(MictlanXError) as info:
        peer.put_metadata("b", "big", 64_001, _sha(b""), "prod")
    assert info.value.status == 413
    step1 = peer.put_metadata("b", "ok", 64_000, _sha(b"\0" * 64_000), "prod")
    raw = requests.post(peer.base_url + P.path(P.PUT_CHUNKED, task_id=step1.task_id), data=b"\0" * 200_000)
    assert raw.status_code == 413 and "detail" in raw.json()
    step1 = peer.put_metadata("b", "ok", 64_000, _sha(b"\0" * 64_000), "prod")
    with pytest.raises(BadRequestError):
        peer.put_chunked(step1.task_id, iter([b"\0" * 30_000] * 4))
    for key in ("../x", "/etc/passwd", "..%2Fx"):
        requests.post(peer.base_url + P.path(P.BUCKET_METADATA, bucket_id="b"),
                      json={"key": key, "size": 1, "checksum": _sha(b"x"), "tags": {}, "producer_id": "p",
                            "content_type": "x", "ball_id": "b", "bucket_id": "b"})
    _put(peer, "b", "good", b"fine")
    files = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
    assert all(f.startswith("data" + os.sep) for f in files)
    names = [f for f in files if f.startswith(os.path.join("data", "objects"))]
    assert len(names) == 1 and "good" not in names[0]
    assert os.listdir(os.path.join(root, "data", "tmp")) == []


def test_peer_restart_loses_nothing_committed(vss, bucket):
    data = os.urandom(200_000)
    with Peer(vss.peer_urls[1], peer_id=vss.peer_ids[1]) as p:
        _put(p, bucket, "durable", data)
        p.put_metadata(bucket, "pending", 1, _sha(b"x"), "prod")
        vss.kill_peer(1)
        vss.start_peer(1)
        assert p.get(bucket, "durable") == data
        assert p.get_metadata(bucket, "durable").metadata.checksum == _sha(data)
        with pytest.raises(NotFoundError):
            p.get_metadata(bucket, "pending")
    _wait_router_sees_all(vss)


def _wait_router_sees_all(vss):
    from mictlanx_sync.router import Router

    with Router(vss.router_url) as router:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if len(router.get_stats(0, 0)) == len(vss.peer_ids):
                return
            time.sleep(0.05)  # polling interval; the router re-probes peers itself
    raise AssertionError("the router did not see every peer again")


def test_unique_bucket_fixture(new_bucket):
    assert new_bucket() != new_bucket() and uuid.UUID(int=0)
