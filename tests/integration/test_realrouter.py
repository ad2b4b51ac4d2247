"""The SDK in front of both routers: ours, and a double of the public MictlanX router (PROTOCOL §11).

Every test runs against ``ours`` (our VSS router app with a fault hook) and ``public``
(``tests/doubles/public_router.py``), both served in-process on real sockets in front of the
session's two VSS peers. With ``MICTLANX_TEST_URI`` set they run against that router only
(``external``), and the tests that need the fault hook are skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set

import pytest
import requests

from mictlanx_sync import Router
from mictlanx_sync.cli import main
from mictlanx_sync.client import Client
from mictlanx_sync.config import ClientConfig, RetryConfig, TransferConfig
from mictlanx_sync.errors import (
    AlreadyExistsError,
    MaxAvailabilityReachedError,
    NotFoundError,
    ServerError,
    TransferError,
)
from mictlanx_sync.models import PeerPayload
from mictlanx_sync.vss.router_app import RouterConfig
from mictlanx_sync.vss.server import Server, ServerConfig

TEST_URI = os.environ.get("MICTLANX_TEST_URI", "").strip()
KINDS = ["external"] if TEST_URI else ["ours", "public"]
CHUNK = 1000


def _load_double() -> Any:
    path = Path(__file__).resolve().parents[1] / "doubles" / "public_router.py"
    spec = importlib.util.spec_from_file_location("public_router_double", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Target:
    """A router under test: its URI and (for in-process routers) its app, for the fault hook."""

    def __init__(self, kind: str, uri: str, app: Any = None) -> None:
        self.kind = kind
        self.uri = uri
        self.app = app

    @contextlib.contextmanager
    def refusing(self, *keys: str) -> Iterator[None]:
        """Every replica refuses step 2 of these chunk keys while the block runs."""
        if self.app is None:
            pytest.skip("needs the fault hook of an in-process router")
        refuse: Set[str] = self.app.refuse
        refuse.update(keys)
        try:
            yield
        finally:
            refuse.difference_update(keys)


@pytest.fixture(scope="module")
def targets(vss: Any) -> Iterator[Dict[str, Target]]:
    """Our router and the public-router double, in-process, in front of the session's peers."""
    if TEST_URI:
        yield {"external": Target("external", TEST_URI)}
        return
    double = _load_double()
    peers = tuple(PeerPayload(protocol="http", peer_id=pid, hostname="127.0.0.1", port=int(url.rsplit(":", 1)[1]))
                  for pid, url in zip(vss.peer_ids, vss.peer_urls))
    running: Dict[str, Target] = {}
    servers: List[Server] = []
    try:
        for kind, cls in (("ours", double.FaultyRouterApp), ("public", double.PublicRouterApp)):
            app = cls(RouterConfig(router_id=f"router-{kind}", peers=peers))
            server = Server(app, ServerConfig(port=0, numthreads=16))
            server.start()
            servers.append(server)
            uri = f"mictlanx://router-{kind}@127.0.0.1:{server.port}/?protocol=http&api_version=4&http2=0"
            running[kind] = Target(kind, uri, app)
        yield running
    finally:
        for server in servers:
            server.stop()
        for target in running.values():
            target.app.close()


@pytest.fixture(params=KINDS)
def target(request: Any, targets: Dict[str, Target]) -> Target:
    """Each router under test in turn."""
    return targets[request.param]


def _config() -> ClientConfig:
    return ClientConfig(retry=RetryConfig(backoff_factor=0.01, backoff_jitter=0.01, chunk_attempts=2),
                        transfer=TransferConfig(chunk_size=CHUNK, max_workers=4))


@pytest.fixture
def client(target: Target) -> Iterator[Client]:
    """A client of the router under test with small chunks and quick retries."""
    with Client(target.uri, config=_config()) as c:
        yield c


class CountingSession(requests.Session):
    """Records (method, path) of every request."""

    def __init__(self, calls: List[Any]) -> None:
        super().__init__()
        self._calls = calls

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self._calls.append((method, url.split("/", 3)[3]))
        self.peer_ids.append((method, url.split("/", 3)[3], (kwargs.get("headers") or {}).get("Peer-Id")))
        self.threads.append(threading.current_thread().name)
        return super().request(method, url, *args, **kwargs)

    peer_ids: List[Any] = []  # (method, path, Peer-Id header) of every request, all sessions
    threads: List[str] = []  # the thread that sent each of them, in the same order


