"""Deterministic reproductions of the object-level consistency bugs the load test (scenario 7) hit.

An object is N independent chunk balls; these tests pin down what goes wrong when a put or a
delete meets chunks that belong to another version of the same key.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import pytest
import requests

from mictlanx_sync import AlreadyExistsError, MictlanXError, Peer
from mictlanx_sync.client import Client
from mictlanx_sync.vss import LocalVSS, serve

pytestmark = pytest.mark.timeout(90)

CHUNK = 16_000


@pytest.fixture(scope="module")
def cvss() -> Iterator[LocalVSS]:
    with serve(peers=2, fsync=False) as vss:
        yield vss


@pytest.mark.parametrize("change", ["extend", "truncate"])
def test_put_of_a_different_version_sharing_leading_chunks(cvss: LocalVSS, h: Any, change: str) -> None:
    old = os.urandom(3 * CHUNK)
    new = old + os.urandom(CHUNK) if change == "extend" else old[:2 * CHUNK]
    bucket = h.unique("cs")
    with Client(cvss.uri, chunk_size=CHUNK, capacity_storage="0") as client:
        client.put(bucket, "obj", old)
        try:
            client.put(bucket, "obj", new)
        except AlreadyExistsError:
            assert client.get(bucket, "obj").content == old  # refused: the old version is intact
        else:
            assert client.get(bucket, "obj").content == new  # accepted: the new version is stored


def test_refused_put_leaves_the_existing_object_intact(cvss: LocalVSS, h: Any) -> None:
    # racy by nature (which chunks commit before chunk 0's refusal cancels the rest), so try a few
    # times; in practice it shows within the first three tries
    bucket = h.unique("cs")
    with Client(cvss.uri, chunk_size=CHUNK, capacity_storage="0") as client:
        for attempt in range(25):
            key = f"obj-{attempt}"
            old = os.urandom(CHUNK // 2)
            client.put(bucket, key, old)
            with pytest.raises(AlreadyExistsError):
                client.put(bucket, key, os.urandom(40 * CHUNK))
            assert client.get(bucket, key).content == old, f"attempt {attempt}"


def test_delete_when_the_chunks_vanish_meanwhile(cvss: LocalVSS, h: Any) -> None:
    bucket = h.unique("cs")
    with Client(cvss.uri, chunk_size=CHUNK, capacity_storage="0") as client:
        client.put(bucket, "obj", os.urandom(3 * CHUNK))
    peers = [Peer(url) for url in cvss.peer_urls]

    def drop(*keys: str) -> None:
        for peer in peers:
            for key in keys:
                peer.delete(bucket, key)

    drop("obj_1")  # the object is now incomplete (a delete in progress, say)
    fired = []

    def factory() -> requests.Session:
        session = requests.Session()

        def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            if response.url.endswith("/metadata/obj/chunks") and not fired:
                fired.append(True)
                drop("obj_0", "obj_2")  # the concurrent delete lands right after our first listing

        session.hooks["response"].append(hook)
        return session

    try:
        with Client(cvss.uri, chunk_size=CHUNK, session_factory=factory) as client:
            assert client.delete(bucket, "obj") == 0
            assert fired
    finally:
        for peer in peers:
            peer.close()


def test_delete_cleans_up_torn_objects(cvss: LocalVSS, h: Any) -> None:
    """Whatever state a race leaves (here: chunk 0 gone, others left), delete removes the rest."""
    bucket = h.unique("cs")
    with Client(cvss.uri, chunk_size=CHUNK, capacity_storage="0") as client:
        client.put(bucket, "obj", os.urandom(3 * CHUNK))
        for url in cvss.peer_urls:
            with Peer(url) as peer:
                peer.delete(bucket, "obj_0")
        with pytest.raises(MictlanXError):
            client.get(bucket, "obj")
        assert client.delete(bucket, "obj") >= 2
        assert not client.exists(bucket, "obj")
        assert client.get_bucket_metadata(bucket) == []
