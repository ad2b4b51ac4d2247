"""_http: error mapping (PROTOCOL §2.4-2.5), network failures, the urllib3 Retry adapter, Reply."""

from __future__ import annotations

import io
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Type

import pytest
import requests
import responses
from responses import registries
from urllib3.util.retry import Retry

from mictlanx_sync import errors as E
from mictlanx_sync._http import HTTPClient, error_from_reply, make_retry, make_session
from mictlanx_sync.config import RetryConfig, Timeouts

BASE = "http://svc.test:7000"
FAST_RETRY = RetryConfig(total=3, backoff_factor=0.0, backoff_jitter=0.0)
NO_RETRY = RetryConfig(total=0, backoff_factor=0.0, backoff_jitter=0.0)


# --- helpers ------------------------------------------------------------------------------------------
class _BrokenRaw(io.RawIOBase):
    """A body that yields ``good`` bytes and then fails like a reset connection (or a timeout)."""

    def __init__(self, good: int, exc: Optional[BaseException] = None) -> None:
        self.left = good
        self.exc = exc or ConnectionResetError(104, "Connection reset by peer")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            raise self.exc
        n = min(len(buffer), self.left)
        buffer[:n] = b"x" * n
        self.left -= n
        return n


def broken_body(good: int, exc: Optional[BaseException] = None) -> io.BufferedReader:
    return io.BufferedReader(_BrokenRaw(good, exc))


Action = Callable[[BaseHTTPRequestHandler], None]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.actions: List[Action] = []
        self.seen: List[Tuple[str, str]] = []
        self.times: List[float] = []
        self.client_ports: List[int] = []

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet on broken pipes
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.seen.append((self.command, self.path))
        self.server.times.append(time.monotonic())
        self.server.client_ports.append(self.client_address[1])
        actions = self.server.actions
        action = actions.pop(0) if len(actions) > 1 else actions[0]
        action(self)

    do_GET = do_POST = do_DELETE = _handle

    def log_message(self, *args: Any) -> None:
        pass


def reply(status: int, body: bytes = b"", headers: Optional[Dict[str, str]] = None) -> Action:
    def act(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
    return act


def cut_after(good: bytes, declared: int, *, reset: bool) -> Action:
    """Declare ``declared`` bytes, send ``good``, then reset the connection (RST) or close it (FIN)."""
    def act(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(declared))
        h.end_headers()
        h.wfile.write(good)
        h.wfile.flush()
        if reset:
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
        h.close_connection = True
    return act


def stall(seconds: float) -> Action:
    def act(h: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        reply(200, b"late")(h)
    return act


@pytest.fixture()
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def url_of(srv: _Server) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}"


@pytest.fixture()
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rs:
        yield rs


@pytest.fixture()
def client() -> Iterator[HTTPClient]:
    c = HTTPClient(BASE, retry=FAST_RETRY, timeouts=Timeouts(connect=2, read=5))
    yield c
    c.close()


# --- error_from_reply ----------------------------------------------------------------------------------
NO_CAPACITY = {"detail": {"msg": "No available peers.", "suggestion": "Add more peers or delete replicas.",
                          "bucket_id": "b", "key": "k", "replicas": ["p0"], "code": 666}}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, json.dumps(NO_CAPACITY), E.MaxAvailabilityReachedError),
        (500, json.dumps(NO_CAPACITY), E.MaxAvailabilityReachedError),
        (500, json.dumps({"detail": "404: No available peers"}), E.NotFoundError),
        (500, json.dumps({"detail": "404: No metadata found for b@k"}), E.NotFoundError),
        (500, json.dumps({"detail": "500: boom"}), E.ServerError),
        (404, json.dumps({"detail": "Not Found"}), E.NotFoundError),
        (404, "not json at all", E.NotFoundError),
        (400, json.dumps({"detail": "Bucket ID mismatch: a != b"}), E.BadRequestError),
        (413, "too big", E.BadRequestError),
        (422, json.dumps({"detail": [{"type": "missing", "loc": ["body", "key"], "msg": "Field required"}]}),
         E.BadRequestError),
        (403, json.dumps({"detail": "b@k is disabled"}), E.ForbiddenError),
        (401, json.dumps({"detail": "who are you"}), E.ForbiddenError),
        (409, json.dumps({"detail": "b/k already exists."}), E.AlreadyExistsError),
        (412, json.dumps({"detail": {"msg": "b@k already exists (If-None-Match: *)", "code": 412}}),
         E.PreconditionFailedError),
        (412, "Precondition Failed", E.PreconditionFailedError),
        (500, "Internal Server Error", E.ServerError),
        (502, json.dumps({"detail": {"msg": "no replica stored the data", "code": 502}}), E.ServerError),
        (503, "", E.ServerError),
        (504, "<html>gateway</html>", E.ServerError),
        (507, json.dumps({"detail": "disk full"}), E.ServerError),
        (405, json.dumps({"detail": "Method Not Allowed"}), E.ServerError),
        (500, json.dumps({"detail": {"msg": "gone", "code": 404}}), E.NotFoundError),
        (500, json.dumps({"detail": {"msg": "bad bytes", "code": 501}}), E.IntegrityError),
        (500, json.dumps({"detail": {"msg": "no code"}}), E.ServerError),
        (500, json.dumps({"error": "no detail key"}), E.ServerError),
        (500, json.dumps(["a", "list"]), E.ServerError),
    ],
)
def test_error_from_reply_classes(status: int, body: str, expected: Type[E.MictlanXError]) -> None:
    err = error_from_reply(status, body, what="GET http://x/y", bucket_id="b", key="k")
    assert type(err) is expected
    assert err.status == status
    assert err.bucket_id == "b" and err.key == "k"
    assert str(err).startswith("GET http://x/y failed: ")
    assert "[b@k]" in str(err)


