"""Wire models (PROTOCOL §3): from_json tolerance of real-router quirks, exact to_json shapes."""

from __future__ import annotations

import copy
import json
from typing import Any, Dict, List, Tuple, Type

import attrs
import pytest

from mictlanx_sync import models as M
from mictlanx_sync.errors import InvalidArgumentError

SHA = "9f2c" + "0" * 60
FULL = "a41b" + "1" * 60

METADATA: Dict[str, Any] = {
    "key": "video1_0", "size": 256000, "checksum": SHA,
    "tags": {"index": "0", "num_chunks": "4", "chunk_size": "256000", "group_id": "video1",
             "full_checksum": FULL, "fullname": "video1.mp4", "extension": "mp4"},
    "content_type": "application/octet-stream", "producer_id": "client-0", "ball_id": "video1",
    "bucket_id": "media", "is_disabled": False,
}
METADATA_2: Dict[str, Any] = {**METADATA, "key": "video1_1", "size": 1000, "tags": {"index": "1"}}


def assert_json_identical(actual: Any, expected: Any, where: str = "$") -> None:
    """Equal values AND equal JSON types (1, 1.0 and True are all different here)."""
    assert type(actual) is type(expected), f"{where}: {type(actual).__name__} != {type(expected).__name__}"
    if isinstance(expected, dict):
        assert set(actual) == set(expected), f"{where}: keys {sorted(actual)} != {sorted(expected)}"
        for name in expected:
            assert_json_identical(actual[name], expected[name], f"{where}.{name}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{where}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_json_identical(a, e, f"{where}[{i}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


# (model, canonical wire JSON): from_json(x).to_json() must give back x exactly.
SHAPES: List[Tuple[Type[Any], Dict[str, Any]]] = [
    (M.Metadata, METADATA),
    (M.PutMetadataRequest, {"bucket_id": "media", "key": "clip_0", "ball_id": "clip", "checksum": SHA,
                            "size": 10000, "producer_id": "client-0", "tags": {"index": "0"},
                            "content_type": "application/octet-stream", "is_disabled": False,
                            "replication_factor": 2}),
    (M.PeerPutMetadataResponse, {"key": "clip_0", "service_time": 3, "task_id": "G0", "node_id": "peer-0"}),
    (M.PutMetadataResponse, {"key": "clip_0", "service_time": 0.012, "tasks_ids": ["G0"],
                             "bucket_id": "media", "replicas": ["peer-0", "peer-1"], "extra": {}}),
    (M.GetMetadataResponse, {"service_time": 1, "peer_id": "peer-0", "local_peer_id": "peer-1",
                             "metadata": METADATA}),
    (M.PeerPutChunkedResponse, {"node_id": "peer-0", "combined_key": "media@clip_0", "bucket_id": "media",
                                "key": "clip_0", "size": 10000, "throughput": 5.1e6, "service_time": 0.002}),
    (M.RouterPutChunkedResponse, {"peer_ids": ["peer-0"], "combined_key": "media@clip_0",
                                  "bucket_id": "media", "key": "clip_0", "size": 10000}),
    (M.PeerPutDataResponse, {"service_time": 4, "throughput": 12.5}),
    (M.GroupedBallResponse, {"bucket_id": "media", "ball_id": "video1", "size": 257000,
                             "balls": [METADATA, METADATA_2]}),
    (M.BallMetadata, {"bucket_id": "media", "ball_id": "video1", "size": "257 KB", "size_bytes": 257000,
                      "checksum": FULL, "chunks": [METADATA, METADATA_2]}),
    (M.GetBucketMetadataResponse, {"peer_id": "peer-0", "balls": [METADATA]}),
    (M.PeerStatsResponse, {"peer_id": "peer-0", "used_disk": 10, "total_disk": 100, "available_disk": 90,
                           "disk_uf": 0.1, "balls": [METADATA], "peers": ["peer-1"]}),
    (M.GetUFSResponse, {"total_disk": 100, "used_disk": 10, "disk_uf": 0.1}),
    (M.BallBasicData, {"bucket_id": "b", "key": "k", "size": 3}),
    (M.GetSizeByKey, {"bucket_id": "b", "key": "k", "peer_id": "peer-0", "size": 3}),
    (M.DeletedByKeyResponse, {"n_deletes": 2, "key": "k"}),
    (M.DeletedByBallIdResponse, {"n_deletes": 0, "ball_id": "bid"}),
    (M.PeerPayload, {"protocol": "http", "peer_id": "mictlanx-peer-0", "hostname": "localhost",
                     "port": 25000}),
    (M.PeerInfo, {"peer_id": "p0", "ip_addr": "127.0.0.1", "port": 24000, "protocol": "http",
                  "api_version": 4}),
    (M.PeersResponse, {"available": [{"peer_id": "p0", "ip_addr": "h", "port": 1, "protocol": "http",
                                      "api_version": 4}], "unavailable": []}),
    (M.HealthResponse, {"status": "ok", "peer_id": "p0", "available_peers": 2}),
    (M.ReplicateResponse, {"peer_id": "p0", "replica_peer_id": "p1", "bucket_id": "b", "key": "k",
                           "size": 3, "ok": True, "response_time": 12}),
    (M.StoragePeerResponse, {"id": "p1", "disk": 100, "memory": 50, "ip_addr": "10.0.0.2", "port": 24001,
                             "weight": 1.5, "used_disk": 10, "used_memory": 5}),
]


def _ids() -> List[str]:
    return [model.__name__ for model, _ in SHAPES]


def test_every_exported_model_has_a_shape() -> None:
    exported = {name for name in M.__all__}
    covered = {model.__name__ for model, _ in SHAPES} | {"GetRouterBucketMetadataResponse"}
    assert exported == covered


@pytest.mark.parametrize(("model", "wire"), SHAPES, ids=_ids())
def test_round_trip_is_exact(model: Type[Any], wire: Dict[str, Any]) -> None:
    parsed = model.from_json(copy.deepcopy(wire))
    out = parsed.to_json()
    assert_json_identical(out, wire)
    json.dumps(out)  # JSON-ready
    assert model.from_json(out) == parsed


@pytest.mark.parametrize(("model", "wire"), SHAPES, ids=_ids())
def test_unknown_fields_are_ignored(model: Type[Any], wire: Dict[str, Any]) -> None:
    noisy = {**copy.deepcopy(wire), "surprise": [1, 2], "another_extra": {"x": 1}}
    assert model.from_json(noisy) == model.from_json(wire)


@pytest.mark.parametrize(("model", "wire"), SHAPES, ids=_ids())
def test_missing_required_fields_are_named(model: Type[Any], wire: Dict[str, Any]) -> None:
    required = [f.name for f in attrs.fields(model) if f.default is attrs.NOTHING]
    for name in required:
        partial = {k: v for k, v in wire.items() if k != name}
        with pytest.raises(InvalidArgumentError, match=repr(name)):
            model.from_json(partial)


@pytest.mark.parametrize(("model", "wire"), SHAPES, ids=_ids())
def test_from_json_refuses_non_objects(model: Type[Any], wire: Dict[str, Any]) -> None:
    for bad in (None, [wire], "text", 3):
        with pytest.raises(InvalidArgumentError, match=model.__name__):
            model.from_json(bad)


@pytest.mark.parametrize(("model", "wire"), SHAPES, ids=_ids())
def test_models_are_frozen(model: Type[Any], wire: Dict[str, Any]) -> None:
    parsed = model.from_json(copy.deepcopy(wire))
    name = next(iter(wire))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(parsed, name, wire[name])


def test_required_fields_per_protocol() -> None:
    def required(model: Type[Any]) -> set[str]:
        return {f.name for f in attrs.fields(model) if f.default is attrs.NOTHING}

    assert required(M.Metadata) == {"key", "size", "checksum", "tags", "content_type", "producer_id",
                                    "ball_id"}
    assert required(M.PutMetadataRequest) == {"bucket_id", "key", "ball_id", "checksum", "size",
                                              "producer_id"}
    assert required(M.PutMetadataResponse) == {"key", "service_time"}
    assert required(M.GetRouterBucketMetadataResponse) == {"bucket_id"}
    assert len(required(M.PeerPutChunkedResponse)) == 7
    assert len(required(M.RouterPutChunkedResponse)) == 5
    assert len(required(M.BallMetadata)) == 6


# --- lax typing (PROTOCOL §2.6) ---------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [(3, 3), ("3", 3), (" 7 ", 7), (2.0, 2), ("0", 0), (-1, -1)])
def test_int_fields_accept_ints_integral_floats_and_numeric_strings(value: Any, expected: int) -> None:
    parsed = M.Metadata.from_json({**METADATA, "size": value})
    assert parsed.size == expected
    assert type(parsed.size) is int
    assert type(parsed.to_json()["size"]) is int


@pytest.mark.parametrize("value", [2.5, "2.5", "abc", "", None, [1], {"n": 1}, float("nan"), float("inf")])
def test_int_fields_refuse_non_integers(value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="size"):
        M.Metadata.from_json({**METADATA, "size": value})


def test_service_time_int_refuses_fraction_but_float_field_accepts() -> None:
    with pytest.raises(InvalidArgumentError):
        M.PeerPutMetadataResponse.from_json({"key": "k", "service_time": 2.5, "task_id": "t", "node_id": "n"})
    assert M.PutMetadataResponse.from_json({"key": "k", "service_time": "0.5"}).service_time == 0.5
    assert M.PutMetadataResponse.from_json({"key": "k", "service_time": 2}).to_json()["service_time"] == 2.0
    with pytest.raises(InvalidArgumentError):
        M.PutMetadataResponse.from_json({"key": "k", "service_time": "fast"})


@pytest.mark.parametrize("field", ["key", "checksum", "content_type", "producer_id", "ball_id", "bucket_id"])
@pytest.mark.parametrize("value", [5, 1.5, True, None, ["a"]])
def test_str_fields_refuse_non_strings(field: str, value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=field):
        M.Metadata.from_json({**METADATA, field: value})


def test_task_id_number_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="task_id"):
        M.PeerPutMetadataResponse.from_json({"key": "k", "service_time": 1, "task_id": 5, "node_id": "n"})


@pytest.mark.parametrize("value", [3, 3.0, True, None, ["3"], {"a": "b"}])
def test_tag_values_must_be_strings(value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="num_chunks"):
        M.Metadata.from_json({**METADATA, "tags": {"num_chunks": value}})


def test_tags_must_be_an_object() -> None:
    with pytest.raises(InvalidArgumentError, match="tags"):
        M.Metadata.from_json({**METADATA, "tags": ["index", "0"]})
    with pytest.raises(InvalidArgumentError):
        M.Metadata.from_json({**METADATA, "tags": {1: "x"}})


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), (1, True), (0, False), ("true", True), ("false", False),
     ("True", True), ("1", True), ("0", False)],
)
def test_bool_fields_are_lax(value: Any, expected: bool) -> None:
    parsed = M.Metadata.from_json({**METADATA, "is_disabled": value})
    assert parsed.is_disabled is expected


