"""Scenario 2: a storage peer is lost (SIGKILL) with rf=2, then restarted.

Three peers; 50 objects (1-4 chunks of 64 kB) written with rf=2, so every chunk lives on two
peers. The peer holding the most chunks is killed: all 50 objects still read back and verify,
and writes keep working on the two survivors. The peer is restarted on its data directory:
every ball it had committed before the kill is still served by it (read directly with
``mictlanx_sync.Peer`` by chunk key) and matches its SHA-256.
"""

from __future__ import annotations

import os
import random
from typing import Any, Dict

import pytest

from mictlanx_sync import Peer
from mictlanx_sync.client import Client
from mictlanx_sync.config import ClientConfig, RetryConfig, Timeouts, TransferConfig

pytestmark = pytest.mark.timeout(120)


def test_peer_killed_with_rf2_loses_nothing(vss_factory: Any, workdir: str, h: Any) -> None:
    vss = vss_factory(peers=3)
    config = ClientConfig(timeouts=Timeouts(connect=1, read=10),
                          retry=RetryConfig(total=1, chunk_attempts=3, backoff_factor=0.05),
                          transfer=TransferConfig(chunk_size="64kb", max_workers=8))
    bucket = h.unique("pl")
    rng = random.Random(2)
    objects: Dict[str, bytes] = {f"obj-{i}": rng.randbytes(rng.randint(1, 250_000)) for i in range(50)}

    with Client(vss.uri, config=config) as client:
        results = client.put_many(bucket, objects, rf=2)
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
        assert all(len(r.value.replicas) >= 2 for r in results)

        committed = {}
        for i, url in enumerate(vss.peer_urls):
            with Peer(url) as peer:
                committed[i] = {b.key: b for b in peer.get_bucket_metadata(bucket).balls}
        total_chunks = sum((len(v) + 63_999) // 64_000 for v in objects.values())
        assert sum(len(c) for c in committed.values()) == 2 * total_chunks  # rf=2, chunk by chunk
        victim = max(committed, key=lambda i: len(committed[i]))

        vss.kill_peer(victim)
        assert not vss.peer_alive(victim)
        for key, value in objects.items():
            assert client.get(bucket, key, use_cache=False).content == value, key
        listed = {o.key for o in client.get_bucket_metadata(bucket)}
        assert listed == set(objects)
        path = client.get_to_file(bucket, "obj-7", os.path.join(workdir, "obj7.bin"))
        with open(path, "rb") as handle:
            assert handle.read() == objects["obj-7"]
        # writes still place two replicas on the two survivors
        extra = rng.randbytes(150_000)
        put = client.put(bucket, "during-outage", extra, rf=2)
        assert len(put.replicas) == 2 and vss.peer_ids[victim] not in put.replicas
        assert client.get(bucket, "during-outage", use_cache=False).content == extra

        vss.start_peer(victim)
        with Peer(vss.peer_urls[victim]) as peer:
            for chunk_key, meta in committed[victim].items():
                data = peer.get(bucket, chunk_key)
                assert len(data) == meta.size and h.sha(data) == meta.checksum, chunk_key
                assert peer.get_metadata(bucket, chunk_key).metadata.checksum == meta.checksum
            assert {b.key for b in peer.get_bucket_metadata(bucket).balls} == set(committed[victim])
        # and the cluster as a whole still serves everything
        for key, value in objects.items():
            assert client.get(bucket, key, use_cache=False).content == value, key