def test_error_from_reply_object_detail_message_and_detail() -> None:
    err = error_from_reply(404, json.dumps(NO_CAPACITY), what="POST u")
    assert isinstance(err, E.MaxAvailabilityReachedError)
    assert isinstance(err, E.AlreadyExistsError)
    assert "No available peers." in err.message
    assert err.detail == NO_CAPACITY["detail"]


def test_error_from_reply_string_and_list_details() -> None:
    err = error_from_reply(409, json.dumps({"detail": "b/k already exists."}), what="POST u")
    assert err.detail == "b/k already exists." and err.message == "POST u failed: b/k already exists."
    listing = [{"type": "missing", "loc": ["body", "key"], "msg": "Field required"}]
    text = json.dumps({"detail": listing})
    err = error_from_reply(422, text, what="POST u")
    assert err.detail == listing
    assert "Field required" in err.message
    plain = error_from_reply(500, "Internal Server Error", what="GET u")
    assert plain.detail == "Internal Server Error"
    assert plain.message.endswith("Internal Server Error")


def test_error_from_reply_on_404_override() -> None:
    err = error_from_reply(404, json.dumps({"detail": "No available peers."}), what="POST u",
                           on_404=E.MaxAvailabilityReachedError)
    assert type(err) is E.MaxAvailabilityReachedError
    assert "No available peers." in err.message
    # other statuses are untouched by on_404
    assert type(error_from_reply(409, "{}", what="x", on_404=E.MaxAvailabilityReachedError)) is \
        E.AlreadyExistsError
    assert type(error_from_reply(500, json.dumps({"detail": "404: x"}), what="x",
                                 on_404=E.MaxAvailabilityReachedError)) is E.NotFoundError


def test_error_from_reply_truncates_huge_non_detail_bodies() -> None:
    err = error_from_reply(500, json.dumps(["x" * 5000]), what="GET u")
    assert len(err.message) < 400


