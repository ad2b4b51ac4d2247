"""Scenario 6b: malformed HTTP against a running VSS (router and peer), over raw sockets.

Generated (hypothesis, 100-150 examples each so the suite stays bounded): bad JSON, JSON of the
wrong types, truncated multipart bodies, lying Content-Length (shorter and longer than the body,
then close), broken chunked encoding, huge headers, hostile path segments. Each request must get
a 4xx (or, for HTTP the server cannot parse, a closed connection), never a 5xx; the servers keep
serving (health 200 after each test); no file appears outside the peers' storage layout.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import socket
from typing import Any, Iterator, List, Optional, Tuple
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from mictlanx_sync import Router
from mictlanx_sync.vss import LocalVSS, serve

pytestmark = pytest.mark.timeout(120)

NET = settings(max_examples=120, deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
MARKER = "PWNED"


@pytest.fixture(scope="module")
def vss() -> Iterator[LocalVSS]:
    with serve(peers=1, fsync=False) as running:
        yield running


@pytest.fixture(autouse=True)
def still_serving(vss: LocalVSS, h: Any) -> Iterator[None]:
    """After every test: both servers answer /health 200 and nothing escaped the storage layout."""
    yield
    for url in (vss.router_url, vss.peer_urls[0]):
        assert requests.get(url + "/health", timeout=5).status_code == 200, url
    assert h.stray_files(vss.data_dirs[0]) == []
    root = os.path.dirname(vss.data_dirs[0])
    assert sorted(os.listdir(root)) == sorted(os.path.basename(d) for d in vss.data_dirs)
    for where in (root, os.getcwd(), os.path.dirname(root)):
        assert not [n for n in os.listdir(where) if MARKER in n], where


def exchange(port: int, raw: bytes, timeout: float = 10.0) -> List[int]:
    """Send ``raw``, half-close, read until the server closes; return every response status.

    An empty list means the server closed the connection without answering.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close early (e.g. huge headers); read what it said
        data = bytearray()
        try:
            while True:
                piece = sock.recv(65536)
                if not piece:
                    break
                data += piece
        except ConnectionResetError:
            pass
        except socket.timeout:
            pytest.fail(f"server on port {port} neither answered nor closed within {timeout}s")
    return parse_statuses(bytes(data))


def parse_statuses(data: bytes) -> List[int]:
    statuses = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        if not match:
            break
        statuses.append(int(match.group(1)))
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        data = rest[int(length.group(1)):] if length else b""
    return statuses


def request(method: str, path: str, body: bytes = b"", headers: Tuple[str, ...] = (),
            length: Optional[int] = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def assert_4xx_or_closed(statuses: List[int], allow_ok: bool = False) -> None:
    assert statuses == [] or 400 <= statuses[0] < 500 or (allow_ok and statuses[0] < 300), statuses
    assert all(s < 500 for s in statuses), statuses


def ports(vss: LocalVSS) -> List[int]:
    return [vss.router_port, vss.peer_ports[0]]


# ------------------------------------------------------------------------------------ JSON bodies
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
              st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)
FIELDS = ["bucket_id", "key", "ball_id", "checksum", "size", "producer_id", "tags", "content_type",
          "is_disabled", "replication_factor"]


def _good_fields(bucket: str) -> dict:
    return {"bucket_id": bucket, "key": "k-1", "ball_id": "k-1", "checksum": "0" * 64, "size": 3,
            "producer_id": "p", "tags": {}, "content_type": "application/octet-stream",
            "is_disabled": False, "replication_factor": 1}


@NET
@given(body=st.one_of(st.binary(max_size=200), st.text(max_size=100).map(str.encode),
                      st.sampled_from([b"{", b"[1,", b'{"key":', b"\xff\xfe", b"null", b"NaN", b'{"a":1}}'])),
       target=st.integers(0, 1))
def test_bad_json_is_4xx(vss: LocalVSS, body: bytes, target: int) -> None:
    try:
        json.loads(body)
        valid = True
    except ValueError:
        valid = False
    port = ports(vss)[target]
    statuses = exchange(port, request("POST", "/api/v4/buckets/bj/metadata", body,
                                      ("Content-Type: application/json",), len(body)))
    assert_4xx_or_closed(statuses, allow_ok=valid)
    if not valid:
        assert statuses and statuses[0] in (400, 422), statuses