def _listed(client: Client, bucket: str, key: str) -> List[Any]:
    try:
        return list(client.get_by_ball_id(bucket, key).chunks)
    except NotFoundError:
        return []


# ------------------------------------------------------------------------------- round trips
def test_put_get_files_listing_and_delete(client: Client, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(2500)
    result = client.put(bucket, "k", data, tags={"a": "1"})
    assert result.chunk_replicas == (1, 1, 1) and result.replicas and not result.already_stored
    assert client.get(bucket, "k", use_cache=False).content == data
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(3100))
    client.put_file(bucket, "f", str(src))
    out = client.get_to_file(bucket, "f", str(tmp_path / "out.bin"))
    assert Path(out).read_bytes() == src.read_bytes()
    # §11.7: listings repeat entries on the public router; the SDK lists each object once.
    assert sorted(o.key for o in client.get_bucket_metadata(bucket)) == ["f", "k"]
    # §11.4: a missing key's metadata is a 500 "404: ..." there; still NotFound here.
    with pytest.raises(NotFoundError):
        client.get_metadata(bucket, "missing")
    assert not client.exists(bucket, "missing")
    assert client.delete(bucket, "k") >= 3
    assert not client.exists(bucket, "k")


def test_put_many_reports_each_item(client: Client, target: Target, bucket: str) -> None:
    items = {"a": os.urandom(1500), "b": os.urandom(1500), "c": b"c"}
    with target.refusing("b_1"):
        results = {r.key: r for r in client.put_many(bucket, items)}
    assert results["a"].ok and results["c"].ok
    assert isinstance(results["b"].error, TransferError)
    assert client.get(bucket, "a").content == items["a"]
    assert not client.exists(bucket, "b") and _listed(client, bucket, "b") == []


# ----------------------------------------------------------------- 1. never a false success
def test_a_chunk_refused_mid_put_fails_naming_it_and_removes_what_was_stored(
        client: Client, target: Target, bucket: str) -> None:
    data = os.urandom(3 * CHUNK)
    with target.refusing("k_1"), pytest.raises(TransferError) as info:
        client.put(bucket, "k", data)
    assert info.value.failed_indices == (1,)
    words = "peer_ids=[]" if target.kind == "public" else "No replica stored"
    assert words in str(info.value)
    assert not client.exists(bucket, "k")
    assert _listed(client, bucket, "k") == []  # chunk 2 (stored first) was removed again
    assert client.put(bucket, "k", data).chunk_replicas == (1, 1, 1)  # nothing left in the way


def test_chunk_zero_refused_is_a_transfer_error_too(client: Client, target: Target, bucket: str) -> None:
    with target.refusing("k_0"), pytest.raises(TransferError) as info:
        client.put(bucket, "k", os.urandom(2 * CHUNK))
    assert info.value.failed_indices == (0,)
    assert _listed(client, bucket, "k") == []


def _peers(client: Client) -> int:
    return len(client.routers[0].get_stats(0, 0))


def test_fewer_replicas_than_rf_is_visible_and_min_replicas_makes_it_an_error(
        client: Client, bucket: str, caplog: Any) -> None:
    peers = _peers(client)
    with caplog.at_level(logging.WARNING, logger="mictlanx_sync"):
        result = client.put(bucket, "k", os.urandom(2 * CHUNK), rf=peers + 1)  # more than there are peers
    assert result.chunk_replicas == (peers, peers)
    assert "under_replicated" in caplog.text
    with pytest.raises(TransferError) as info:
        client.put(bucket, "other", os.urandom(2 * CHUNK), rf=peers + 1, min_replicas=peers + 1)
    assert f"fewer than min_replicas={peers + 1}" in str(info.value)
    assert not client.exists(bucket, "other") and _listed(client, bucket, "other") == []


def test_cli_warns_of_missing_replicas_and_force_replaces(client: Client, target: Target, bucket: str,
                                                          tmp_path: Path, capsys: Any) -> None:
    rf = str(_peers(client) + 1)
    src, other = tmp_path / "a.bin", tmp_path / "b.bin"
    src.write_bytes(os.urandom(2 * CHUNK))
    other.write_bytes(os.urandom(2 * CHUNK))
    base = ["--uri", target.uri, "--chunk-size", str(CHUNK), "--no-progress"]
    assert main([*base, "--rf", rf, "put", bucket, "k", str(src)]) == 0
    assert "fewer than" in capsys.readouterr().err
    assert main([*base, "--rf", rf, "put", bucket, "m", str(src), "--min-replicas", rf]) == 14  # transfer
    assert not client.exists(bucket, "m")
    capsys.readouterr()
    assert main([*base, "put", bucket, "k", str(other)]) == 5  # already exists
    assert main([*base, "put", bucket, "k", str(other), "--force"]) == 0
    assert client.get(bucket, "k", use_cache=False).content == other.read_bytes()


