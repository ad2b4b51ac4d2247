"""Peer (PROTOCOL §4): every public method against `responses`: method, path, headers, body, model."""

from __future__ import annotations

import io
import json
import os
from email.message import Message
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import requests
import responses
from responses import matchers

from mictlanx_sync import Peer
from mictlanx_sync import errors as E
from mictlanx_sync.config import RetryConfig
from mictlanx_sync.models import (
    BallBasicData,
    DeletedByBallIdResponse,
    DeletedByKeyResponse,
    GetBucketMetadataResponse,
    GetMetadataResponse,
    GetSizeByKey,
    GetUFSResponse,
    GroupedBallResponse,
    HealthResponse,
    Metadata,
    PeerPutChunkedResponse,
    PeerPutDataResponse,
    PeerPutMetadataResponse,
    PeerStatsResponse,
)

BASE = "http://peer.test:24000"
API = BASE + "/api/v4"
SHA = "ab" * 32
META: Dict[str, Any] = {"key": "clip_0", "size": 5, "checksum": SHA, "tags": {"index": "0"},
                        "content_type": "application/octet-stream", "producer_id": "c0",
                        "ball_id": "clip", "bucket_id": "media", "is_disabled": False}
CHUNKED_REPLY = {"node_id": "peer-0", "combined_key": "media@clip_0", "bucket_id": "media",
                 "key": "clip_0", "size": 5, "throughput": 1.5, "service_time": 0.25}


# --- helpers ------------------------------------------------------------------------------------------
class _BrokenRaw(io.RawIOBase):
    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            raise ConnectionResetError(104, "Connection reset by peer")
        n = min(len(buffer), self.left)
        buffer[:n] = b"x" * n
        self.left -= n
        return n


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
def peer() -> Iterator[Peer]:
    p = Peer(BASE, peer_id="peer-0", retry=RetryConfig(total=2, backoff_factor=0, backoff_jitter=0))
    yield p
    p.close()


def only_call(mock: responses.RequestsMock) -> Any:
    assert len(mock.calls) == 1
    return mock.calls[0].request


# --- construction -------------------------------------------------------------------------------------
def test_construction_and_repr() -> None:
    with Peer("http://127.0.0.1:24000/", peer_id="mictlanx-peer-0") as p:
        assert p.base_url == "http://127.0.0.1:24000"
        assert p.peer_id == "mictlanx-peer-0"
        assert repr(p) == "Peer('http://127.0.0.1:24000')"