@pytest.mark.parametrize("value", [2, "yes?", None, 1.5, "2"])
def test_bool_fields_refuse_other_values(value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="is_disabled"):
        M.Metadata.from_json({**METADATA, "is_disabled": value})


# --- real-router quirks ------------------------------------------------------------------------------
def test_metadata_defaults() -> None:
    wire = {k: v for k, v in METADATA.items() if k not in ("bucket_id", "is_disabled")}
    parsed = M.Metadata.from_json(wire)
    assert parsed.bucket_id == ""
    assert parsed.is_disabled is False


def test_metadata_reads_is_disable_spelling() -> None:
    wire = {k: v for k, v in METADATA.items() if k != "is_disabled"}
    assert M.Metadata.from_json({**wire, "is_disable": True}).is_disabled is True
    assert M.Metadata.from_json({**wire, "is_disable": "1"}).is_disabled is True
    # when both are present the client's spelling wins
    assert M.Metadata.from_json({**METADATA, "is_disabled": False, "is_disable": True}).is_disabled is False


def test_metadata_to_json_uses_is_disabled_and_to_peer_json_uses_is_disable() -> None:
    meta = M.Metadata.from_json({**METADATA, "is_disabled": True})
    body = meta.to_json()
    assert body["is_disabled"] is True and "is_disable" not in body
    peer = meta.to_peer_json()
    assert peer["is_disable"] is True
    assert "is_disabled" not in peer
    assert "replication_factor" not in peer
    assert set(peer) == {"key", "size", "checksum", "tags", "producer_id", "content_type", "ball_id",
                         "bucket_id", "is_disable"}
    # the model itself is untouched
    assert meta.to_json()["is_disabled"] is True


