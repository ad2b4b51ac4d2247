"""Router (PROTOCOL §5): every public method against `responses`, including real-router quirks."""

from __future__ import annotations

import io
import json
from email.message import Message
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import responses
from responses import matchers

from mictlanx_sync import Router
from mictlanx_sync import errors as E
from mictlanx_sync.config import RetryConfig
from mictlanx_sync.models import (
    BallMetadata,
    DeletedByBallIdResponse,
    DeletedByKeyResponse,
    GetRouterBucketMetadataResponse,
    GetSizeByKey,
    HealthResponse,
    Metadata,
    PeerInfo,
    PeerPayload,
    PeerStatsResponse,
    PutMetadataResponse,
    RouterPutChunkedResponse,
)

BASE = "http://router.test:60666"
API = BASE + "/api/v4"
SHA = "cd" * 32
FULL = "ef" * 32
META: Dict[str, Any] = {"key": "clip_0", "size": 5, "checksum": SHA,
                        "tags": {"index": "0", "num_chunks": "1", "full_checksum": FULL},
                        "content_type": "application/octet-stream", "producer_id": "c0",
                        "ball_id": "clip", "bucket_id": "media", "is_disabled": False}
STEP1_REPLY = {"key": "clip_0", "service_time": 0.012, "tasks_ids": ["G0"], "bucket_id": "media",
               "replicas": ["peer-0"], "extra": {}}
CHUNKED_REPLY = {"peer_ids": ["peer-0"], "combined_key": "media@clip_0", "bucket_id": "media",
                 "key": "clip_0", "size": 5}
NO_CAPACITY = {"detail": {"msg": "No available peers.", "suggestion": "Add more peers or delete replicas.",
                          "bucket_id": "media", "key": "clip_0", "replicas": ["peer-0"], "code": 666}}
STATS = {"peer_id": "peer-0", "used_disk": 1, "total_disk": 10, "available_disk": 9, "disk_uf": 0.1,
         "balls": [], "peers": []}


def body_bytes(request: Any) -> bytes:
    body = request.body
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    return b"".join(bytes(piece) for piece in body)  # a generator: sent chunked


