"""_protocol: sanitization (PROTOCOL §1.1), id checks, path building/matching, reserved tags."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mictlanx_sync import _protocol as P
from mictlanx_sync.errors import InvalidArgumentError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("my.file", "myfile"),
        ("a/b", "ab"),
        ("a__b", "a-b"),
        ("a-_-b", "a-b"),
        ("-abc-", "abc"),
        ("key_", ""),
        ("_abc", ""),
        ("pytest-ball-3_0", "pytest-ball-3_0"),
        ("a b c", "abc"),
        ("--abc", "abc"),
        ("", ""),
        ("...", ""),
        ("-", ""),
        ("ñandú", "and"),
        ("a_b-c", "a_b-c"),
    ],
)
def test_sanitize_str_examples(raw: str, expected: str) -> None:
    assert P.sanitize_str(raw) == expected


def test_sanitize_str_keeps_uuid4() -> None:
    value = str(uuid.uuid4())
    assert P.sanitize_str(value) == value


@given(st.text(max_size=40))
def test_sanitize_str_is_idempotent_and_valid(raw: str) -> None:
    once = P.sanitize_str(raw)
    assert P.sanitize_str(once) == once
    assert once == "" or re.fullmatch(r"[A-Za-z0-9]+([-_][A-Za-z0-9]+)*", once)


@pytest.mark.parametrize("value", ["b1", "clip_0", "pytest-ball-3_0", "A9", "x" * P.MAX_ID_LENGTH])
def test_valid_ids(value: str) -> None:
    assert P.id_problem(value, "key") is None
    assert P.check_id(value, "key") == value


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("my.file", "'.'"),
        ("a/b c", "' /'"),
        ("x@y#z", "'#@'"),
        ("ñ", "'ñ'"),
    ],
)
def test_id_problem_names_offending_characters(value: str, named: str) -> None:
    problem = P.id_problem(value, "bucket_id")
    assert problem is not None
    assert problem.startswith("bucket_id")
    assert named in problem
    with pytest.raises(InvalidArgumentError) as info:
        P.check_id(value, "bucket_id")
    assert named in str(info.value)


@pytest.mark.parametrize("value", ["key_", "_abc", "-abc", "a__b", "a--b", "a-_b", "abc-"])
def test_id_problem_for_separator_misuse(value: str) -> None:
    problem = P.id_problem(value, "key")
    assert problem is not None
    assert "start and end" in problem or "repeat" in problem


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("", "must not be empty"), (5, "must be a string"), (None, "must be a string"),
     ("x" * (P.MAX_ID_LENGTH + 1), "limit is 512")],
)
def test_id_problem_other_cases(value: object, fragment: str) -> None:
    problem = P.id_problem(value, "key")
    assert problem is not None and fragment in problem
    with pytest.raises(InvalidArgumentError, match=fragment):
        P.check_id(value, "key")


@given(st.text(max_size=30))
def test_check_id_accepts_exactly_what_sanitize_leaves_unchanged(value: str) -> None:
    ok = value != "" and P.sanitize_str(value) == value
    assert (P.id_problem(value) is None) == ok


def test_path_quotes_each_value_as_one_segment() -> None:
    assert P.path(P.DATA, bucket_id="b1", key="k_0") == "/api/v4/buckets/b1/k_0"
    assert P.path(P.DATA, bucket_id="a b", key="x/y?z#w") == "/api/v4/buckets/a%20b/x%2Fy%3Fz%23w"
    assert P.path(P.PUT_CHUNKED, task_id="G0") == "/api/v4/buckets/data/G0/chunked"
    assert P.path(P.CHUNKS, bucket_id="b", ball_id="v") == "/api/v4/buckets/b/metadata/v/chunks"
    assert P.path(P.HEALTH) == "/health"
    assert P.path(P.PEER, peer_id="p%0") == "/api/v4/peers/p%250"


def test_path_templates_match_protocol() -> None:
    expected = {
        P.BUCKET_METADATA: "/api/v4/buckets/{bucket_id}/metadata",
        P.METADATA: "/api/v4/buckets/{bucket_id}/metadata/{key}",
        P.DATA: "/api/v4/buckets/{bucket_id}/{key}",
        P.PUT_DATA: "/api/v4/buckets/data/{task_id}",
        P.PUT_CHUNKED: "/api/v4/buckets/data/{task_id}/chunked",
        P.DELETE_BY_BALL_ID: "/api/v4/buckets/{bucket_id}/bid/{ball_id}",
        P.DISABLE: "/api/v4/buckets/{bucket_id}/{key}/disable",
        P.SIZE: "/api/v4/buckets/{bucket_id}/{key}/size",
        P.GROUP: "/api/v4/buckets/{bucket_id}/metadata/{ball_id}/group",
        P.STATS: "/api/v4/stats",
        P.STATS_UFS: "/api/v4/stats/ufs",
        P.TASKS: "/api/v4/tasks",
        P.BALLS_LEN: "/api/v4/balls/len",
        P.XBALLS: "/api/v4/xballs",
        P.XBALLS_SIZE: "/api/v4/xballs/size",
        P.XPEERS: "/api/v4/xpeers",
        P.PEERS: "/api/v4/peers",
        P.PEER: "/api/v4/peers/{peer_id}",
        P.PEERS_STATS: "/api/v4/peers/stats",
        P.CHUNKS: "/api/v4/buckets/{bucket_id}/metadata/{ball_id}/chunks",
        P.UPDATE_METADATA: "/api/v4/u/buckets/{bucket_id}/{key}",
        P.MERGE: "/api/v4/buckets/{bucket_id}/{ball_id}/merge",
    }
    for template, text in expected.items():
        assert template == text


def test_compile_template_matches_and_captures() -> None:
    data = P.compile_template(P.DATA)
    match = data.match("/api/v4/buckets/b1/k_0")
    assert match is not None and match.groupdict() == {"bucket_id": "b1", "key": "k_0"}
    assert data.match("/api/v4/buckets/b1/k_0/extra") is None
    assert data.match("/api/v4/buckets/b1/") is None
    assert data.match("/api/v4/buckets//k") is None
    assert data.match("/prefix/api/v4/buckets/b1/k") is None
    chunks = P.compile_template(P.CHUNKS)
    hit = chunks.match("/api/v4/buckets/b/metadata/v1/chunks")
    assert hit is not None and hit.group("ball_id") == "v1"
    assert chunks.match("/api/v4/buckets/b/metadata/v1/group") is None
    assert P.compile_template(P.HEALTH).match("/health") is not None
    assert P.compile_template(P.HEALTH).match("/healthz") is None


def test_compile_template_escapes_literal_parts() -> None:
    pattern = P.compile_template("/a.b/{x}")
    assert pattern.match("/a.b/1") is not None
    assert pattern.match("/aXb/1") is None


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_path_then_match_round_trips(bucket: str, key: str) -> None:
    from urllib.parse import unquote

    match = P.compile_template(P.DATA).match(P.path(P.DATA, bucket_id=bucket, key=key))
    assert match is not None
    assert unquote(match.group("bucket_id")) == bucket
    assert unquote(match.group("key")) == key


def test_chunk_and_combined_keys() -> None:
    assert P.chunk_key("clip", 0) == "clip_0"
    assert P.chunk_key("clip", 12) == "clip_12"
    assert P.combined_key("media", "clip_0") == "media@clip_0"


def test_check_tags_accepts_user_tags_and_copies() -> None:
    tags = {"fullname": "clip.bin", "extension": "bin", "updated_at": "1"}
    out = P.check_tags(tags)
    assert out == tags and out is not tags
    assert P.check_tags(None) == {}


@pytest.mark.parametrize("name", sorted(P.RESERVED_TAGS))
def test_check_tags_refuses_reserved_names(name: str) -> None:
    with pytest.raises(InvalidArgumentError, match=repr(name)):
        P.check_tags({name: "1"})
    assert P.check_tags({name: "1"}, allow_reserved=True) == {name: "1"}


def test_reserved_tags_are_the_chunk_layout_tags() -> None:
    assert P.RESERVED_TAGS == {"index", "num_chunks", "chunk_size", "group_id", "full_checksum",
                               "encryption", "encryption_version",  # encrypted objects
                               "object_name"}  # names that are not keys (names.py)


@pytest.mark.parametrize(
    ("tags", "fragment"),
    [({"n": 3}, "'n'"), ({"n": None}, "'n'"), ({1: "x"}, "1"), ({"": "x"}, "non-empty"),
     (["a"], "mapping")],
)
def test_check_tags_refuses_bad_types(tags: object, fragment: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        P.check_tags(tags)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_split_router_prefix() -> None:
    assert P.split_router_prefix("/mictlanx/api/v4/peers") == "/api/v4/peers"
    assert P.split_router_prefix("/api/v4/peers") == "/api/v4/peers"
    assert P.split_router_prefix("/mictlanxy/api") == "/mictlanxy/api"
    assert P.split_router_prefix("/p/api", ("/q", "/p")) == "/api"


def test_header_names_and_constants() -> None:
    assert (P.H_TASK_ID, P.H_UPDATE, P.H_CHUNK_SIZE, P.H_FORCE_GET, P.H_FORCE, P.H_N_DELETES) == (
        "Task-Id", "Update", "Chunk-Size", "Force-Get", "Force", "n-deletes")
    assert P.CODE_MAX_AVAILABILITY == 666
    assert P.MULTIPART_FIELD == "data"