def test_metadata_tags_null_tolerated() -> None:
    assert M.Metadata.from_json({**METADATA, "tags": None}).tags == {}


def test_metadata_to_json_copies_tags() -> None:
    meta = M.Metadata.from_json(copy.deepcopy(METADATA))
    body = meta.to_json()
    body["tags"]["index"] = "99"
    assert meta.tags["index"] == "0"


def test_put_metadata_request_nulls_become_defaults() -> None:
    wire = {"bucket_id": "b", "key": "k", "ball_id": "k", "checksum": SHA, "size": 3, "producer_id": "c",
            "tags": None, "content_type": None, "is_disabled": None, "replication_factor": None}
    parsed = M.PutMetadataRequest.from_json(wire)
    assert parsed.tags == {}
    assert parsed.content_type == "application/octet-stream"
    assert parsed.is_disabled is False
    assert parsed.replication_factor == 1
    body = parsed.to_json()
    assert len(body) == 10
    assert body["tags"] == {}
    assert type(body["replication_factor"]) is int


def test_put_metadata_request_to_metadata() -> None:
    request = M.PutMetadataRequest.from_json(SHAPES[1][1])
    meta = request.to_metadata()
    assert meta.key == "clip_0" and meta.ball_id == "clip" and meta.bucket_id == "media"
    assert meta.size == 10000 and meta.tags == {"index": "0"}