# --- send: status mapping end to end ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, {"detail": "Not Found"}, E.NotFoundError),
        (500, {"detail": "404: No available peers"}, E.NotFoundError),
        (400, {"detail": "bad"}, E.BadRequestError),
        (403, {"detail": "disabled"}, E.ForbiddenError),
        (409, {"detail": "exists"}, E.AlreadyExistsError),
        (404, NO_CAPACITY, E.MaxAvailabilityReachedError),
        (500, {"detail": "kaput"}, E.ServerError),
    ],
)
def test_send_maps_non_2xx(mock: responses.RequestsMock, client: HTTPClient, status: int,
                           body: Dict[str, Any], expected: Type[E.MictlanXError]) -> None:
    mock.add("POST", f"{BASE}/api/v4/thing", json=body, status=status)
    with pytest.raises(expected) as info:
        client.send("POST", "/api/v4/thing", json={"a": 1}, bucket_id="b", key="k")
    assert type(info.value) is expected
    assert info.value.status == status
    assert info.value.key == "k"
    assert len(mock.calls) == 1


def test_send_non_json_error_body(mock: responses.RequestsMock, client: HTTPClient) -> None:
    mock.add("POST", f"{BASE}/x", body="Internal Server Error", status=500,
             content_type="text/plain")
    with pytest.raises(E.ServerError) as info:
        client.send("POST", "/x")
    assert info.value.detail == "Internal Server Error"
    assert info.value.status == 500


def test_send_returns_2xx_reply(mock: responses.RequestsMock, client: HTTPClient) -> None:
    mock.add("POST", f"{BASE}/x", json={"ok": True}, status=201, headers={"X-Thing": "1"})
    with client.send("POST", "/x", json={"a": 1}, headers={"Update": "1"}) as reply:
        assert reply.status == 201
        assert reply.headers["x-thing"] == "1"
        assert reply.json() == {"ok": True}
    sent = mock.calls[0].request
    assert sent.headers["Update"] == "1"
    assert sent.headers["Accept-Encoding"] == "identity"
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.body or b"") == {"a": 1}


def test_reply_json_refuses_non_json(mock: responses.RequestsMock, client: HTTPClient) -> None:
    mock.add("GET", f"{BASE}/x", body="<html>hi</html>", status=200)
    reply = client.send("GET", "/x", bucket_id="b", key="k")
    with pytest.raises(E.ServerError, match="not JSON") as info:
        reply.json()
    assert info.value.status == 200 and info.value.key == "k"


def test_send_passes_params_and_timeout(mock: responses.RequestsMock, client: HTTPClient) -> None:
    mock.add("GET", f"{BASE}/x", json={})
    client.send("GET", "/x", params={"start": 0, "end": 5}, timeout=(1.0, 2.0)).close()
    call = mock.calls[0]
    assert call.request.url == f"{BASE}/x?start=0&end=5"
    assert call.request.req_kwargs["timeout"] == (1.0, 2.0)  # type: ignore[attr-defined]


def test_send_uses_finite_default_timeouts(mock: responses.RequestsMock) -> None:
    mock.add("GET", f"{BASE}/x", json={})
    c = HTTPClient(BASE, timeouts=Timeouts(connect=3, read=9))
    c.send("GET", "/x").close()
    assert mock.calls[0].request.req_kwargs["timeout"] == (3, 9)  # type: ignore[attr-defined]


def test_base_url_trailing_slash_is_dropped() -> None:
    assert HTTPClient("http://h:1/").base_url == "http://h:1"


# --- network failures ---------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_is_connect_failed() -> None:
    c = HTTPClient(f"http://127.0.0.1:{_free_port()}", retry=NO_RETRY, timeouts=Timeouts(connect=2, read=2))
    with pytest.raises(E.ConnectFailedError) as info:
        c.send("GET", "/health", bucket_id="b", key="k")
    assert isinstance(info.value, E.NetworkError)
    assert info.value.key == "k"
    assert isinstance(info.value.__cause__, requests.exceptions.ConnectionError)


def test_connection_refused_post_is_connect_failed() -> None:
    c = HTTPClient(f"http://127.0.0.1:{_free_port()}", retry=NO_RETRY)
    with pytest.raises(E.ConnectFailedError):
        c.send("POST", "/x", data=b"abc")


def test_read_timeout_is_request_timeout(server: _Server) -> None:
    server.actions = [stall(1.0)]
    c = HTTPClient(url_of(server), retry=NO_RETRY, timeouts=Timeouts(connect=2, read=0.2))
    started = time.monotonic()
    with pytest.raises(E.RequestTimeoutError):
        c.send("GET", "/slow")
    assert time.monotonic() - started < 0.9
    c.close()