# --- step 1 ---------------------------------------------------------------------------------------------
def test_put_metadata(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("POST", f"{API}/buckets/media/metadata",
             json={"key": "clip_0", "service_time": 3, "task_id": "G0", "node_id": "peer-0"})
    tags = {"index": "0"}
    out = peer.put_metadata("media", "clip_0", 5, SHA, "c0", ball_id="clip", tags=tags, task_id="G0")
    assert out == PeerPutMetadataResponse(key="clip_0", service_time=3, task_id="G0", node_id="peer-0")
    request = only_call(mock)
    assert request.method == "POST"
    assert request.headers["Task-Id"] == "G0"
    assert request.headers["Update"] == "0"
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert body == {"key": "clip_0", "size": 5, "checksum": SHA, "tags": {"index": "0"},
                    "producer_id": "c0", "content_type": "application/octet-stream", "ball_id": "clip",
                    "bucket_id": "media", "is_disable": False}


def test_put_metadata_defaults_update_and_no_task_id(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("POST", f"{API}/buckets/b/metadata",
             json={"key": "k", "service_time": "1", "task_id": "t-1", "node_id": "p"})
    out = peer.put_metadata("b", "k", 0, SHA, update=True, is_disabled=True)
    assert out.task_id == "t-1" and out.service_time == 1
    request = only_call(mock)
    assert "Task-Id" not in request.headers
    assert request.headers["Update"] == "1"
    body = json.loads(request.body)
    assert body["ball_id"] == "k"  # defaults to the key
    assert body["tags"] == {} and body["producer_id"] == "" and body["is_disable"] is True


def test_put_metadata_model_and_update_metadata(mock: responses.RequestsMock, peer: Peer) -> None:
    reply = {"key": "clip_0", "service_time": 1, "task_id": "T", "node_id": "peer-0"}
    mock.add("POST", f"{API}/buckets/media/metadata", json=reply)
    mock.add("POST", f"{API}/buckets/media/metadata", json=reply)
    meta = Metadata.from_json(META)
    assert peer.put_metadata_model(meta, task_id="T").task_id == "T"
    assert peer.update_metadata(meta).key == "clip_0"
    first, second = (c.request for c in mock.calls)
    assert first.headers["Task-Id"] == "T" and first.headers["Update"] == "0"
    assert second.headers["Update"] == "1" and "Task-Id" not in second.headers
    assert json.loads(body_bytes(second)) == meta.to_peer_json()


def test_put_metadata_is_not_retried_and_maps_409(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("POST", f"{API}/buckets/b/metadata", json={"detail": "b@k already exists"}, status=409)
    with pytest.raises(E.AlreadyExistsError) as info:
        peer.put_metadata("b", "k", 1, SHA)
    assert info.value.bucket_id == "b" and info.value.key == "k"
    assert "b@k" in str(info.value)
    assert len(mock.calls) == 1


def test_put_metadata_malformed_reply(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("POST", f"{API}/buckets/b/metadata", json={"key": "k", "service_time": 2.5, "task_id": "t",
                                                        "node_id": "p"})
    with pytest.raises(E.ServerError, match="malformed"):
        peer.put_metadata("b", "k", 1, SHA)


def test_put_metadata_refuses_bad_tags_before_sending(mock: responses.RequestsMock, peer: Peer) -> None:
    with pytest.raises(E.InvalidArgumentError):
        peer.put_metadata("b", "k", 1, SHA, tags={"n": 3})  # type: ignore[dict-item]
    assert len(mock.calls) == 0


# --- step 2 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make_value",
    [lambda: b"hello", lambda: bytearray(b"hello"), lambda: memoryview(b"hello"),
     lambda: io.BytesIO(b"hello"), lambda: iter([b"he", b"ll", b"o"])],
    ids=["bytes", "bytearray", "memoryview", "file", "iterator"],
)
def test_put_data_multipart(mock: responses.RequestsMock, peer: Peer, make_value: Any) -> None:
    mock.add("POST", f"{API}/buckets/data/T1", json={"service_time": 2, "throughput": 10.0}, status=201)
    out = peer.put_data("T1", make_value(), key="clip_0", content_type="video/mp4")
    assert out == PeerPutDataResponse(service_time=2, throughput=10.0)
    request = only_call(mock)
    assert request.method == "POST"
    parts = multipart_parts(request)
    assert len(parts) == 1
    part = parts[0]
    assert part.get_param("name", header="content-disposition") == "data"
    assert part.get_filename() == "clip_0"
    assert part.get_content_type() == "video/mp4"
    assert part.get_payload(decode=True) == b"hello"


@pytest.mark.parametrize("body", ["", "Created", "[1, 2]", '{"service_time": 0.004}'])
def test_put_data_any_2xx_is_success(mock: responses.RequestsMock, peer: Peer, body: str) -> None:
    mock.add("POST", f"{API}/buckets/data/T1", body=body, status=201)
    assert isinstance(peer.put_data("T1", b"x"), PeerPutDataResponse)


def test_put_data_unknown_task(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("POST", f"{API}/buckets/data/T9", json={"detail": "Task(T9) not found"}, status=404)
    with pytest.raises(E.NotFoundError):
        peer.put_data("T9", b"x")
    assert len(mock.calls) == 1


def test_put_chunked_bytes(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("POST", f"{API}/buckets/data/G0/chunked", json=CHUNKED_REPLY)
    out = peer.put_chunked("G0", b"hello", bucket_id="media", key="clip_0")
    assert out == PeerPutChunkedResponse.from_json(CHUNKED_REPLY)
    request = only_call(mock)
    assert request.headers["Content-Type"] == "application/octet-stream"
    assert request.headers["Content-Length"] == "5"
    assert body_bytes(request) == b"hello"


def test_put_chunked_file(mock: responses.RequestsMock, peer: Peer, tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"hello")
    mock.add("POST", f"{API}/buckets/data/G0/chunked", json=CHUNKED_REPLY)
    with open(source, "rb") as handle:
        peer.put_chunked("G0", handle)
    request = only_call(mock)
    assert body_bytes(request) == b"hello"
    assert request.headers["Content-Type"] == "application/octet-stream"


def test_put_chunked_iterator_is_streamed_chunked(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("POST", f"{API}/buckets/data/G0/chunked", json=CHUNKED_REPLY)
    pieces: List[Any] = [b"he", bytearray(b"ll"), memoryview(b"o")]
    peer.put_chunked("G0", iter(pieces))
    request = only_call(mock)
    assert request.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in request.headers
    assert body_bytes(request) == b"hello"


def test_put_chunked_malformed_reply(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("POST", f"{API}/buckets/data/G0/chunked",
             json={k: v for k, v in CHUNKED_REPLY.items() if k != "throughput"})
    with pytest.raises(E.ServerError, match="throughput"):
        peer.put_chunked("G0", b"hello")


def test_put_chunked_not_retried_on_503(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("POST", f"{API}/buckets/data/G0/chunked", status=503)
    with pytest.raises(E.ServerError):
        peer.put_chunked("G0", b"hello")
    assert len(mock.calls) == 1


# --- reads ----------------------------------------------------------------------------------------------
def test_health(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("GET", f"{BASE}/health", json={"status": "ok", "peer_id": "peer-0"})
    assert peer.health() == HealthResponse(status="ok", peer_id="peer-0", available_peers=0)
    mock.add("GET", f"{BASE}/health", body="OK")
    assert peer.health() == HealthResponse()
    assert [c.request.method for c in mock.calls] == ["GET", "GET"]


def test_health_down(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("GET", f"{BASE}/health", body="down", status=500)
    with pytest.raises(E.ServerError):
        peer.health()


def test_get_metadata(mock: responses.RequestsMock, peer: Peer) -> None:
    reply = {"service_time": 1, "peer_id": "peer-0", "local_peer_id": "peer-0",
             "metadata": {**{k: v for k, v in META.items() if k != "is_disabled"}, "is_disable": True}}
    mock.add("GET", f"{API}/buckets/media/metadata/clip_0", json=reply)
    out = peer.get_metadata("media", "clip_0")
    assert isinstance(out, GetMetadataResponse)
    assert out.metadata.key == "clip_0" and out.metadata.is_disabled is True
    assert only_call(mock).headers["Accept-Encoding"] == "identity"


def test_get_metadata_quotes_path_segments(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("GET", f"{API}/buckets/b/metadata/a%2Fb", json={"detail": "nope"}, status=404)
    with pytest.raises(E.NotFoundError) as info:
        peer.get_metadata("b", "a/b")
    assert info.value.bucket_id == "b" and info.value.key == "a/b"


def test_get_bytes(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("GET", f"{API}/buckets/media/clip_0", body=b"hello")
    assert peer.get("media", "clip_0") == b"hello"
    request = only_call(mock)
    assert request.headers["Accept-Encoding"] == "identity"
    assert request.headers["Force-Get"] == "0"


def test_get_disabled_is_forbidden(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("GET", f"{API}/buckets/b/k", json={"detail": "b@k is disabled"}, status=403)
    with pytest.raises(E.ForbiddenError) as info:
        peer.get("b", "k")
    assert "b@k" in str(info.value)


def test_get_streaming_yields_pieces_without_content(mock: responses.RequestsMock, peer: Peer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    body = os.urandom(2500)
    mock.add("GET", f"{API}/buckets/media/clip_0", body=body, headers={"Content-Type": "video/mp4"})

    def forbidden(self: requests.Response) -> bytes:
        raise AssertionError("get_streaming must not buffer the body through .content")

    monkeypatch.setattr(requests.Response, "content", property(forbidden))
    with peer.get_streaming("media", "clip_0", chunk_size="1kb", force=True) as stream:
        assert stream.headers["Content-Type"] == "video/mp4"
        pieces = list(stream)
    assert [len(p) for p in pieces] == [1000, 1000, 500]
    assert b"".join(pieces) == body
    request = only_call(mock)
    assert request.headers["Chunk-Size"] == "1kb"
    assert request.headers["Force-Get"] == "1"
    assert request.headers["Accept-Encoding"] == "identity"
    assert request.req_kwargs["stream"] is True


def test_get_streaming_next_and_int_chunk_size(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("GET", f"{API}/buckets/b/k", body=b"abcdef")
    stream = peer.get_streaming("b", "k", chunk_size=4)
    assert next(stream) == b"abcd"
    assert next(stream) == b"ef"
    with pytest.raises(StopIteration):
        next(stream)
    assert only_call(mock).headers["Chunk-Size"] == "4"


def test_get_streaming_refuses_bad_chunk_size_before_sending(mock: responses.RequestsMock,
                                                             peer: Peer) -> None:
    with pytest.raises(E.InvalidArgumentError):
        peer.get_streaming("b", "k", chunk_size="lots")
    assert len(mock.calls) == 0


def test_get_streaming_not_found(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("GET", f"{API}/buckets/b/k", json={"detail": "b@k not found"}, status=404)
    with pytest.raises(E.NotFoundError):
        peer.get_streaming("b", "k")


def test_get_into_exact(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("GET", f"{API}/buckets/b/k", body=b"hello")
    buffer = bytearray(5)
    assert peer.get_into("b", "k", memoryview(buffer)) == 5
    assert buffer == b"hello"
    assert only_call(mock).headers["Force-Get"] == "0"


@pytest.mark.parametrize(("body", "size"), [(b"hell", 5), (b"hello!", 5), (b"", 1)])
def test_get_into_short_or_long_is_integrity_error(mock: responses.RequestsMock, peer: Peer,
                                                    body: bytes, size: int) -> None:
    mock.add("GET", f"{API}/buckets/b/k", body=body)
    with pytest.raises(E.IntegrityError) as info:
        peer.get_into("b", "k", memoryview(bytearray(size)))
    assert info.value.bucket_id == "b" and info.value.key == "k"


def test_get_into_slices_a_larger_buffer(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("GET", f"{API}/buckets/b/k", body=b"hello")
    buffer = bytearray(b"..........")
    peer.get_into("b", "k", memoryview(buffer)[3:8])
    assert buffer == b"...hello.."


def test_get_to_file(mock: responses.RequestsMock, peer: Peer, tmp_path: Path) -> None:
    body = os.urandom(3000)
    mock.add("GET", f"{API}/buckets/b/k", body=body)
    target = tmp_path / "out.bin"
    assert peer.get_to_file("b", "k", target, chunk_size="1kb") == str(target)
    assert target.read_bytes() == body
    assert os.listdir(tmp_path) == ["out.bin"]
    assert only_call(mock).headers["Chunk-Size"] == "1kb"


def test_get_to_file_replaces_existing(mock: responses.RequestsMock, peer: Peer, tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    mock.add("GET", f"{API}/buckets/b/k", body=b"new")
    peer.get_to_file("b", "k", str(target))
    assert target.read_bytes() == b"new"


def test_get_to_file_leaves_nothing_on_http_error(mock: responses.RequestsMock, peer: Peer,
                                                  tmp_path: Path) -> None:
    mock.add("GET", f"{API}/buckets/b/k", json={"detail": "nope"}, status=404)
    with pytest.raises(E.NotFoundError):
        peer.get_to_file("b", "k", tmp_path / "out.bin")
    assert os.listdir(tmp_path) == []


def test_get_to_file_leaves_nothing_on_broken_stream(mock: responses.RequestsMock, peer: Peer,
                                                     tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous")
    mock.add("GET", f"{API}/buckets/b/k", body=io.BufferedReader(_BrokenRaw(2500)))
    with pytest.raises(E.NetworkError):
        peer.get_to_file("b", "k", target, chunk_size="1kb")
    assert os.listdir(tmp_path) == ["out.bin"]
    assert target.read_bytes() == b"previous"


def test_get_to_file_cleans_up_on_interrupt(mock: responses.RequestsMock, peer: Peer, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    mock.add("GET", f"{API}/buckets/b/k", body=b"x" * 5000)

    def interrupted(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        peer.get_to_file("b", "k", tmp_path / "out.bin")
    assert os.listdir(tmp_path) == []


# --- listings and sizes ---------------------------------------------------------------------------------
def test_get_by_ball_id(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("GET", f"{API}/buckets/media/metadata/clip/group",
             json={"bucket_id": "media", "ball_id": "clip", "size": 5, "balls": [META]})
    out = peer.get_by_ball_id("media", "clip")
    assert isinstance(out, GroupedBallResponse)
    assert out.balls[0].key == "clip_0"
    assert only_call(mock).method == "GET"


def test_get_bucket_metadata(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("GET", f"{API}/buckets/media/metadata", json={"peer_id": "peer-0", "balls": [META, META]})
    out = peer.get_bucket_metadata("media")
    assert isinstance(out, GetBucketMetadataResponse)
    assert out.peer_id == "peer-0" and len(out.balls) == 2


def test_get_size(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("GET", f"{API}/buckets/b/k/size", json={"bucket_id": "b", "key": "k", "peer_id": "p", "size": 5})
    assert peer.get_size("b", "k") == GetSizeByKey(bucket_id="b", key="k", peer_id="p", size=5)


def test_get_stats(mock: responses.RequestsMock, peer: Peer) -> None:
    stats = {"peer_id": "peer-0", "used_disk": 1, "total_disk": 10, "available_disk": 9, "disk_uf": 0.1,
             "balls": [META], "peers": []}
    mock.add("GET", f"{API}/stats", json=stats,
             match=[matchers.query_param_matcher({"start": "2", "end": "7"})])
    mock.add("GET", f"{API}/stats", json=stats, match=[matchers.query_param_matcher({"start": "0"})])
    out = peer.get_stats(2, 7)
    assert isinstance(out, PeerStatsResponse) and out.balls[0].key == "clip_0"
    assert peer.get_stats().peer_id == "peer-0"


def test_get_ufs(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("GET", f"{API}/stats/ufs", json={"total_disk": 10, "used_disk": 1, "disk_uf": 0.1})
    assert peer.get_ufs() == GetUFSResponse(total_disk=10, used_disk=1, disk_uf=0.1)


def test_flush_tasks(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("DELETE", f"{API}/tasks", json={"tasks": ["t1", "t2"]})
    assert peer.flush_tasks() == ["t1", "t2"]
    mock.add("DELETE", f"{API}/tasks", body="", status=204)
    assert peer.flush_tasks() == []
    mock.add("DELETE", f"{API}/tasks", body="flushed")
    assert peer.flush_tasks() == []
    assert [c.request.method for c in mock.calls] == ["DELETE"] * 3


def test_balls_len(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("GET", f"{API}/balls/len", json={"len": 7})
    assert peer.balls_len() == 7
    mock.add("GET", f"{API}/balls/len", json={"length": 7})
    with pytest.raises(E.ServerError):
        peer.balls_len()


def test_xballs(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("GET", f"{API}/xballs", json=[{"bucket_id": "b", "key": "k", "size": 3}],
             match=[matchers.query_param_matcher({"start": "1", "end": "4"})])
    assert peer.xballs(1, 4) == [BallBasicData(bucket_id="b", key="k", size=3)]
    mock.add("GET", f"{API}/xballs", json={"not": "a list"})
    with pytest.raises(E.ServerError):
        peer.xballs()


def test_xballs_size(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("GET", f"{API}/xballs/size", json=[["b", "k", 123], ["b", "k2", "4"]],
             match=[matchers.query_param_matcher({"start": "0"})])
    assert peer.xballs_size() == [("b", "k", 123), ("b", "k2", 4)]
    mock.add("GET", f"{API}/xballs/size", json=[["b", "k"]])
    with pytest.raises(E.ServerError):
        peer.xballs_size()


# --- disable and deletes ------------------------------------------------------------------------------
def test_disable(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("POST", f"{API}/buckets/b/k/disable", status=204)
    peer.disable("b", "k")
    assert only_call(mock).method == "POST"


def test_delete_reads_n_deletes_header(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("DELETE", f"{API}/buckets/b/k", json={"n_deletes": 99, "key": "k"}, headers={"n-deletes": "3"})
    assert peer.delete("b", "k") == DeletedByKeyResponse(n_deletes=3, key="k")
    request = only_call(mock)
    assert request.headers["Force"] == "1"
    assert request.headers["Accept-Encoding"] == "identity"


def test_delete_header_only_no_body(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("DELETE", f"{API}/buckets/b/k", body="", headers={"N-Deletes": "0"})
    assert peer.delete("b", "k", force=False).n_deletes == 0
    assert only_call(mock).headers["Force"] == "0"


@pytest.mark.parametrize("headers", [{}, {"n-deletes": "many"}])
def test_delete_without_usable_header_reads_body(mock: responses.RequestsMock, peer: Peer,
                                                 headers: Dict[str, str]) -> None:
    mock.add("DELETE", f"{API}/buckets/b/k", json={"n_deletes": 2, "key": "k"}, headers=headers)
    assert peer.delete("b", "k").n_deletes == 2


def test_delete_retried_on_503(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("DELETE", f"{API}/buckets/b/k", status=503)
    mock.add("DELETE", f"{API}/buckets/b/k", headers={"n-deletes": "1"})
    assert peer.delete("b", "k").n_deletes == 1
    assert len(mock.calls) == 2


def test_delete_by_ball_id(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("DELETE", f"{API}/buckets/b/bid/clip", headers={"n-deletes": "4"},
             json={"n_deletes": 0, "ball_id": "clip"})
    assert peer.delete_by_ball_id("b", "clip") == DeletedByBallIdResponse(n_deletes=4, ball_id="clip")
    assert only_call(mock).headers["Force"] == "1"
    mock.add("DELETE", f"{API}/buckets/b/bid/clip", json={"n_deletes": 2, "ball_id": "clip"})
    assert peer.delete_by_ball_id("b", "clip", force=False).n_deletes == 2
    assert mock.calls[1].request.headers["Force"] == "0"


def test_errors_name_the_bucket_and_key(mock: responses.RequestsMock, peer: Peer) -> None:
    mock.add("GET", f"{API}/buckets/media/metadata/clip/group", json={"detail": "boom"}, status=500)
    with pytest.raises(E.ServerError) as info:
        peer.get_by_ball_id("media", "clip")
    assert info.value.bucket_id == "media" and info.value.key == "clip"
