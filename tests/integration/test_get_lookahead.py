"""Small gets in one round trip: chunk 0 is requested beside the chunk listing and used only when
the listing confirms it (same key, size and SHA-256).

The client's sessions come from a ``session_factory`` whose adapter (a real ``HTTPAdapter`` in
front of the real local VSS) can hold one request until another one started, send a request for
another key instead (a chunk 0 of another version), or overwrite the object between two requests
(an overwrite racing the read).
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
import requests
from requests.adapters import HTTPAdapter

from mictlanx_sync import IntegrityError, NotFoundError, TransferError
from mictlanx_sync._http import make_retry
from mictlanx_sync.client import Client
from mictlanx_sync.config import RetryConfig
from mictlanx_sync.vss import LocalVSS

pytestmark = pytest.mark.timeout(60)

Hook = Callable[[requests.PreparedRequest, Callable[[requests.PreparedRequest], requests.Response]],
                requests.Response]


class Spy:
    """A session factory whose adapter logs ``(method, path)`` of every request and lets the test
    act on each one through ``hook(request, send)``."""

    def __init__(self) -> None:
        self.seen: List[Tuple[str, str]] = []
        self.hook: Optional[Hook] = None
        self._lock = threading.Lock()

    def __call__(self) -> requests.Session:
        spy = self

        class Adapter(HTTPAdapter):
            def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
                path = requests.utils.urlparse(request.url or "").path
                with spy._lock:
                    spy.seen.append((request.method or "", path))

                def forward(req: requests.PreparedRequest) -> requests.Response:
                    return super(Adapter, self).send(req, *args, **kwargs)

                return spy.hook(request, forward) if spy.hook is not None else forward(request)

        session = requests.Session()
        adapter = Adapter(pool_maxsize=32, max_retries=make_retry(RetryConfig(total=0)))
        session.mount("http://", adapter)
        session.headers.update({"Accept-Encoding": "identity"})
        return session

    def count(self, method: str, suffix: str) -> int:
        with self._lock:
            return sum(1 for m, p in self.seen if m == method and p.endswith(suffix))


def _is_listing(request: requests.PreparedRequest) -> bool:
    return request.method == "GET" and (request.url or "").endswith("/chunks")


def _is_data(request: requests.PreparedRequest, key: str) -> bool:
    return request.method == "GET" and (request.url or "").endswith(f"/{key}")


@pytest.fixture
def names() -> Tuple[str, str]:
    return f"la-{uuid.uuid4().hex[:10]}", f"k{uuid.uuid4().hex[:8]}"


def _reads(client: Client, bucket: str, key: str, tmp_path: Any,
           before_each: Callable[[], None] = lambda: None) -> Dict[str, bytes]:
    """The object through each read path (``before_each`` runs before each one)."""
    before_each()
    out: Dict[str, bytes] = {"get": client.get(bucket, key, use_cache=False).content}
    before_each()
    many = client.get_many(bucket, [key])[0]
    assert many.ok, many.error
    assert many.value is not None
    out["get_many"] = many.value.content
    before_each()
    out["get_stream"] = b"".join(client.get_stream(bucket, key))
    before_each()
    path = client.get_to_file(bucket, key, os.path.join(str(tmp_path), f"{key}.bin"))
    with open(path, "rb") as handle:
        out["get_to_file"] = handle.read()
    return out


@pytest.mark.parametrize("size,chunk_size", [(4096, "1MB"), (250_000, "100KB")])
def test_chunk0_goes_out_beside_the_listing_and_is_used(vss: LocalVSS, names: Tuple[str, str], tmp_path: Any,
                                                        size: int, chunk_size: str) -> None:
    bucket, key = names
    payload = os.urandom(size)
    spy = Spy()
    with Client(vss.uri, chunk_size=chunk_size, capacity_storage=0, session_factory=spy) as client:
        client.put(bucket, key, payload)
        overlapped: List[bool] = []
        chunk0_started = threading.Event()

        def hold_listing(request: requests.PreparedRequest, send: Any) -> requests.Response:
            if _is_data(request, f"{key}_0"):
                chunk0_started.set()
            if _is_listing(request):
                # One round trip: chunk 0 has left before the listing is answered. A get that
                # waits for the listing first would leave this wait unanswered (False).
                overlapped.append(chunk0_started.wait(5))
            return send(request)

        spy.hook = hold_listing
        before = spy.count("GET", f"/{key}_0")
        reads = _reads(client, bucket, key, tmp_path, before_each=chunk0_started.clear)
    assert reads == {name: payload for name in reads}
    assert overlapped == [True] * 4
    assert spy.count("GET", f"/{key}_0") - before == 4  # one chunk 0 read per get, none wasted


def test_a_chunk0_of_another_version_is_never_used(vss: LocalVSS, names: Tuple[str, str], tmp_path: Any) -> None:
    # The look-ahead is served chunk 0 of another object of the same size (another version, as
    # an overwrite would serve): every read path must notice (SHA-256) and read chunk 0 again.
    bucket, key = names
    payload, other = os.urandom(4096), os.urandom(4096)
    spy = Spy()
    with Client(vss.uri, capacity_storage=0, session_factory=spy) as client:
        client.put(bucket, key, payload)
        client.put(bucket, key + "x", other)
        swapped: List[str] = []

        def serve_other_version(request: requests.PreparedRequest, send: Any) -> requests.Response:
            if _is_data(request, f"{key}_0") and threading.current_thread().name.startswith("mictlanx-lookahead"):
                swapped.append(request.url or "")
                request = request.copy()
                request.url = (request.url or "")[:-len(f"{key}_0")] + f"{key}x_0"
            return send(request)

        spy.hook = serve_other_version
        reads = _reads(client, bucket, key, tmp_path)
    assert len(swapped) == 4  # each read path was served the other version's chunk 0 ...
    assert reads == {name: payload for name in reads}  # ... and returned the right bytes anyway


def test_an_overwrite_between_the_two_requests_reads_the_new_version(vss: LocalVSS, names: Tuple[str, str],
                                                                     tmp_path: Any) -> None:
    # Chunk 0 of version A arrives, then the object is overwritten with B, then the listing (B)
    # is answered: the get must return B, verified, never A's chunk 0 under B's listing.
    bucket, key = names
    old, new = os.urandom(4096), os.urandom(4096)
    spy = Spy()
    with Client(vss.uri, capacity_storage=0, session_factory=spy) as client, \
            Client(vss.uri, capacity_storage=0) as writer:
        writer.put(bucket, key, old)
        chunk0_answered = threading.Event()

        def overwrite_between(request: requests.PreparedRequest, send: Any) -> requests.Response:
            if _is_data(request, f"{key}_0") and threading.current_thread().name.startswith("mictlanx-lookahead"):
                reply = send(request)
                chunk0_answered.set()
                return reply
            if _is_listing(request) and not chunk0_answered.is_set():
                assert chunk0_answered.wait(5)
                writer.delete(bucket, key)
                writer.put(bucket, key, new)
            return send(request)

        spy.hook = overwrite_between
        result = client.get(bucket, key, use_cache=False)
    assert result.content == new
    assert result.info.checksum == hashlib.sha256(new).hexdigest()


def test_an_overwrite_after_the_listing_never_returns_the_new_chunk0_as_the_old_object(
        vss: LocalVSS, names: Tuple[str, str]) -> None:
    # The listing (A) is answered, then the object is overwritten with B, then chunk 0 (now B)
    # is read: B's bytes do not match A's listing, so they are never returned as A.
    bucket, key = names
    old, new = os.urandom(4096), os.urandom(4096)
    spy = Spy()
    with Client(vss.uri, capacity_storage=0, session_factory=spy) as client, \
            Client(vss.uri, capacity_storage=0) as writer:
        writer.put(bucket, key, old)
        listed = threading.Event()

        def overwrite_after_listing(request: requests.PreparedRequest, send: Any) -> requests.Response:
            if _is_listing(request):
                reply = send(request)
                listed.set()
                return reply
            if _is_data(request, f"{key}_0") and not getattr(overwrite_after_listing, "done", False):
                overwrite_after_listing.done = True  # type: ignore[attr-defined]
                assert listed.wait(5)
                writer.delete(bucket, key)
                writer.put(bucket, key, new)
            return send(request)

        spy.hook = overwrite_after_listing
        try:
            result = client.get(bucket, key, use_cache=False)
        except (IntegrityError, NotFoundError, TransferError):
            return  # A is gone (or B not yet whole) and B does not match A's listing: refused, never mixed
        assert (result.content, result.info.checksum) in (
            (old, hashlib.sha256(old).hexdigest()), (new, hashlib.sha256(new).hexdigest()))


def test_a_missing_object_wastes_at_most_one_request(vss: LocalVSS, names: Tuple[str, str]) -> None:
    bucket, key = names
    spy = Spy()
    with Client(vss.uri, capacity_storage=0, session_factory=spy) as client:
        with pytest.raises(NotFoundError):
            client.get(bucket, key)
        client.close()  # waits for the look-ahead, so its request is counted
    assert spy.count("GET", f"/{key}_0") == 1  # the one wasted request
    assert spy.count("GET", "/chunks") == 1