# -------------------------------------------------------------------- 2. one overwrite rule
def test_different_bytes_are_refused_before_any_byte_is_written(client: Client, bucket: str) -> None:
    first = os.urandom(2 * CHUNK)
    client.put(bucket, "k", first)
    before = _listed(client, bucket, "k")
    with pytest.raises(AlreadyExistsError):
        client.put(bucket, "k", os.urandom(2 * CHUNK))
    after = _listed(client, bucket, "k")
    assert sorted((m.key, m.checksum) for m in after) == sorted((m.key, m.checksum) for m in before)
    for _ in range(4):  # plain reads alternate replicas on the public router: all the same version
        assert client.get(bucket, "k", use_cache=False).content == first


def test_the_same_bytes_again_add_no_replica(client: Client, bucket: str) -> None:
    data = os.urandom(2 * CHUNK)
    client.put(bucket, "k", data)
    before = len(_listed(client, bucket, "k"))
    again = client.put(bucket, "k", data)
    assert again.already_stored and not again.tags_updated and again.chunk_replicas == (1, 1)
    assert len(_listed(client, bucket, "k")) == before


def test_the_same_bytes_with_new_tags_update_them_or_say_they_did_not(
        client: Client, target: Target, bucket: str) -> None:
    data = os.urandom(CHUNK + 1)
    client.put(bucket, "k", data, tags={"v": "1"})
    try:
        result = client.put(bucket, "k", data, tags={"v": "2"})
    except ServerError as exc:
        assert target.kind != "ours"
        assert "failed to update the tags" in str(exc)
        assert client.get_metadata(bucket, "k").tags["v"] == "1"  # the put said so: not silently dropped
    else:
        assert target.kind != "public"
        assert result.already_stored and result.tags_updated
        assert client.get_metadata(bucket, "k").tags["v"] == "2"


def test_overwrite_replaces_the_object(client: Client, bucket: str) -> None:
    client.put(bucket, "k", os.urandom(3 * CHUNK), tags={"v": "1"})
    new = os.urandom(2 * CHUNK)
    result = client.put(bucket, "k", new, tags={"v": "2"}, overwrite=True)
    assert not result.already_stored and result.chunk_replicas == (1, 1)
    assert client.get(bucket, "k", use_cache=False).content == new
    assert {m.key for m in _listed(client, bucket, "k")} == {"k_0", "k_1"}  # old k_2 gone
    assert client.get_metadata(bucket, "k").tags["v"] == "2"


def test_a_failure_inside_the_overwrite_window_leaves_the_key_absent_never_partial(
        client: Client, target: Target, bucket: str) -> None:
    client.put(bucket, "k", os.urandom(3 * CHUNK))
    with target.refusing("k_1"), pytest.raises(TransferError):
        client.put(bucket, "k", os.urandom(3 * CHUNK), overwrite=True)
    assert not client.exists(bucket, "k")
    with pytest.raises(NotFoundError):
        client.get(bucket, "k", use_cache=False)
    assert _listed(client, bucket, "k") == []


def test_diverged_replicas_read_as_the_newest_version(client: Client, target: Target, bucket: str,
                                                      caplog: Any) -> None:
    """Another client wrote other bytes under the key through the public router (which lets it):
    reads return the newest version, every time, and log that the replicas diverge."""
    old = os.urandom(CHUNK)
    client.put(bucket, "k", old)
    new = os.urandom(CHUNK - 10)  # another size too: a read of the other version is short
    try:
        _raw_put_newer_version(target.uri, bucket, "k", new)
    except AlreadyExistsError:
        if target.kind == "public":
            raise
        pytest.skip("this router refuses divergent replicas (409), as our VSS does")
    assert len({m.checksum for m in _listed(client, bucket, "k")}) == 2
    calls: List[Any] = []
    CountingSession.peer_ids.clear()
    CountingSession.threads.clear()
    with caplog.at_level(logging.WARNING, logger="mictlanx_sync"), \
            Client(target.uri, config=_config(), session_factory=lambda: CountingSession(calls)) as reader:
        for _ in range(4):
            assert reader.get(bucket, "k", use_cache=False).content == new
    assert "event=diverged" in caplog.text
    # A get's chunk-0 look-ahead (issue 15) leaves before the listing shows the divergence, so it
    # is unpinned; its bytes are used only when they have the listed version's SHA-256. Every
    # other read of chunk 0 is pinned.
    data_reads = [(m, path, pin) for (m, path, pin), thread in zip(CountingSession.peer_ids, CountingSession.threads)
                  if path.endswith("/k_0") and m == "GET" and not thread.startswith("mictlanx-lookahead")]
    assert all(pin for _, _, pin in data_reads), data_reads  # never an unpinned regular read


