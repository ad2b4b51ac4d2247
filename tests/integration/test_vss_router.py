"""Every router endpoint of the local VSS, through the low-level Router (raw requests only where
Router would refuse the input), plus replication, placement and fault cases."""

from __future__ import annotations

import hashlib
import os
import time
import uuid

import pytest
import requests

from mictlanx_sync import _protocol as P
from mictlanx_sync.errors import (
    AlreadyExistsError,
    BadRequestError,
    ForbiddenError,
    MaxAvailabilityReachedError,
    MictlanXError,
    NotFoundError,
)
from mictlanx_sync.models import Metadata, PeerPayload
from mictlanx_sync.peer import Peer
from mictlanx_sync.router import Router
from mictlanx_sync.vss.router_app import RouterConfig, create_router_app
from mictlanx_sync.vss.server import Server, ServerConfig

# The VSS's own servers and their exact replies: meaningless against another router.
pytestmark = pytest.mark.local_vss

STATS_KEYS = {"peer_id", "used_disk", "total_disk", "available_disk", "disk_uf", "balls", "peers"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def router(vss):
    with Router(vss.router_url, router_id="mictlanx-router-0") as r:
        yield r


def _put(router, bucket, key, data, rf=1, ball_id=None, tags=None, chunked=True):
    reply = router.put_metadata(bucket, key, len(data), _sha(data), "client-0", ball_id=ball_id or key,
                                tags=tags or {}, replication_factor=rf)
    if chunked:
        router.put_chunked(reply.tasks_ids[0], data)
    else:
        router.put_data(reply.tasks_ids[0], data, key=key)
    return reply


def _dto(key="k", bucket="b", size=1, data=b"x", **extra):
    body = {"bucket_id": bucket, "key": key, "ball_id": key, "checksum": _sha(data), "size": size,
            "producer_id": "p", "tags": {}, "content_type": "application/octet-stream", "is_disabled": False,
            "replication_factor": 1}
    body.update(extra)
    return body


def test_health_and_peers(router, vss):
    assert requests.get(vss.router_url + "/health").json() == {"status": "ok", "available_peers": 2}
    peers = router.get_peers()
    assert {p.peer_id for p in peers.available} == set(vss.peer_ids) and peers.unavailable == ()
    assert requests.get(vss.router_url + "/mictlanx/health").status_code == 200


def test_two_step_put_rf2_lands_on_both_peers(router, vss, bucket):
    data = os.urandom(1_000_003)
    step1 = router.put_metadata(bucket, "both", len(data), _sha(data), "client-0", replication_factor=2)
    assert len(step1.tasks_ids) == 1 and len(step1.tasks_ids[0]) == 21
    assert sorted(step1.replicas) == sorted(vss.peer_ids) and isinstance(step1.service_time, float)
    reply = router.put_chunked(step1.tasks_ids[0], iter([data[:7], data[7:]]))
    assert sorted(reply.peer_ids) == sorted(vss.peer_ids)
    assert (reply.size, reply.combined_key) == (len(data), f"{bucket}@both")
    for url in vss.peer_urls:
        with Peer(url) as peer:
            assert peer.get(bucket, "both") == data
    with pytest.raises(MaxAvailabilityReachedError):
        router.put_metadata(bucket, "both", len(data), _sha(data), "client-0", replication_factor=1)
    raw = requests.post(vss.router_url + P.path(P.BUCKET_METADATA, bucket_id=bucket),
                        json=_dto("both", bucket, len(data), data))
    assert raw.status_code == 404 and raw.json()["detail"]["code"] == 666


def test_rf_is_the_target_replica_count_and_replicas_never_diverge(router, vss, bucket):
    data = b"grow"
    first = _put(router, bucket, "grow", data, rf=1)
    with pytest.raises(MaxAvailabilityReachedError):  # already has its one replica
        router.put_metadata(bucket, "grow", len(data), _sha(data), "c", replication_factor=1)
    second = _put(router, bucket, "grow", data, rf=2)  # grows to two replicas
    assert set(first.replicas) | set(second.replicas) == set(vss.peer_ids)
    assert len(router.get_size(bucket, "grow")) == 2
    with pytest.raises(MaxAvailabilityReachedError):
        router.put_metadata(bucket, "grow", len(data), _sha(data), "c", replication_factor=2)
    other = _put(router, bucket, "other", b"v1", rf=1)
    assert len(other.replicas) == 1
    with pytest.raises(AlreadyExistsError):  # different content: never a divergent replica
        router.put_metadata(bucket, "other", 2, _sha(b"v2"), "c", replication_factor=2)


def test_multipart_put_and_read_back(router, bucket):
    data = os.urandom(200_000)
    step1 = router.put_metadata(bucket, "mp", len(data), _sha(data), "c")
    raw = requests.post(router.base_url + P.path(P.PUT_DATA, task_id=step1.tasks_ids[0]),
                        files={"data": ("mp", data, "application/octet-stream")})
    assert raw.status_code == 201 and raw.content == b""
    assert router.get(bucket, "mp") == data


def test_get_metadata_and_data(router, bucket):
    data = os.urandom(3_000_000)
    _put(router, bucket, "obj", data, tags={"fullname": "obj.bin"})
    meta = router.get_metadata(bucket, "obj")
    assert meta.metadata.size == len(data) and meta.metadata.tags["fullname"] == "obj.bin"
    raw = requests.get(router.base_url + P.path(P.DATA, bucket_id=bucket, key="obj"),
                       headers={"Accept-Encoding": "identity", "Chunk-Size": "256kb"})
    assert raw.status_code == 200 and raw.content == data
    assert raw.headers["Content-Length"] == str(len(data))
    assert b"".join(router.get_streaming(bucket, "obj")) == data
    with pytest.raises(NotFoundError):
        router.get_metadata(bucket, "missing")
    raw = requests.get(router.base_url + P.path(P.DATA, bucket_id=bucket, key="missing"))
    assert raw.status_code == 404 and isinstance(raw.json()["detail"], str)


def test_chunks_listing_merge_and_sizes(router, bucket):
    parts = [os.urandom(10_000), os.urandom(15_001)]
    full = _sha(b"".join(parts))
    for i, part in enumerate(parts):
        _put(router, bucket, f"clip_{i}", part, ball_id="clip",
             tags={"index": str(i), "num_chunks": "2", "full_checksum": full, "updated_at": str(10 + i)})
    chunks = router.get_by_ball_id(bucket, "clip")
    assert chunks.size_bytes == 25_001 and chunks.size == "25 KB" and chunks.checksum == full
    assert [c.key for c in chunks.chunks] == ["clip_0", "clip_1"]
    raw = requests.get(router.base_url + P.path(P.CHUNKS, bucket_id=bucket, ball_id="clip")).json()
    assert isinstance(raw["size"], str) and isinstance(raw["size_bytes"], int)
    with pytest.raises(NotFoundError):
        router.get_by_ball_id(bucket, "nothing")
    merged = requests.get(router.base_url + P.path(P.MERGE, bucket_id=bucket, ball_id="clip"))
    assert merged.status_code == 200 and merged.content == b"".join(parts)
    listing = router.get_bucket_metadata(bucket)
    assert sorted(b.key for b in listing.balls) == ["clip_0", "clip_1"]
    raw = requests.get(router.base_url + P.path(P.BUCKET_METADATA, bucket_id=bucket)).json()
    assert raw["peer_ids"] == raw["peers_ids"] and len(raw["peer_ids"]) == 2
    assert router.get_size(bucket, "clip_1")[0].size == 15_001


def test_listing_is_unique_per_key_and_skips_empty(router, bucket):
    _put(router, bucket, "dup", b"abc", rf=2)
    _put(router, bucket, "empty", b"")
    listing = router.get_bucket_metadata(bucket)
    assert [b.key for b in listing.balls] == ["dup"]
    # our extension: include_empty=1 lists the 0-byte ball too, still one entry per key
    listing = router.get_bucket_metadata(bucket, include_empty=True)
    assert sorted(b.key for b in listing.balls) == ["dup", "empty"]


def test_deletes(router, bucket):
    _put(router, bucket, "d", b"abc", rf=2)
    raw = requests.delete(router.base_url + P.path(P.DATA, bucket_id=bucket, key="d"), headers={"Force": "1"})
    assert raw.status_code == 200 and raw.json() == {"n_deletes": 2, "key": "d"}
    with pytest.raises(NotFoundError):
        router.delete(bucket, "d")
    for i in range(3):
        _put(router, bucket, f"g_{i}", b"x" * (i + 1), ball_id="g")
    assert router.delete_by_ball_id(bucket, "g").n_deletes == 3
    raw = requests.delete(router.base_url + P.path(P.DELETE_BY_BALL_ID, bucket_id=bucket, ball_id="g"))
    assert raw.status_code == 200 and raw.json() == {"n_deletes": 0, "ball_id": "g"}
    _put(router, bucket, "d", b"again")  # a deleted key can be written again
    assert router.get(bucket, "d") == b"again"


def test_disable_and_update_metadata(router, bucket):
    _put(router, bucket, "u", b"data", tags={"a": "1"})
    meta = router.get_metadata(bucket, "u").metadata
    new = Metadata(key="u", size=meta.size, checksum=meta.checksum, tags={"a": "2"},
                   content_type="text/plain", producer_id="p", ball_id="u", bucket_id=bucket)
    router.update_metadata(bucket, "u", new)
    updated = router.get_metadata(bucket, "u").metadata
    assert updated.tags == {"a": "2"} and updated.content_type == "text/plain"
    with pytest.raises(NotFoundError):
        router.update_metadata(bucket, "nope", attr_evolve(new, key="nope"))
    raw = requests.post(router.base_url + P.path(P.DISABLE, bucket_id=bucket, key="u"))
    assert raw.status_code == 204
    router.disable(bucket, "never-there")
    assert router.get_metadata(bucket, "u").metadata.is_disabled
    with pytest.raises(ForbiddenError):
        router.get(bucket, "u")


def attr_evolve(meta, **changes):
    import attrs

    return attrs.evolve(meta, **changes)


def test_peers_stats(router, vss):
    stats = requests.get(router.base_url + P.PEERS_STATS).json()
    assert set(stats) == set(vss.peer_ids)
    assert all(set(v) == STATS_KEYS for v in stats.values())
    assert all(len(v["balls"]) <= 100 for v in stats.values())
    assert all(len(v.balls) <= 1 for v in router.get_stats(0, 1).values())


def test_unknown_reused_task_and_size_mismatch(router, bucket):
    with pytest.raises(NotFoundError):
        router.put_chunked("unknown-task-id", b"x")
    data = b"0123456789"
    step1 = router.put_metadata(bucket, "once", 10, _sha(data), "c")
    router.put_chunked(step1.tasks_ids[0], data)
    with pytest.raises(NotFoundError):
        router.put_chunked(step1.tasks_ids[0], data)
    for key, sent in (("short", [data[:4]]), ("long", [data, b"!"]), ("badsum", [b"x" * 10])):
        step1 = router.put_metadata(bucket, key, 10, _sha(data), "c", replication_factor=2)
        with pytest.raises(MictlanXError) as info:
            router.put_chunked(step1.tasks_ids[0], iter(sent))
        # badsum: every replica refused the bytes, so the client's fault is relayed as a 400
        assert info.value.status == 400 and isinstance(info.value.detail, dict), info.value
        with pytest.raises(NotFoundError):
            router.get_metadata(bucket, key)
    step1 = router.put_metadata(bucket, "cl", 10, _sha(data), "c")
    raw = requests.post(router.base_url + P.path(P.PUT_CHUNKED, task_id=step1.tasks_ids[0]), data=b"123")
    assert raw.status_code == 400 and raw.json()["detail"]["code"] == 400


@pytest.mark.parametrize("body", [
    {"key": "k"},
    _dto(size="big"),
    _dto(key=5),
    _dto(tags={"n": 3}),
    _dto(replication_factor="two"),
    [1],
])
def test_wrong_json_types_are_422_with_a_list_detail(router, body):
    raw = requests.post(router.base_url + P.path(P.BUCKET_METADATA, bucket_id="b"), json=body)
    assert raw.status_code == 422 and isinstance(raw.json()["detail"], list)


def test_bad_ids_bucket_mismatch_and_unknown_routes(router):
    for key in ("../x", "/etc/passwd", "%2e%2e%2fx", "x" * 10_000, "a.b"):
        raw = requests.post(router.base_url + P.path(P.BUCKET_METADATA, bucket_id="b"), json=_dto(key=key))
        assert raw.status_code == 400 and "detail" in raw.json()
    raw = requests.post(router.base_url + P.path(P.BUCKET_METADATA, bucket_id="b"), json=_dto(bucket="other"))
    assert raw.status_code == 400 and "mismatch" in raw.json()["detail"]
    for path in ("/api/v4/buckets/b/%2e%2e%2fx", "/api/v4/buckets/b/metadata/%2Fetc%2Fpasswd"):
        assert requests.get(router.base_url + path).status_code == 400
    assert requests.get(router.base_url + "/api/v4/nothing").json() == {"detail": "Not Found"}
    assert requests.put(router.base_url + P.PEERS).json() == {"detail": "Method Not Allowed"}


def test_truncated_multipart_stores_nothing(router, bucket):
    data = b"payload"
    step1 = router.put_metadata(bucket, "tm", len(data), _sha(data), "c")
    body = b'--bnd\r\nContent-Disposition: form-data; name="data"\r\n\r\n' + data
    raw = requests.post(router.base_url + P.path(P.PUT_DATA, task_id=step1.tasks_ids[0]), data=body,
                        headers={"Content-Type": "multipart/form-data; boundary=bnd"})
    assert raw.status_code == 400 and "detail" in raw.json()
    with pytest.raises(NotFoundError):
        router.get_metadata(bucket, "tm")


@pytest.fixture
def solo_router(vss, tmp_path):
    """An in-process router over the session's peers, with a 100 kB limit and a dead extra peer."""
    peers = tuple(PeerPayload(protocol="http", peer_id=pid, hostname="127.0.0.1", port=int(url.rsplit(":", 1)[1]))
                  for pid, url in zip(vss.peer_ids, vss.peer_urls))
    app = create_router_app(RouterConfig(peers=peers, max_body_size=100_000))
    server = Server(app, ServerConfig(port=0))
    server.start()
    with Router(server.url) as r:
        yield r
    server.stop()


def test_unreachable_registered_peer_is_never_chosen(solo_router, bucket):
    dead = PeerPayload(protocol="http", peer_id="dead-peer", hostname="127.0.0.1", port=9)
    solo_router.add_peers([dead])
    raw = requests.post(solo_router.base_url + P.PEERS,
                        json={"protocol": "http", "peer_id": "dead-2", "hostname": "127.0.0.1", "port": 9999})
    assert raw.status_code == 204
    peers = solo_router.get_peers()
    assert {p.peer_id for p in peers.unavailable} == {"dead-peer", "dead-2"}
    for i in range(6):
        reply = _put(solo_router, bucket, f"k{i}", b"v", rf=4)
        assert "dead-peer" not in reply.replicas and "dead-2" not in reply.replicas
        assert solo_router.get(bucket, f"k{i}") == b"v"
    assert "dead-peer" not in solo_router.get_stats()
    solo_router.remove_peer("dead-peer")
    raw = requests.delete(solo_router.base_url + P.XPEERS, json=["dead-2"])
    assert raw.status_code == 204
    assert {p.peer_id for p in solo_router.get_peers().unavailable} == set()
    raw = requests.post(solo_router.base_url + P.XPEERS, json=[{"peer_id": "x"}])
    assert raw.status_code == 422


def test_router_body_limit(solo_router, bucket):
    with pytest.raises(BadRequestError) as info:
        solo_router.put_metadata(bucket, "big", 100_001, _sha(b""), "c")
    assert info.value.status == 413
    step1 = solo_router.put_metadata(bucket, "ok", 100_000, _sha(b"\0" * 100_000), "c")
    raw = requests.post(solo_router.base_url + P.path(P.PUT_CHUNKED, task_id=step1.tasks_ids[0]),
                        data=b"\0" * 300_000)
    assert raw.status_code == 413 and "detail" in raw.json()


def test_no_live_peer_is_404_666(bucket):
    app = create_router_app(RouterConfig(peers=(PeerPayload(protocol="http", peer_id="d", hostname="127.0.0.1",
                                                            port=9),)))
    server = Server(app, ServerConfig(port=0))
    server.start()
    try:
        with Router(server.url) as r:
            with pytest.raises(MaxAvailabilityReachedError):
                r.put_metadata(bucket, "k", 1, _sha(b"x"), "c")
            assert r.get_stats() == {}
            assert r.health().available_peers == 0
    finally:
        server.stop()


def test_reads_fall_back_when_a_replica_dies(vss, bucket):
    data = os.urandom(500_000)
    with Router(vss.router_url) as router:
        _put(router, bucket, "fb", data, rf=2)
        vss.kill_peer(0)
        try:
            assert router.get(bucket, "fb") == data
            assert router.get_metadata(bucket, "fb").metadata.size == len(data)
            reply = _put(router, bucket, "after", b"still works")
            assert reply.replicas == ("mictlanx-peer-1",)
        finally:
            vss.start_peer(0)
        deadline = time.monotonic() + 10
        while len(router.get_stats(0, 0)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # polling interval: the router re-probes the restarted peer lazily
        assert len(router.get_stats(0, 0)) == 2


def test_a_second_router_sees_the_same_data(vss, bucket):
    url = vss.start_router()
    with Router(vss.router_url) as first, Router(url) as second:
        _put(first, bucket, "shared", b"bytes", rf=2)
        assert second.get(bucket, "shared") == b"bytes"
        with pytest.raises(MaxAvailabilityReachedError):
            second.put_metadata(bucket, "shared", 5, _sha(b"bytes"), "c", replication_factor=1)


@pytest.mark.parametrize("checksum", ["", "not-hex", "0" * 63])
def test_step_1_accepts_any_checksum_and_step_2_refuses_the_body(vss, checksum):
    """PROTOCOL §11.9: the real router accepts any checksum string at step 1; only a body that
    does not match it is refused (400 from every replica -> 400, not 502), and nothing is stored."""
    key = f"anysum-{uuid.uuid4().hex[:8]}"
    raw = requests.post(vss.router_url + P.path(P.BUCKET_METADATA, bucket_id="b"),
                        json=_dto(key=key, checksum=checksum))
    assert raw.status_code == 200, raw.text
    task_id = raw.json()["tasks_ids"][0]
    body = requests.post(vss.router_url + P.path(P.PUT_CHUNKED, task_id=task_id), data=b"x")
    assert body.status_code == 400, body.text
    assert requests.get(vss.router_url + P.path(P.METADATA, bucket_id="b", key=key)).status_code == 404


def test_metadata_a_peer_refuses_is_a_400_not_a_502(vss):
    """Found by the fault suite: a peer's 400 at step 1 came back from the router as 502."""
    raw = requests.post(vss.router_url + P.path(P.BUCKET_METADATA, bucket_id="b"),
                        json=_dto(key="badtype", content_type="text/\x01plain"))
    assert raw.status_code == 400, raw.text
    assert "detail" in raw.json()


def test_response_headers_cannot_be_injected(router, vss, bucket):
    """Query values and stored content types travel back as headers: CR/LF is refused (400 JSON),
    quotes are escaped and non-ASCII file names are percent-encoded (RFC 6266)."""
    _put(router, bucket, "hdr", b"payload")
    url = vss.router_url + P.path(P.DATA, bucket_id=bucket, key="hdr")
    for query in ({"content_type": "text/html\r\nSet-Cookie: session=evil"},
                  {"attachment": "1", "filename": "x\r\nSet-Cookie: session=evil"}):
        raw = requests.get(url, params=query)
        assert raw.status_code == 400 and "detail" in raw.json(), raw.text
        assert "Set-Cookie" not in raw.headers
    raw = requests.get(url, params={"attachment": "1", "filename": 'a "b".txt'})
    assert raw.status_code == 200 and raw.headers["Content-Disposition"] == 'attachment; filename="a \\"b\\".txt"'
    raw = requests.get(url, params={"attachment": "1", "filename": "\u20ac.txt"})
    assert raw.status_code == 200 and raw.content == b"payload"
    assert raw.headers["Content-Disposition"] == "attachment; filename*=UTF-8''%E2%82%AC.txt"
    for content_type in ("text/html\r\nSet-Cookie: a=b", "text/plain; charset=\u20ac"):
        for base in (vss.router_url, vss.peer_urls[0]):
            raw = requests.post(base + P.path(P.BUCKET_METADATA, bucket_id=bucket),
                                json=_dto(key="ct", bucket=bucket, content_type=content_type))
            assert raw.status_code == 400 and "content_type" in raw.text, (base, raw.text)
