"""``If-None-Match: *`` at step 1 (our router) and the one-chunk put that skips its lookup there.

A second router of our VSS, in-process in front of the session's peers, never saw the keys the
session router stored: its registry is empty, so only asking the peers tells it a key is stored.
That is the case a real deployment meets with several routers, or after a router restarts.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterator, List

import pytest

from mictlanx_sync import Router
from mictlanx_sync.client import Client
from mictlanx_sync.errors import AlreadyExistsError, PreconditionFailedError
from mictlanx_sync.models import PeerPayload
from mictlanx_sync.vss.router_app import RouterConfig, create_router_app
from mictlanx_sync.vss.server import Server, ServerConfig

pytestmark = pytest.mark.local_vss

KEYS = 8  # with 2 peers and rf=1, a router guessing from its registry alone misses about half


@pytest.fixture(scope="module")
def second_router(vss: Any) -> Iterator[str]:
    """The URI of another router of ours in front of the session's peers (empty registry)."""
    peers = tuple(PeerPayload(protocol="http", peer_id=pid, hostname="127.0.0.1", port=int(url.rsplit(":", 1)[1]))
                  for pid, url in zip(vss.peer_ids, vss.peer_urls))
    app = create_router_app(RouterConfig(router_id="router-second", peers=peers))
    server = Server(app, ServerConfig(port=0, numthreads=16))
    server.start()
    try:
        yield f"mictlanx://router-second@127.0.0.1:{server.port}/?protocol=http&api_version=4&http2=0"
    finally:
        server.stop()
        app.close()


def _stored_checksums(client: Client, bucket: str, key: str) -> List[str]:
    """The checksum of every listed replica of the key's chunk 0."""
    listing = client._core.routers[0].get_by_ball_id(bucket, key)
    return [m.checksum for m in listing.chunks if m.key == f"{key}_0"]


def test_step_1_with_if_none_match_is_refused_for_a_key_only_the_peers_know(vss: Any, second_router: str,
                                                                            bucket: str) -> None:
    with Client(vss.uri) as first:
        for i in range(KEYS):
            first.put(bucket, f"k{i}", f"old {i}".encode())
    with Client(second_router) as c:
        router: Router = c._core.routers[0]
        for i in range(KEYS):
            data = f"new {i}".encode()
            with pytest.raises(PreconditionFailedError) as caught:
                router.put_metadata(bucket, f"k{i}_0", len(data), hashlib.sha256(data).hexdigest(), "t",
                                    ball_id=f"k{i}", if_none_match=True)
            assert caught.value.status == 412 and "already exists" in str(caught.value)
        data = b"fresh"
        reply = router.put_metadata(bucket, "fresh_0", len(data), hashlib.sha256(data).hexdigest(), "t",
                                    ball_id="fresh", if_none_match=True)
        assert reply.checked_if_none_match and reply.tasks_ids
        reply = router.put_metadata(bucket, "other_0", len(data), hashlib.sha256(data).hexdigest(), "t",
                                    ball_id="other")
        assert not reply.checked_if_none_match  # only a request that asked is told


def test_a_put_that_skipped_its_lookup_still_never_writes_other_content(vss: Any, second_router: str,
                                                                        bucket: str) -> None:
    """The one-chunk fast path relies on the router's check: with it, other content under a
    stored key is refused before any byte and no replica diverges."""
    with Client(vss.uri) as first:
        for i in range(KEYS):
            first.put(bucket, f"k{i}", f"old {i}".encode())
    with Client(second_router) as c:
        c.put(bucket, "warm-up", b"x")  # the first put looks, and learns that the router checks
        assert c._core.routers_check_new_keys()
        for i in range(KEYS):
            with pytest.raises(AlreadyExistsError):
                c.put(bucket, f"k{i}", f"new {i}".encode())
    with Client(vss.uri) as first:
        for i in range(KEYS):
            assert first.get(bucket, f"k{i}").data == f"old {i}".encode()
            assert set(_stored_checksums(first, bucket, f"k{i}")) == {hashlib.sha256(f"old {i}".encode()).hexdigest()}


def test_the_overwrite_rule_holds_after_a_refused_step_1(second_router: str, bucket: str) -> None:
    """Same bytes: nothing written (tags updated); other bytes with overwrite: replaced."""
    with Client(second_router) as c:
        c.put(bucket, "warm-up", b"x")
        assert c._core.routers_check_new_keys()
        first = c.put(bucket, "k", b"one", tags={"v": "1"})
        assert not first.already_stored and first.chunk_replicas == (1,)
        again = c.put(bucket, "k", b"one", tags={"v": "2"})
        assert again.already_stored and again.tags_updated
        assert c.get_metadata(bucket, "k").tags["v"] == "2"
        replaced = c.put(bucket, "k", b"two", overwrite=True)
        assert not replaced.already_stored
        assert c.get(bucket, "k").data == b"two"
        assert set(_stored_checksums(c, bucket, "k")) == {hashlib.sha256(b"two").hexdigest()}
