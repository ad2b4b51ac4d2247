"""Repair of missing replicas (issue 11, item 3).

Before: with one of two peers down, ``put(rf=2)`` was acknowledged with one replica and the
returning peer never received the missing copies. Now the router records each ball's rf
(``_protocol.TAG_RF``) and copies under-replicated balls from a healthy replica (SHA-256
verified) when a peer returns, periodically, and on demand (``mictlanx-sync vss repair``).

Waiting is a poll with a deadline (never a sleep followed by an assertion).
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from contextlib import redirect_stdout
from typing import Any, Callable, Dict, Iterator, List, Set, Tuple

import pytest

from mictlanx_sync import _protocol as P
from mictlanx_sync.client import Client
from mictlanx_sync.errors import MictlanXError
from mictlanx_sync.peer import Peer
from mictlanx_sync.vss import LocalVSS, serve
from mictlanx_sync.vss.cli import main as vss_main

pytestmark = pytest.mark.timeout(120)

BUCKET = "repair"
DEADLINE = 30.0  # seconds: the bound for "within a bounded time" (the figure itself is printed)


def _verified_keys(url: str) -> Set[Tuple[str, str]]:
    """The (bucket, key) pairs a peer holds whose bytes match their checksum (read back whole)."""
    peer = Peer(url)
    out: Set[Tuple[str, str]] = set()
    try:
        for meta in peer.get_bucket_metadata(BUCKET).balls:
            with peer.get_streaming(BUCKET, meta.key) as stream:
                data = b"".join(stream)
            if hashlib.sha256(bytes(data)).hexdigest() == meta.checksum and len(data) == meta.size:
                out.add((BUCKET, meta.key))
    except MictlanXError:
        return set()
    finally:
        peer.close()
    return out


def _put_objects(uri: str, h: Any, count: int) -> Dict[str, bytes]:
    objects = {h.unique("obj"): os.urandom(25_000 + i) for i in range(count)}
    with Client(uri, chunk_size="10kb") as client:
        for key, data in objects.items():
            client.put(BUCKET, key, data, rf=2)
    return objects


def _chunk_keys(objects: Dict[str, bytes]) -> Set[Tuple[str, str]]:
    return {(BUCKET, P.chunk_key(key, i)) for key in objects for i in range(3)}


def test_a_returning_peer_gets_every_missing_replica(vss_factory: Callable[..., Any], h: Any) -> None:
    vss = vss_factory(peers=2, rf=2)
    vss.stop_peer(1)
    objects = _put_objects(vss.uri, h, 4)  # acknowledged with one replica each (peer 1 is down)
    chunks = _chunk_keys(objects)
    assert chunks <= _verified_keys(vss.peer_urls[0])
    vss.start_peer(1)
    started = time.monotonic()
    assert h.wait_until(lambda: chunks <= _verified_keys(vss.peer_urls[1]), DEADLINE, interval=0.1), \
        "the returning peer did not receive the missing replicas"
    elapsed = time.monotonic() - started
    print(f"\nrepair time: {len(chunks)} chunks ({sum(len(d) for d in objects.values())} bytes) had 2 "
          f"verified replicas {elapsed:.2f} s after the peer was back")
    assert chunks <= _verified_keys(vss.peer_urls[0])
    with Client(vss.uri) as client:  # the router reads them back whole
        for key, data in objects.items():
            assert bytes(client.get(BUCKET, key).data) == data


@pytest.fixture(scope="module")
def quiet_vss() -> Iterator[LocalVSS]:
    """2 peers, rf 2, no periodic repair pass (and no peer ever returns): only the CLI repairs."""
    with serve(peers=2, rf=2, repair_interval=0) as vss:
        yield vss


def test_vss_repair_cli_runs_a_pass_and_prints_the_fixes(quiet_vss: LocalVSS, h: Any) -> None:
    vss = quiet_vss
    objects = _put_objects(vss.uri, h, 1)
    (key,) = objects
    lost = P.chunk_key(key, 1)
    peer1 = Peer(vss.peer_urls[1])
    try:
        assert peer1.delete(BUCKET, lost).n_deletes == 1  # a replica lost behind the router's back
    finally:
        peer1.close()
    assert (BUCKET, lost) not in _verified_keys(vss.peer_urls[1])
    out = io.StringIO()
    with redirect_stdout(out):
        code = vss_main(["repair", "--router", vss.router_url])
    text = out.getvalue()
    assert code == 0, text
    assert f"repaired {BUCKET}@{lost} (" in text and f"{vss.peer_ids[0]} -> {vss.peer_ids[1]}" in text, text
    assert "1 repaired, 0 failed, 0 unrepairable" in text, text
    assert _chunk_keys(objects) <= _verified_keys(vss.peer_urls[1])
    out = io.StringIO()
    with redirect_stdout(out):  # a second pass finds nothing to do
        assert vss_main(["repair", "--router", vss.router_url]) == 0
    assert "0 repaired, 0 failed, 0 unrepairable" in out.getvalue() and "repaired " + BUCKET not in out.getvalue()


def test_a_corrupt_source_is_not_copied(quiet_vss: LocalVSS, h: Any) -> None:
    """A replica whose bytes no longer match its checksum is never the source of a copy."""
    vss = quiet_vss
    objects = _put_objects(vss.uri, h, 1)
    (key,) = objects
    lost = P.chunk_key(key, 0)
    peer1 = Peer(vss.peer_urls[1])
    try:
        peer1.delete(BUCKET, lost)
        h.flip_byte(h.object_file(vss.data_dirs[0], BUCKET, lost), 5)
        out = io.StringIO()
        with redirect_stdout(out):
            code = vss_main(["repair", "--router", vss.router_url])
        text = out.getvalue()
        assert code == 1 and "FAILED" in text and "1 failed" in text, text
        with pytest.raises(MictlanXError):
            peer1.get_metadata(BUCKET, lost)  # nothing committed on the target
    finally:
        peer1.close()
        with Client(vss.uri) as client:  # leave nothing under-replicated for the other tests
            client.delete(BUCKET, key)


def test_clients_never_see_the_internal_rf_tag(quiet_vss: LocalVSS, h: Any) -> None:
    vss = quiet_vss
    objects = _put_objects(vss.uri, h, 1)
    (key,) = objects
    with Client(vss.uri) as client:
        router = client.routers[0]
        meta = router.get_metadata(BUCKET, P.chunk_key(key, 0)).metadata
        assert P.TAG_RF not in meta.tags
        listed: List[Any] = list(router.get_bucket_metadata(BUCKET).balls)
        assert listed and all(P.TAG_RF not in m.tags for m in listed)
        client.update_tags(BUCKET, key, {"color": "red"})  # rewrites the metadata on the peers
        meta = router.get_metadata(BUCKET, P.chunk_key(key, 0)).metadata
        assert meta.tags["color"] == "red" and P.TAG_RF not in meta.tags
    for url in vss.peer_urls:
        peer = Peer(url)
        try:  # the peers keep it (that is where repair reads it), also after the tag update
            assert peer.get_metadata(BUCKET, P.chunk_key(key, 0)).metadata.tags[P.TAG_RF] == "2"
        finally:
            peer.close()