def multipart_parts(request: Any) -> List[Message]:
    content_type = request.headers["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    raw = b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body_bytes(request)
    message = BytesParser().parsebytes(raw)
    assert message.is_multipart()
    return list(message.get_payload())


@pytest.fixture()
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rs:
        yield rs


@pytest.fixture()
def router() -> Iterator[Router]:
    r = Router(BASE, router_id="mictlanx-router-0",
               retry=RetryConfig(total=2, backoff_factor=0, backoff_jitter=0))
    yield r
    r.close()


def only_call(mock: responses.RequestsMock) -> Any:
    assert len(mock.calls) == 1
    return mock.calls[0].request


def test_construction_and_repr() -> None:
    with Router("http://127.0.0.1:60666", router_id="mictlanx-router-0") as r:
        assert r.router_id == "mictlanx-router-0"
        assert r.base_url == "http://127.0.0.1:60666"
        assert repr(r) == "Router('http://127.0.0.1:60666')"


# --- step 1 ---------------------------------------------------------------------------------------------
def test_put_metadata_sends_all_ten_fields(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("POST", f"{API}/buckets/media/metadata", json=STEP1_REPLY)
    out = router.put_metadata("media", "clip_0", 5, SHA, "c0", ball_id="clip", tags={"index": "0"},
                              replication_factor=2)
    assert out == PutMetadataResponse.from_json(STEP1_REPLY)
    assert out.tasks_ids == ("G0",)
    request = only_call(mock)
    assert request.method == "POST"
    assert request.headers["Update"] == "0"
    assert request.headers["Content-Type"] == "application/json"
    assert "Task-Id" not in request.headers
    body = json.loads(request.body)
    assert body == {"bucket_id": "media", "key": "clip_0", "ball_id": "clip", "checksum": SHA, "size": 5,
                    "producer_id": "c0", "tags": {"index": "0"},
                    "content_type": "application/octet-stream", "is_disabled": False,
                    "replication_factor": 2}


def test_put_metadata_defaults_and_update(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("POST", f"{API}/buckets/b/metadata", json={"key": "k", "service_time": 1})
    out = router.put_metadata("b", "k", 1, SHA, update=True, is_disabled=True, content_type="text/plain")
    assert out.tasks_ids == ()
    request = only_call(mock)
    assert request.headers["Update"] == "1"
    body = json.loads(request.body)
    assert body["ball_id"] == "k" and body["tags"] == {} and body["replication_factor"] == 1
    assert body["is_disabled"] is True and body["content_type"] == "text/plain"


@pytest.mark.parametrize(
    "reply",
    [NO_CAPACITY, {"detail": "No available peers."}, {"detail": "Not Found"}],
    ids=["666", "string", "route"],
)
def test_put_metadata_any_404_is_max_availability(mock: responses.RequestsMock, router: Router,
                                                  reply: Dict[str, Any]) -> None:
    mock.add("POST", f"{API}/buckets/media/metadata", json=reply, status=404)
    with pytest.raises(E.MaxAvailabilityReachedError) as info:
        router.put_metadata("media", "clip_0", 5, SHA)
    assert info.value.status == 404
    assert info.value.bucket_id == "media" and info.value.key == "clip_0"
    assert "No available peers." in str(info.value) or "Not Found" in str(info.value)
    assert len(mock.calls) == 1


@pytest.mark.parametrize(
    ("status", "reply", "expected"),
    [
        (409, {"detail": "media/clip_0 already exists."}, E.AlreadyExistsError),
        (412, {"detail": {"msg": "media@clip_0 already exists (If-None-Match: *)", "code": 412}},
         E.PreconditionFailedError),
        (400, {"detail": "Bucket ID mismatch: a != b"}, E.BadRequestError),
        (422, {"detail": [{"type": "string_type", "loc": ["body", "tags", "n"], "msg": "str"}]},
         E.BadRequestError),
        (500, {"detail": "404: Put remote metadata failed"}, E.NotFoundError),
        (500, {"detail": "peer exploded"}, E.ServerError),
        (503, {"detail": "busy"}, E.ServerError),
    ],
)
def test_put_metadata_other_errors(mock: responses.RequestsMock, router: Router, status: int,
                                   reply: Dict[str, Any], expected: type) -> None:
    mock.add("POST", f"{API}/buckets/media/metadata", json=reply, status=status)
    with pytest.raises(expected) as info:
        router.put_metadata("media", "clip_0", 5, SHA)
    assert type(info.value) is expected
    assert len(mock.calls) == 1  # POST: never retried by the adapter


def test_put_metadata_if_none_match_sends_the_header_and_reads_whether_it_was_checked(
        mock: responses.RequestsMock, router: Router) -> None:
    reply = {"key": "clip_0", "service_time": 0.1, "tasks_ids": ["G0"], "replicas": ["p0"]}
    mock.add("POST", f"{API}/buckets/media/metadata", json={**reply, "extra": {"precondition": "if-none-match"}})
    mock.add("POST", f"{API}/buckets/media/metadata", json={**reply, "extra": {}})
    assert router.put_metadata("media", "clip_0", 5, SHA, if_none_match=True).checked_if_none_match
    assert not router.put_metadata("media", "clip_0", 5, SHA).checked_if_none_match
    assert mock.calls[0].request.headers["If-None-Match"] == "*"
    assert "If-None-Match" not in mock.calls[1].request.headers


# --- step 2 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make_value",
    [lambda: b"hello", lambda: io.BytesIO(b"hello"), lambda: iter([b"hel", b"lo"])],
    ids=["bytes", "file", "iterator"],
)
def test_put_data_multipart_field_data(mock: responses.RequestsMock, router: Router, make_value: Any) -> None:
    mock.add("POST", f"{API}/buckets/data/G0", status=201, body="")
    router.put_data("G0", make_value(), key="clip_0")
    request = only_call(mock)
    parts = multipart_parts(request)
    assert len(parts) == 1
    assert parts[0].get_param("name", header="content-disposition") == "data"
    assert parts[0].get_filename() == "clip_0"
    assert parts[0].get_content_type() == "application/octet-stream"
    assert parts[0].get_payload(decode=True) == b"hello"


def test_put_data_size_mismatch(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("POST", f"{API}/buckets/data/G0", json={"detail": "Data size mistmatch 4 != 5"}, status=400)
    with pytest.raises(E.BadRequestError, match="mistmatch"):
        router.put_data("G0", b"hell")


def test_put_chunked_bytes_with_chunk_size(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("POST", f"{API}/buckets/data/G0/chunked", json=CHUNKED_REPLY)
    out = router.put_chunked("G0", b"hello", chunk_size="1MB", bucket_id="media", key="clip_0")
    assert out == RouterPutChunkedResponse.from_json(CHUNKED_REPLY)
    assert out.peer_ids == ("peer-0",)
    request = only_call(mock)
    assert request.headers["Content-Type"] == "application/octet-stream"
    assert request.headers["Chunk-Size"] == "1MB"
    assert body_bytes(request) == b"hello"


def test_put_chunked_file_without_chunk_size(mock: responses.RequestsMock, router: Router,
                                             tmp_path: Path) -> None:
    source = tmp_path / "f.bin"
    source.write_bytes(b"hello")
    mock.add("POST", f"{API}/buckets/data/G0/chunked", json=CHUNKED_REPLY)
    with open(source, "rb") as handle:
        router.put_chunked("G0", handle)
    request = only_call(mock)
    assert "Chunk-Size" not in request.headers
    assert body_bytes(request) == b"hello"


def test_put_chunked_iterator_streams(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("POST", f"{API}/buckets/data/G0/chunked", json=CHUNKED_REPLY)
    router.put_chunked("G0", (piece for piece in [b"h", b"ell", b"o"]))
    request = only_call(mock)
    assert request.headers["Transfer-Encoding"] == "chunked"
    assert body_bytes(request) == b"hello"


def test_put_chunked_parses_the_router_model_not_the_peer_one(mock: responses.RequestsMock,
                                                              router: Router) -> None:
    peer_shape = {"node_id": "peer-0", "combined_key": "media@clip_0", "bucket_id": "media", "key": "clip_0",
                  "size": 5, "throughput": 1.0, "service_time": 0.1}
    mock.add("POST", f"{API}/buckets/data/G0/chunked", json=peer_shape)
    with pytest.raises(E.ServerError, match="peer_ids"):
        router.put_chunked("G0", b"hello")


def test_put_chunked_no_replica_502(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("POST", f"{API}/buckets/data/G0/chunked",
             json={"detail": {"msg": "no replica stored the data", "code": 502}}, status=502)
    with pytest.raises(E.ServerError, match="no replica") as info:
        router.put_chunked("G0", b"hello", key="clip_0")
    assert info.value.status == 502
    assert len(mock.calls) == 1


def test_put_chunked_wrapped_unknown_task(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("POST", f"{API}/buckets/data/G9/chunked", json={"detail": "404: Task(G9) not found"}, status=500)
    with pytest.raises(E.NotFoundError):
        router.put_chunked("G9", b"hello")


# --- reads ----------------------------------------------------------------------------------------------
def test_health(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("GET", f"{BASE}/health", json={"status": "ok", "available_peers": 2})
    assert router.health() == HealthResponse(status="ok", available_peers=2)


def test_get_metadata(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("GET", f"{API}/buckets/media/metadata/clip_0",
             json={"service_time": "2", "peer_id": "peer-0", "local_peer_id": "peer-0", "metadata": META})
    out = router.get_metadata("media", "clip_0")
    assert out.metadata == Metadata.from_json(META)
    assert out.service_time == 2
    assert only_call(mock).headers["Accept-Encoding"] == "identity"


def test_get_metadata_wrapped_404_is_not_found(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("GET", f"{API}/buckets/media/metadata/nope", json={"detail": "404: No available peers"},
             status=500)
    with pytest.raises(E.NotFoundError) as info:
        router.get_metadata("media", "nope")
    assert info.value.status == 500
    assert "media@nope" in str(info.value)
    assert len(mock.calls) == 1  # 500 is not in the retry list


def test_get_metadata_retries_503(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("GET", f"{API}/buckets/media/metadata/clip_0", status=503)
    mock.add("GET", f"{API}/buckets/media/metadata/clip_0",
             json={"service_time": 2, "peer_id": "p", "local_peer_id": "p", "metadata": META})
    assert router.get_metadata("media", "clip_0").peer_id == "p"
    assert len(mock.calls) == 2


def test_get_streaming_and_get(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("GET", f"{API}/buckets/media/clip_0", body=b"hello")
    mock.add("GET", f"{API}/buckets/media/clip_0", body=b"hello")
    with router.get_streaming("media", "clip_0", chunk_size="256kb") as stream:
        assert b"".join(stream) == b"hello"
    assert router.get("media", "clip_0") == b"hello"
    first = mock.calls[0].request
    assert first.headers["Chunk-Size"] == "256kb"
    assert first.headers["Force-Get"] == "0"
    assert first.headers["Accept-Encoding"] == "identity"


def test_get_into_long_body(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("GET", f"{API}/buckets/media/clip_0", body=b"hello world")
    with pytest.raises(E.IntegrityError):
        router.get_into("media", "clip_0", memoryview(bytearray(5)))


def test_get_to_file(mock: responses.RequestsMock, router: Router, tmp_path: Path) -> None:
    mock.add("GET", f"{API}/buckets/media/clip_0", body=b"hello")
    router.get_to_file("media", "clip_0", tmp_path / "clip.bin")
    assert (tmp_path / "clip.bin").read_bytes() == b"hello"


def test_get_by_ball_id_chunks(mock: responses.RequestsMock, router: Router) -> None:
    reply = {"bucket_id": "media", "ball_id": "clip", "size": "5 bytes", "size_bytes": 5, "checksum": FULL,
             "chunks": [META, META]}
    mock.add("GET", f"{API}/buckets/media/metadata/clip/chunks", json=reply)
    out = router.get_by_ball_id("media", "clip")
    assert isinstance(out, BallMetadata)
    assert out.size == "5 bytes" and out.size_bytes == 5 and len(out.chunks) == 2
    assert only_call(mock).method == "GET"


def test_get_by_ball_id_not_found(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("GET", f"{API}/buckets/media/metadata/clip/chunks", json={"detail": "media@clip not found"},
             status=404)
    with pytest.raises(E.NotFoundError) as info:
        router.get_by_ball_id("media", "clip")
    assert info.value.key == "clip"


def test_get_bucket_metadata_reads_peers_ids(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("GET", f"{API}/buckets/media/metadata",
             json={"bucket_id": "media", "peers_ids": ["peer-0", "peer-1"], "balls": [META, META]})
    out = router.get_bucket_metadata("media")
    assert isinstance(out, GetRouterBucketMetadataResponse)
    assert out.peer_ids == ("peer-0", "peer-1")
    assert len(out.balls) == 2


def test_get_size(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("GET", f"{API}/buckets/b/k/size",
             json=[{"bucket_id": "b", "key": "k", "peer_id": "p0", "size": 5},
                   {"bucket_id": "b", "key": "k", "peer_id": "p1", "size": "5"}])
    assert router.get_size("b", "k") == [GetSizeByKey(bucket_id="b", key="k", peer_id="p0", size=5),
                                         GetSizeByKey(bucket_id="b", key="k", peer_id="p1", size=5)]
    mock.add("GET", f"{API}/buckets/b/k/size", json={"bucket_id": "b"})
    with pytest.raises(E.ServerError):
        router.get_size("b", "k")


def test_get_stats(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("GET", f"{API}/peers/stats", json={"peer-0": STATS, "peer-1": {**STATS, "peer_id": "peer-1"}},
             match=[matchers.query_param_matcher({"start": "0", "end": "100"})])
    out = router.get_stats()
    assert set(out) == {"peer-0", "peer-1"}
    assert isinstance(out["peer-1"], PeerStatsResponse) and out["peer-1"].peer_id == "peer-1"
    mock.add("GET", f"{API}/peers/stats", json={},
             match=[matchers.query_param_matcher({"start": "5", "end": "10"})])
    assert router.get_stats(5, 10) == {}
    mock.add("GET", f"{API}/peers/stats", json=[STATS])
    with pytest.raises(E.ServerError):
        router.get_stats()


def test_get_peers(mock: responses.RequestsMock, router: Router) -> None:
    peer = {"peer_id": "p0", "ip_addr": "127.0.0.1", "port": 24000, "protocol": "http", "api_version": 4}
    mock.add("GET", f"{API}/peers", json={"available": [peer], "unavailable": []})
    out = router.get_peers()
    assert out.available == (PeerInfo.from_json(peer),)
    assert out.unavailable == ()


# --- peer registry --------------------------------------------------------------------------------------
def test_add_peers(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("POST", f"{API}/xpeers", status=204)
    payloads = [PeerPayload(protocol="http", peer_id="p0", hostname="localhost", port=25000),
                PeerPayload(protocol="http", peer_id="dummy", hostname="127.0.0.1", port=9999)]
    router.add_peers(iter(payloads))
    request = only_call(mock)
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == [
        {"protocol": "http", "peer_id": "p0", "hostname": "localhost", "port": 25000},
        {"protocol": "http", "peer_id": "dummy", "hostname": "127.0.0.1", "port": 9999}]


def test_add_peers_failure(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("POST", f"{API}/xpeers", json={"detail": "ADD.PEERS.FAILED"}, status=500)
    with pytest.raises(E.ServerError, match="ADD.PEERS.FAILED"):
        router.add_peers([])


def test_remove_peer(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("DELETE", f"{API}/peers/mictlanx-peer-0", status=204)
    router.remove_peer("mictlanx-peer-0")
    assert only_call(mock).method == "DELETE"


# --- update, disable, deletes ------------------------------------------------------------------------
def test_update_metadata(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("POST", f"{API}/u/buckets/media/clip_0", status=204)
    meta = Metadata.from_json({**META, "tags": {"fullname": "clip.bin"}})
    router.update_metadata("media", "clip_0", meta)
    body = json.loads(only_call(mock).body)
    assert body["tags"] == {"fullname": "clip.bin"}
    assert body["key"] == "clip_0" and body["bucket_id"] == "media" and body["is_disabled"] is False
    assert set(body) >= {"bucket_id", "key", "ball_id", "checksum", "size", "producer_id", "tags",
                         "content_type", "is_disabled"}


def test_update_metadata_uses_path_bucket_when_metadata_has_none(mock: responses.RequestsMock,
                                                                 router: Router) -> None:
    mock.add("POST", f"{API}/u/buckets/media/clip_0", status=204)
    router.update_metadata("media", "clip_0", Metadata.from_json({**META, "bucket_id": ""}))
    assert json.loads(only_call(mock).body)["bucket_id"] == "media"


def test_update_metadata_broken_reference_router(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("POST", f"{API}/u/buckets/media/clip_0", body="Internal Server Error", status=500)
    with pytest.raises(E.ServerError):
        router.update_metadata("media", "clip_0", Metadata.from_json(META))


def test_disable(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("POST", f"{API}/buckets/media/clip_0/disable", status=204)
    router.disable("media", "clip_0")
    assert only_call(mock).method == "POST"


def test_delete(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("DELETE", f"{API}/buckets/media/clip_0", json={"n_deletes": 2, "key": "clip_0"})
    assert router.delete("media", "clip_0") == DeletedByKeyResponse(n_deletes=2, key="clip_0")
    request = only_call(mock)
    assert request.headers["Force"] == "1"
    assert request.headers["Accept-Encoding"] == "identity"


def test_delete_unknown_is_not_found(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("DELETE", f"{API}/buckets/media/gone", json={"detail": "media@gone not found"}, status=404)
    with pytest.raises(E.NotFoundError):
        router.delete("media", "gone", force=False)
    assert only_call(mock).headers["Force"] == "0"


def test_delete_by_ball_id(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("DELETE", f"{API}/buckets/media/bid/clip", json={"n_deletes": 0, "ball_id": "clip"})
    assert router.delete_by_ball_id("media", "clip") == DeletedByBallIdResponse(n_deletes=0, ball_id="clip")
    assert only_call(mock).headers["Force"] == "1"


def test_delete_malformed_reply(mock: responses.RequestsMock, router: Router) -> None:
    mock.add("DELETE", f"{API}/buckets/media/clip_0", body="deleted")
    with pytest.raises(E.ServerError, match="not JSON"):
        router.delete("media", "clip_0")