def _raw_put_newer_version(uri: str, bucket: str, key: str, data: bytes) -> None:
    """Steps 1 and 2 of chunk 0 of a one-chunk object, as another client would send them."""
    checksum = hashlib.sha256(data).hexdigest()
    tags = {"updated_at": str(10 ** 19), "num_chunks": "1", "index": "0", "chunk_size": str(len(data)),
            "group_id": key, "full_checksum": checksum}
    with Client(uri) as c:
        router: Router = c.routers[0]
        reply = router.put_metadata(bucket, f"{key}_0", len(data), checksum, "other-client",
                                    ball_id=key, tags=tags)
        stored = router.put_chunked(reply.tasks_ids[0], data, bucket_id=bucket, key=f"{key}_0")
        assert stored.peer_ids


# ------------------------------------------------------------------------- 3. update_tags
def test_update_tags_is_sent_once_and_a_failure_says_the_router_failed(target: Target, bucket: str) -> None:
    calls: List[Any] = []
    with Client(target.uri, config=_config(),
                session_factory=lambda: CountingSession(calls)) as c:
        c.put(bucket, "k", os.urandom(CHUNK))
        calls.clear()
        try:
            info = c.update_tags(bucket, "k", {"x": "1"})
        except ServerError as exc:
            assert target.kind != "ours"
            assert "failed to update the tags" in str(exc) and exc.status == 500
        else:
            assert target.kind != "public"
            assert info.tags["x"] == "1"
        updates = [path for method, path in calls if method == "POST" and path.startswith("api/v4/u/")]
        assert len(updates) == 1, updates


def test_put_result_without_chunk_counts_has_no_minimum() -> None:
    from mictlanx_sync.results import PutResult

    empty = PutResult(bucket_id="b", key="k", size=0, checksum="", num_chunks=0, replicas=(), seconds=0.0)
    assert empty.min_chunk_replicas == 0 and empty.chunk_replicas == ()


def test_a_small_put_costs_three_requests_and_a_repeat_one(target: Target, bucket: str) -> None:
    """The look before writing is one request (a NotFound for a new key); the same bytes again
    cost only that look. A router that has shown it checks ``If-None-Match: *`` at step 1 (ours)
    spares the look of a new one-chunk key; its repeat costs the refused step 1 and the look."""
    calls: List[Any] = []
    with Client(target.uri, config=_config(), session_factory=lambda: CountingSession(calls)) as c:
        data = os.urandom(4096 if CHUNK >= 4096 else CHUNK)
        c.put(bucket, "small", data)
        assert [method for method, _ in calls] == ["GET", "POST", "POST"], calls
        checks = c._core.routers_check_new_keys()  # an external router may be either kind
        assert checks if target.kind == "ours" else (not checks or target.kind == "external")
        calls.clear()
        assert c.put(bucket, "small", data).already_stored
        repeat = ["POST", "GET"] if checks else ["GET"]
        assert [method for method, _ in calls] == repeat, calls
        calls.clear()
        c.put(bucket, "small-2", data)
        new = ["POST", "POST"] if checks else ["GET", "POST", "POST"]
        assert [method for method, _ in calls] == new, calls
        assert c.get(bucket, "small-2").data == data


def test_the_same_bytes_under_another_content_type_are_other_content(client: Client, bucket: str) -> None:
    data = os.urandom(CHUNK)
    client.put(bucket, "k", data, content_type="text/plain")
    with pytest.raises(AlreadyExistsError):
        client.put(bucket, "k", data, content_type="image/png")
    assert client.put(bucket, "k", data, content_type="image/png", overwrite=True).chunk_replicas == (1,)
    assert client.get_metadata(bucket, "k").content_type == "image/png"