@NET
@given(overrides=st.dictionaries(st.sampled_from(FIELDS), json_values, min_size=1, max_size=4),
       drop=st.lists(st.sampled_from(FIELDS), max_size=3), whole=st.one_of(st.none(), json_values),
       target=st.integers(0, 1))
def test_wrong_json_types_are_4xx(vss: LocalVSS, overrides: dict, drop: list, whole: Any, target: int) -> None:
    doc: Any = {**_good_fields("wj"), **overrides}
    for name in drop:
        doc.pop(name, None)
    if whole is not None:
        doc = whole
    body = json.dumps(doc).encode()
    statuses = exchange(ports(vss)[target], request("POST", "/api/v4/buckets/wj/metadata", body,
                                                    ("Content-Type: application/json",), len(body)))
    assert_4xx_or_closed(statuses, allow_ok=True)  # a doc that happens to be valid opens a task


# ------------------------------------------------------------------------------ step-2 bodies
_KEYS = itertools.count()


def _open_task(vss: LocalVSS, data: bytes, key: str) -> str:
    """Step 1 for a fresh key (never used before, so a task always opens)."""
    with Router(vss.router_url) as router:
        reply = router.put_metadata("mp", f"{key}-{next(_KEYS)}", len(data), hashlib.sha256(data).hexdigest(),
                                    "faults")
    return reply.tasks_ids[0]


def _multipart(data: bytes, boundary: str = "XyZbOuNdArY") -> Tuple[bytes, str]:
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"data\"; filename=\"x\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _complete_part_in(body: bytes, data: bytes, boundary: str = "XyZbOuNdArY") -> bool:
    """Whether ``body`` still holds the whole data part and its closing delimiter (the trailing
    ``--`` and CRLF are optional), so accepting it stores exactly ``data``."""
    return data + f"\r\n--{boundary}".encode() in body


@settings(NET, max_examples=100)
@given(data=st.binary(min_size=1, max_size=3000), cut=st.floats(0.0, 0.999))
def test_truncated_multipart_is_4xx(vss: LocalVSS, data: bytes, cut: float) -> None:
    task = _open_task(vss, data, "mp")
    body, ctype = _multipart(data)
    body = body[:int(len(body) * cut)]
    statuses = exchange(vss.router_port, request("POST", f"/api/v4/buckets/data/{task}", body,
                                                 (f"Content-Type: {ctype}",), len(body)))
    assert_4xx_or_closed(statuses, allow_ok=_complete_part_in(body, data))
    assert statuses, "a truncated multipart body with an honest Content-Length deserves an answer"


@settings(NET, max_examples=100)
@given(data=st.binary(min_size=2, max_size=3000), delta=st.integers(1, 5000), longer=st.booleans(),
       chunked_route=st.booleans())
def test_lying_content_length(vss: LocalVSS, data: bytes, delta: int, longer: bool, chunked_route: bool) -> None:
    """Content-Length longer than the body (then EOF) or shorter (the rest looks like a new request).

    The only acceptable 2xx is for a multipart body whose declared prefix still holds the whole
    part (the bytes stored are then exactly the data, checked against its SHA-256).
    """
    task = _open_task(vss, data, "cl")
    if chunked_route:
        declared = len(data) + delta if longer else max(0, len(data) - delta)
        raw = request("POST", f"/api/v4/buckets/data/{task}/chunked", data,
                      ("Content-Type: application/octet-stream",), declared)
        ok = False
    else:
        body, ctype = _multipart(data)
        declared = len(body) + delta if longer else max(0, len(body) - delta)
        raw = request("POST", f"/api/v4/buckets/data/{task}", body, (f"Content-Type: {ctype}",), declared)
        ok = _complete_part_in(body[:declared], data)
    statuses = exchange(vss.router_port, raw)
    assert_4xx_or_closed(statuses, allow_ok=ok)


def _declares_huge_chunk(body: bytes) -> bool:
    line = body.split(b"\n", 1)[0].split(b";", 1)[0].strip()
    try:
        return int(line, 16) > 1 << 24
    except ValueError:
        return False