def test_put_metadata_response_defaults() -> None:
    parsed = M.PutMetadataResponse.from_json({"key": "k", "service_time": 0.1})
    assert parsed.tasks_ids == () and parsed.replicas == () and parsed.bucket_id == "" and parsed.extra == {}
    assert parsed.to_json() == {"key": "k", "service_time": 0.1, "tasks_ids": [], "bucket_id": "",
                                "replicas": [], "extra": {}}


def test_put_metadata_response_refuses_numeric_task_ids() -> None:
    with pytest.raises(InvalidArgumentError):
        M.PutMetadataResponse.from_json({"key": "k", "service_time": 0.1, "tasks_ids": [5]})
    with pytest.raises(InvalidArgumentError):
        M.PutMetadataResponse.from_json({"key": "k", "service_time": 0.1, "tasks_ids": "G0"})


def test_ball_metadata_size_is_a_string_on_the_wire() -> None:
    wire = {"bucket_id": "b", "ball_id": "x", "size": "1.02 MB", "size_bytes": "1020000",
            "checksum": "", "chunks": [METADATA]}
    parsed = M.BallMetadata.from_json(wire)
    assert parsed.size == "1.02 MB"
    assert parsed.size_bytes == 1020000
    assert parsed.chunks[0].key == "video1_0"
    assert type(parsed.to_json()["size"]) is str
    # a numeric size from a lenient server still comes out as a string
    assert M.BallMetadata.from_json({**wire, "size": 40000}).to_json()["size"] == "40000"