def test_the_double_answers_as_the_public_router_does(targets: Dict[str, Target], bucket: str) -> None:
    """The double itself (PROTOCOL §11): what the SDK is tested against must be what it claims."""
    if "public" not in targets:
        pytest.skip("the double runs only when the tests start their own routers")
    public = targets["public"]
    with Client(public.uri, config=_config()) as c:
        url = c.routers[0].base_url
        c.put(bucket, "k", os.urandom(CHUNK), rf=2)
        c.put(bucket, "j", os.urandom(CHUNK))
    missing = requests.get(f"{url}/api/v4/buckets/{bucket}/metadata/missing", timeout=10)
    assert (missing.status_code, missing.json()) == (500, {"detail": "404: No available peers"})
    update = requests.post(f"{url}/api/v4/u/buckets/{bucket}/k_0", json={}, timeout=10)
    assert update.status_code == 500 and update.headers["Content-Type"].startswith("text/plain")
    listing = requests.get(f"{url}/api/v4/buckets/{bucket}/metadata", timeout=10).json()
    keys = [ball["key"] for ball in listing["balls"]]
    assert sorted(set(keys)) == ["j_0", "k_0"] and len(keys) == 4  # the set again after each peer
    chunks = requests.get(f"{url}/api/v4/buckets/{bucket}/metadata/k/chunks", timeout=10).json()
    assert [m["key"] for m in chunks["chunks"]] == ["k_0", "k_0"]  # one entry per replica
    # Step 1 of other bytes under a held key is placed on the peer lacking it; 666 once all hold it.
    router = Router(url)
    tags = {"index": "0", "num_chunks": "1", "full_checksum": "x", "group_id": "j"}
    other = hashlib.sha256(b"xyz").hexdigest()  # not the body's: every replica refuses the body
    placed = router.put_metadata(bucket, "j_0", 3, other, "p", ball_id="j", tags=tags)
    assert len(placed.replicas) == 1
    stored = router.put_chunked(placed.tasks_ids[0], b"abc", bucket_id=bucket, key="j_0")
    assert stored.peer_ids == () and stored.size == 3  # the body does not match: 200, no peer
    with pytest.raises(MaxAvailabilityReachedError):  # both peers hold k_0 (rf=2)
        router.put_metadata(bucket, "k_0", 3, other, "p", ball_id="k", tags=tags)
    gone = requests.get(f"{url}/api/v4/buckets/{bucket}/metadata/nothing/chunks", timeout=10)
    assert gone.status_code == 404 and isinstance(gone.json()["detail"], str)
    router.close()


def test_an_encrypted_put_never_counts_as_the_same_content(client: Client, bucket: str) -> None:
    """Fresh nonces: the same plaintext encrypts to other bytes, so it is other content (refused
    before any byte is written, or replaced with overwrite=True), never a silent no-op."""
    pytest.importorskip("cryptography")
    secret, data = os.urandom(32), os.urandom(2 * CHUNK)
    client.put(bucket, "k", data, encrypt_with=secret)
    before = sorted((m.key, m.checksum) for m in _listed(client, bucket, "k"))
    with pytest.raises(AlreadyExistsError):
        client.put(bucket, "k", data, encrypt_with=secret)
    assert sorted((m.key, m.checksum) for m in _listed(client, bucket, "k")) == before
    again = client.put(bucket, "k", data, encrypt_with=secret, overwrite=True)
    assert not again.already_stored and again.chunk_replicas == (1, 1)
    assert client.get(bucket, "k", decrypt_with=secret).content == data


def test_a_router_that_stops_checking_new_keys_is_looked_at_before_any_byte(targets: Dict[str, Target],
                                                                            bucket: str) -> None:
    """A client that learned its routers check ``If-None-Match: *`` (the local VSS) and then
    meets one that ignores it (a real router now behind the same address): the step-1 reply
    does not say it checked, so the put looks before sending a byte, refuses other content, and
    the client stops skipping lookups there."""
    if "public" not in targets:
        pytest.skip("needs the public-router double")
    uri = targets["public"].uri
    with Client(uri, config=_config()) as c:
        c.put(bucket, "k", b"old bytes")
        for router in c._core.routers:  # as if learned before the deployment was replaced
            c._core.note_new_key_check(router, True)
        assert c._core.routers_check_new_keys()
        with pytest.raises(AlreadyExistsError):
            c.put(bucket, "k", b"new bytes")
        assert not c._core.routers_check_new_keys()
        assert c.get(bucket, "k").data == b"old bytes"
        listing = c._core.routers[0].get_by_ball_id(bucket, "k")
        assert {m.checksum for m in listing.chunks} == {hashlib.sha256(b"old bytes").hexdigest()}
        assert c.put(bucket, "k", b"old bytes").already_stored