@settings(NET, max_examples=150)
@given(body=st.binary(max_size=200), data=st.binary(min_size=1, max_size=100), target=st.integers(0, 2),
       n=st.integers(0, 10**9))
@example(body=b"zz\r\nabc\r\n0\r\n\r\n", data=b"abc", target=2, n=1)
@example(body=b"3\r\nabcXX", data=b"abc", target=2, n=2)
@example(body=b"10\r\nabc", data=b"abc", target=2, n=3)
@example(body=b"-1\r\n", data=b"abc", target=0, n=4)
@example(body=b"1000\r\nabc", data=b"abc", target=1, n=5)
def test_chunked_encoding_errors(vss: LocalVSS, body: bytes, data: bytes, target: int, n: int) -> None:
    """Arbitrary bytes as a chunked body: to step 1 (router, peer) or to a step-2 upload.

    Bodies declaring a chunk over 16 MiB are left to ``test_huge_chunk_size_is_4xx`` (a known bug).
    """
    assume(not _declares_huge_chunk(body))
    headers = ("Transfer-Encoding: chunked", "Content-Type: application/json")
    if target < 2:
        raw = request("POST", "/api/v4/buckets/ce/metadata", body, headers)
        statuses = exchange(ports(vss)[target], raw)
    else:
        task = _open_task(vss, data, f"ce-{n}")
        raw = request("POST", f"/api/v4/buckets/data/{task}/chunked", body, headers)
        statuses = exchange(vss.router_port, raw)
    assert_4xx_or_closed(statuses, allow_ok=True)  # arbitrary bytes may still spell a valid body


HUGE_CHUNK_BUG = ("BUG: a chunked request body whose chunk-size line declares a huge chunk gets a 500 "
                  "(and a merely large one, e.g. 40000000 = 1 GiB, makes the server allocate that much): "
                  "vss/server.py _SocketChunkedInput._fetch passes the client-declared size to _read_exact, "
                  "which preallocates bytearray(size) -> OverflowError/MemoryError -> 500")


@pytest.mark.parametrize("target", [0, 1], ids=["router", "peer"])
def test_huge_chunk_size_is_4xx(vss: LocalVSS, target: int) -> None:
    for size in ("ffffffffffffffffffff", "ffffffffffff"):
        raw = request("POST", "/api/v4/buckets/ce/metadata", f"{size}\r\nabc".encode(),
                      ("Transfer-Encoding: chunked", "Content-Type: application/json"))
        assert_4xx_or_closed(exchange(ports(vss)[target], raw))


@settings(NET, max_examples=60)
@given(size=st.integers(8_000, 1_300_000), many=st.booleans(), target=st.integers(0, 1),
       method=st.sampled_from(["GET", "POST"]))
def test_huge_headers(vss: LocalVSS, size: int, many: bool, target: int, method: str) -> None:
    if many:
        headers = tuple(f"X-H{i}: {'v' * 90}" for i in range(size // 100))
    else:
        headers = (f"X-Huge: {'v' * size}",)
    statuses = exchange(ports(vss)[target], request(method, "/api/v4/buckets/hh/metadata", b"", headers, 0))
    assert all(s < 500 for s in statuses), statuses


segment = st.one_of(
    st.text(min_size=1, max_size=20).map(lambda s: quote(s, safe="")),
    st.sampled_from(["..", "%2e%2e", "%2e%2e%2f%2e%2e%2f" + MARKER, "..%2f..%2f" + MARKER, "%00", "%ff",
                     "%", "%zz", "a%2fb", "~", MARKER, "%c0%ae%c0%ae"]),
)


@NET
@given(bucket=segment, key=segment, method=st.sampled_from(["GET", "DELETE", "POST"]),
       suffix=st.sampled_from(["", "/size", "/disable", "/merge", "/metadata"]), target=st.integers(0, 1))
def test_hostile_paths(vss: LocalVSS, bucket: str, key: str, method: str, suffix: str, target: int) -> None:
    statuses = exchange(ports(vss)[target], request(method, f"/api/v4/buckets/{bucket}/{key}{suffix}",
                                                    b"", (), 0))
    assert_4xx_or_closed(statuses, allow_ok=True)