def test_read_timeout_from_requests_is_request_timeout(mock: responses.RequestsMock,
                                                       client: HTTPClient) -> None:
    mock.add("GET", f"{BASE}/x", body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(E.RequestTimeoutError):
        client.send("GET", "/x")


def test_connect_timeout_from_requests_is_request_timeout(mock: responses.RequestsMock,
                                                          client: HTTPClient) -> None:
    mock.add("GET", f"{BASE}/x", body=requests.exceptions.ConnectTimeout("connect timed out"))
    with pytest.raises(E.RequestTimeoutError):
        client.send("GET", "/x")


def test_other_connection_error_is_network_error(mock: responses.RequestsMock, client: HTTPClient) -> None:
    mock.add("GET", f"{BASE}/x", body=requests.exceptions.ConnectionError("weird"))
    with pytest.raises(E.NetworkError) as info:
        client.send("GET", "/x")
    assert type(info.value) is E.NetworkError


def test_reset_mid_body_is_network_error_for_content(mock: responses.RequestsMock,
                                                     client: HTTPClient) -> None:
    mock.add("GET", f"{BASE}/x", body=broken_body(10))
    with pytest.raises(E.NetworkError) as info:
        client.send("GET", "/x")
    assert type(info.value) is E.NetworkError
    mock.add("GET", f"{BASE}/y", body=broken_body(10))
    reply = client.send("GET", "/y", stream=True)
    with pytest.raises(E.NetworkError):
        reply.content  # noqa: B018


def test_reset_mid_body_is_network_error_for_streams(mock: responses.RequestsMock,
                                                     client: HTTPClient) -> None:
    mock.add("GET", f"{BASE}/x", body=broken_body(10))
    reply = client.send("GET", "/x", stream=True)
    pieces: List[bytes] = []
    with pytest.raises(E.NetworkError):
        for piece in reply.iter_bytes(4):
            pieces.append(piece)
    assert b"".join(pieces) == b"x" * 8  # the whole pieces read before the reset
    mock.add("GET", f"{BASE}/y", body=broken_body(10))
    reply = client.send("GET", "/y", stream=True)
    with pytest.raises(E.NetworkError):
        reply.readinto_exact(memoryview(bytearray(100)))


def test_read_timeout_mid_body_is_request_timeout(mock: responses.RequestsMock,
                                                   client: HTTPClient) -> None:
    mock.add("GET", f"{BASE}/x", body=broken_body(10, socket.timeout("timed out")))
    with pytest.raises(E.RequestTimeoutError):
        client.send("GET", "/x")  # requests wraps it in a ConnectionError while reading .content
    mock.add("GET", f"{BASE}/y", body=broken_body(10, socket.timeout("timed out")))
    with pytest.raises(E.RequestTimeoutError):
        list(client.send("GET", "/y", stream=True).iter_bytes(4))


def test_real_reset_mid_body(server: _Server) -> None:
    server.actions = [cut_after(b"y" * 100, declared=100_000, reset=True)]
    c = HTTPClient(url_of(server), retry=NO_RETRY)
    reply = c.send("GET", "/big", stream=True)
    with pytest.raises(E.NetworkError):
        for _ in reply.iter_bytes(1000):
            pass
    reply2 = c.send("GET", "/big", stream=True)
    with pytest.raises(E.NetworkError):
        reply2.readinto_exact(memoryview(bytearray(100_000)))
    with pytest.raises(E.NetworkError):
        c.send("GET", "/big")
    c.close()


# --- retries ------------------------------------------------------------------------------------------
def test_make_retry_policy() -> None:
    retry = make_retry(RetryConfig(total=4, backoff_factor=0.5, backoff_max=3, backoff_jitter=0.2))
    assert isinstance(retry, Retry)
    assert retry.total == 4 and retry.connect == 4 and retry.read == 4 and retry.status == 4
    assert retry.backoff_factor == 0.5 and retry.backoff_max == 3 and retry.backoff_jitter == 0.2
    assert set(retry.status_forcelist or ()) == {429, 502, 503, 504}
    assert set(retry.allowed_methods or ()) == {"GET", "HEAD", "DELETE"}
    assert "POST" not in (retry.allowed_methods or ())
    assert retry.respect_retry_after_header is True
    assert retry.raise_on_status is False


def test_make_session_configuration() -> None:
    session = make_session(retry=RetryConfig(total=2), pool_maxsize=16, verify="/ca.pem")
    adapter = session.get_adapter("http://x")
    assert session.get_adapter("https://x") is adapter
    assert adapter.max_retries.total == 2  # type: ignore[attr-defined]
    assert adapter._pool_maxsize == 16  # type: ignore[attr-defined]
    assert session.verify == "/ca.pem"
    assert session.headers["Accept-Encoding"] == "identity"
    assert make_session(retry=RetryConfig(), pool_maxsize=0).get_adapter(
        "http://x")._pool_maxsize == 1  # type: ignore[attr-defined]


def test_session_factory_seam() -> None:
    built: List[requests.Session] = []

    def factory() -> requests.Session:
        s = requests.Session()
        built.append(s)
        return s

    c = HTTPClient(BASE, session_factory=factory)
    assert len(built) == 1
    assert c._session is built[0]


def test_get_503_then_200_is_retried(mock: responses.RequestsMock, client: HTTPClient) -> None:
    mock.add("GET", f"{BASE}/x", json={"detail": "busy"}, status=503)
    mock.add("GET", f"{BASE}/x", json={"ok": 1}, status=200)
    with client.send("GET", "/x") as reply:
        assert reply.json() == {"ok": 1}
    assert len(mock.calls) == 2


def test_delete_502_then_200_is_retried(mock: responses.RequestsMock, client: HTTPClient) -> None:
    mock.add("DELETE", f"{BASE}/x", status=502)
    mock.add("DELETE", f"{BASE}/x", json={"n_deletes": 1, "key": "k"})
    assert client.send("DELETE", "/x").json()["n_deletes"] == 1
    assert len(mock.calls) == 2


def test_post_503_is_not_retried(mock: responses.RequestsMock, client: HTTPClient) -> None:
    mock.add("POST", f"{BASE}/x", json={"detail": "busy"}, status=503)
    mock.add("POST", f"{BASE}/x", json={"ok": 1}, status=200)
    with pytest.raises(E.ServerError) as info:
        client.send("POST", "/x", json={})
    assert info.value.status == 503
    assert len(mock.calls) == 1
    mock.reset()  # the unused second reply is expected


def test_get_500_is_not_retried(mock: responses.RequestsMock, client: HTTPClient) -> None:
    mock.add("GET", f"{BASE}/x", json={"detail": "404: nope"}, status=500)
    with pytest.raises(E.NotFoundError):
        client.send("GET", "/x")
    assert len(mock.calls) == 1


def test_get_503_forever_gives_server_error_after_total_retries(server: _Server) -> None:
    server.actions = [reply(503, b'{"detail":"busy"}')]
    c = HTTPClient(url_of(server), retry=RetryConfig(total=2, backoff_factor=0, backoff_jitter=0))
    with pytest.raises(E.ServerError) as info:
        c.send("GET", "/x")
    assert info.value.status == 503
    assert info.value.detail == "busy"
    assert len(server.seen) == 3
    c.close()


def test_real_server_get_503_then_200(server: _Server) -> None:
    server.actions = [reply(503, b'{"detail":"busy"}'), reply(200, b'{"ok":1}')]
    c = HTTPClient(url_of(server), retry=FAST_RETRY)
    assert c.send("GET", "/x").json() == {"ok": 1}
    assert server.seen == [("GET", "/x"), ("GET", "/x")]
    c.close()


def test_real_server_post_503_not_retried(server: _Server) -> None:
    server.actions = [reply(503, b'{"detail":"busy"}'), reply(200, b'{"ok":1}')]
    c = HTTPClient(url_of(server), retry=FAST_RETRY)
    with pytest.raises(E.ServerError):
        c.send("POST", "/x", json={"a": 1})
    assert server.seen == [("POST", "/x")]
    c.close()


def test_retry_after_is_honoured(server: _Server) -> None:
    server.actions = [reply(503, b"{}", {"Retry-After": "1"}), reply(200, b'{"ok":1}')]
    c = HTTPClient(url_of(server), retry=FAST_RETRY)  # no backoff of its own
    assert c.send("GET", "/x").json() == {"ok": 1}
    assert len(server.times) == 2
    assert server.times[1] - server.times[0] >= 0.9
    c.close()


def test_without_retry_after_the_retry_is_immediate(server: _Server) -> None:
    server.actions = [reply(503, b"{}"), reply(200, b'{"ok":1}')]
    c = HTTPClient(url_of(server), retry=FAST_RETRY)
    assert c.send("GET", "/x").json() == {"ok": 1}
    assert server.times[1] - server.times[0] < 0.5
    c.close()


# --- Reply --------------------------------------------------------------------------------------------
def test_iter_bytes_yields_bounded_pieces(mock: responses.RequestsMock, client: HTTPClient) -> None:
    body = bytes(range(256)) * 10
    mock.add("GET", f"{BASE}/x", body=body)
    pieces = list(client.send("GET", "/x", stream=True).iter_bytes(1000))
    assert [len(p) for p in pieces] == [1000, 1000, 560]
    assert b"".join(pieces) == body


@pytest.mark.parametrize("size", [0, 1, 999])
def test_readinto_exact_fills_buffer(mock: responses.RequestsMock, client: HTTPClient, size: int) -> None:
    body = b"z" * size
    mock.add("GET", f"{BASE}/x", body=body)
    buffer = bytearray(size)
    assert client.send("GET", "/x", stream=True).readinto_exact(memoryview(buffer)) == size
    assert bytes(buffer) == body


def test_readinto_exact_short_and_long(mock: responses.RequestsMock, client: HTTPClient) -> None:
    mock.add("GET", f"{BASE}/short", body=b"a" * 9)
    mock.add("GET", f"{BASE}/long", body=b"a" * 11)
    with pytest.raises(E.IntegrityError, match="after 9 of 10"):
        client.send("GET", "/short", stream=True, key="k").readinto_exact(memoryview(bytearray(10)))
    with pytest.raises(E.IntegrityError, match="longer than 10"):
        client.send("GET", "/long", stream=True).readinto_exact(memoryview(bytearray(10)))


def test_readinto_exact_casts_non_byte_views(mock: responses.RequestsMock, client: HTTPClient) -> None:
    import array

    expected = array.array("i", [1, 2])
    mock.add("GET", f"{BASE}/x", body=expected.tobytes())
    target = array.array("i", [0, 0])
    assert client.send("GET", "/x", stream=True).readinto_exact(memoryview(target)) == 8
    assert target == expected


def test_readinto_exact_on_a_real_connection_reuses_it(server: _Server) -> None:
    body = bytes(range(256)) * 400
    server.actions = [reply(200, body)]
    c = HTTPClient(url_of(server), retry=NO_RETRY)
    for _ in range(3):
        buffer = bytearray(len(body))
        assert c.send("GET", "/x", stream=True).readinto_exact(memoryview(buffer)) == len(body)
        assert buffer == body
    assert len(set(server.client_ports)) == 1  # read to the end: the connection went back to the pool
    c.close()


def test_readinto_exact_on_a_real_connection_short_and_long(server: _Server) -> None:
    server.actions = [cut_after(b"s" * 50, declared=100, reset=False), reply(200, b"L" * 100)]
    c = HTTPClient(url_of(server), retry=NO_RETRY)
    with pytest.raises(E.IntegrityError, match="ended after 50 of 100"):
        c.send("GET", "/short", stream=True).readinto_exact(memoryview(bytearray(100)))
    with pytest.raises(E.IntegrityError, match="longer than 10"):
        c.send("GET", "/long", stream=True).readinto_exact(memoryview(bytearray(10)))
    c.close()


def test_close_releases_session(client: HTTPClient) -> None:
    client.close()
    client.close()  # idempotent
