"""Scenario 4: torn writes. A peer is SIGKILLed while it is receiving chunk data, then restarted.

One router, one peer, rf=1. No partial chunk may ever be listed (bucket listing, ``/group``,
router ``/chunks``) or served after the restart; ``tmp/`` is emptied; re-putting the object works
and reads back verified.

Two variants: a deterministic one (step 1 through the router, then a raw step 2 that sends part
of the body and stops; the peer is killed once its temp file holds bytes) and a client-driven one
(a 24-chunk ``put`` killed at ~30% progress).
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from typing import Any, List

import pytest

from mictlanx_sync import MictlanXError, NotFoundError, Peer, Router
from mictlanx_sync.client import Client
from mictlanx_sync.config import ClientConfig, RetryConfig, Timeouts, TransferConfig
from mictlanx_sync.vss import LocalVSS

pytestmark = pytest.mark.timeout(120)


def _config() -> ClientConfig:
    return ClientConfig(timeouts=Timeouts(connect=1, read=10),
                        retry=RetryConfig(total=1, chunk_attempts=2, backoff_factor=0.05),
                        transfer=TransferConfig(chunk_size="1MB", max_workers=4))


def _tmp_parts(vss: LocalVSS) -> List[str]:
    tmp = os.path.join(vss.data_dirs[0], "tmp")
    return [os.path.join(tmp, f) for f in os.listdir(tmp)] if os.path.isdir(tmp) else []


def _restart_and_wait(vss: LocalVSS, h: Any) -> None:
    vss.start_peer(0)
    # the router re-probes a peer it saw die within its probe interval; wait for it to be live again
    with Router(vss.router_url) as router:
        assert h.wait_until(lambda: router.health().available_peers == 1, 10)


def _assert_only_complete_balls(vss: LocalVSS, bucket: str, ball_id: str, h: Any) -> None:
    with Peer(vss.peer_urls[0]) as peer:
        listed = peer.get_bucket_metadata(bucket).balls
        grouped = peer.get_by_ball_id(bucket, ball_id).balls
        assert {b.key for b in grouped} <= {b.key for b in listed}
        for meta in listed:
            data = peer.get(bucket, meta.key)
            assert len(data) == meta.size and h.sha(data) == meta.checksum, f"partial ball {meta.key} listed"
    assert _tmp_parts(vss) == []
    assert h.stray_files(vss.data_dirs[0]) == []


def test_kill_peer_mid_upload_raw(vss_factory: Any, h: Any) -> None:
    vss = vss_factory(peers=1, rf=1)
    bucket, key = h.unique("tw"), "big_0"
    size = 8_000_000
    payload = os.urandom(size)
    checksum = hashlib.sha256(payload).hexdigest()
    with Router(vss.router_url) as router:
        reply = router.put_metadata(bucket, key, size, checksum, "faults", ball_id="big",
                                    tags={"index": "0", "num_chunks": "1", "full_checksum": checksum})
    task_id = reply.tasks_ids[0]
    sock = socket.create_connection(("127.0.0.1", vss.router_port), timeout=10)
    try:
        sock.sendall((f"POST /api/v4/buckets/data/{task_id}/chunked HTTP/1.1\r\nHost: x\r\n"
                      f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n").encode())
        sock.sendall(payload[:3_000_000])
        # the peer is now streaming the body into tmp/: kill it there
        assert h.wait_until(lambda: any(os.path.getsize(p) > 0 for p in _tmp_parts(vss)), 10)
        vss.kill_peer(0)
    finally:
        sock.close()
    _restart_and_wait(vss, h)
    with Peer(vss.peer_urls[0]) as peer:
        assert peer.get_bucket_metadata(bucket).balls == ()
        assert peer.get_by_ball_id(bucket, "big").balls == ()
        with pytest.raises(NotFoundError):
            peer.get_metadata(bucket, key)
        with pytest.raises(NotFoundError):
            peer.get(bucket, key)
    _assert_only_complete_balls(vss, bucket, "big", h)
    with Client(vss.uri, config=_config()) as client:
        assert not client.exists(bucket, "big")
        assert client.get_bucket_metadata(bucket) == []
        client.put(bucket, "big", payload, chunk_size=size)
        assert client.get(bucket, "big", use_cache=False).content == payload


def test_kill_peer_mid_client_put(vss_factory: Any, h: Any) -> None:
    vss = vss_factory(peers=1, rf=1)
    bucket = h.unique("tw")
    payload = os.urandom(24_000_000)  # 24 chunks of 1 MB
    killed = threading.Event()
    errors: List[BaseException] = []

    def progress(current: int, total: int) -> None:
        if current >= 0.3 * total and not killed.is_set():
            killed.set()
            vss.kill_peer(0)

    with Client(vss.uri, config=_config()) as client:
        started = time.monotonic()
        try:
            client.put(bucket, "big", payload, progress=progress)
        except MictlanXError as exc:
            errors.append(exc)
        assert killed.is_set()
        assert errors, "the put succeeded although its only peer was killed at 30%"
        assert time.monotonic() - started < 30
        _restart_and_wait(vss, h)
        _assert_only_complete_balls(vss, bucket, "big", h)
        # the router's /chunks lists only committed chunks, each one verifiable
        try:
            listing = client.get_by_ball_id(bucket, "big")
        except NotFoundError:
            listing = None
        if listing is not None:
            for meta in listing.chunks:
                index = int(meta.tags["index"])
                assert meta.checksum == h.sha(payload[index * 1_000_000:(index + 1) * 1_000_000])
        assert [o.key for o in client.get_bucket_metadata(bucket)] == []
        result = client.put(bucket, "big", payload)
        assert result.checksum == h.sha(payload) and result.num_chunks == 24
        assert client.get(bucket, "big", use_cache=False).content == payload