def test_ball_metadata_nested_errors_name_the_model() -> None:
    bad_chunk = {**METADATA, "size": 2.5}
    with pytest.raises(InvalidArgumentError, match="BallMetadata") as info:
        M.BallMetadata.from_json({"bucket_id": "b", "ball_id": "x", "size": "1 KB", "size_bytes": 1,
                                  "checksum": "", "chunks": [bad_chunk]})
    assert "Metadata" in str(info.value)


def test_router_bucket_listing_reads_peers_ids() -> None:
    parsed = M.GetRouterBucketMetadataResponse.from_json(
        {"bucket_id": "b", "peers_ids": ["p0", "p1"], "balls": [METADATA, METADATA]})
    assert parsed.peer_ids == ("p0", "p1")
    assert len(parsed.balls) == 2
    # peer_ids wins when both are sent
    both = M.GetRouterBucketMetadataResponse.from_json({"bucket_id": "b", "peer_ids": ["a"],
                                                        "peers_ids": ["z"]})
    assert both.peer_ids == ("a",)


def test_router_bucket_listing_defaults_and_both_spellings_out() -> None:
    parsed = M.GetRouterBucketMetadataResponse.from_json({"bucket_id": "b"})
    assert parsed.peer_ids == () and parsed.balls == () and parsed.extra == {}
    body = M.GetRouterBucketMetadataResponse.from_json(
        {"bucket_id": "b", "peer_ids": ["p0"], "balls": [METADATA]}).to_json()
    assert_json_identical(body, {"bucket_id": "b", "peer_ids": ["p0"], "peers_ids": ["p0"],
                                 "balls": [METADATA], "extra": {}})
    body["peer_ids"].append("mutated")
    assert body["peers_ids"] == ["p0"]


def test_peer_stats_to_json_has_exactly_seven_keys() -> None:
    stats = M.PeerStatsResponse.from_json({"peer_id": "p", "used_disk": "1", "total_disk": 2.0,
                                           "available_disk": 1, "disk_uf": "0.5", "extra": "dropped"})
    body = stats.to_json()
    assert set(body) == {"peer_id", "used_disk", "total_disk", "available_disk", "disk_uf", "balls", "peers"}
    assert len(body) == 7
    assert body["balls"] == [] and body["peers"] == []
    assert type(body["total_disk"]) is int and type(body["disk_uf"]) is float


def test_get_metadata_response_nested_quirks() -> None:
    inner = {k: v for k, v in METADATA.items() if k != "is_disabled"}
    parsed = M.GetMetadataResponse.from_json({"service_time": "4", "peer_id": "p0", "local_peer_id": "p0",
                                              "metadata": {**inner, "is_disable": True, "size": "12"}})
    assert parsed.service_time == 4
    assert parsed.metadata.is_disabled is True
    assert parsed.metadata.size == 12
    with pytest.raises(InvalidArgumentError):
        M.GetMetadataResponse.from_json({"service_time": 0.5, "peer_id": "p0", "local_peer_id": "p0",
                                         "metadata": METADATA})


def test_models_accept_model_instances_in_nested_fields() -> None:
    meta = M.Metadata.from_json(METADATA)
    grouped = M.GroupedBallResponse(bucket_id="b", ball_id="video1", size=1, balls=[meta])
    assert grouped.balls == (meta,)
    assert grouped.to_json()["balls"] == [METADATA]
    wrapper = M.GetMetadataResponse(service_time=1, peer_id="p", local_peer_id="p", metadata=meta)
    assert wrapper.metadata is meta


def test_peer_payload_base_url_and_peers_response_defaults() -> None:
    payload = M.PeerPayload.from_json({"protocol": "http", "peer_id": "p0", "hostname": "localhost",
                                       "port": "25000"})
    assert payload.base_url() == "http://localhost:25000"
    assert M.PeersResponse.from_json({}).available == ()
    info = M.PeerInfo.from_json({"peer_id": "p", "ip_addr": "h", "port": 1})
    assert info.protocol == "http" and info.api_version == 4


def test_health_response_defaults() -> None:
    assert M.HealthResponse.from_json({}) == M.HealthResponse(status="ok", peer_id="", available_peers=0)
