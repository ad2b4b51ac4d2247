"""``debug=True`` logs retries, failovers, replica fallbacks and cache hits at DEBUG (issue 12,
item 10), on stderr through the client's console handler."""

from __future__ import annotations

from typing import Any

import pytest

from mictlanx_sync import Client
from mictlanx_sync.config import ClientConfig, RetryConfig
from mictlanx_sync.errors import IntegrityError, NetworkError

DEAD = "127.0.0.1:9"  # nothing listens on the discard port


def _debug_lines(err: str) -> str:
    return "\n".join(line for line in err.splitlines() if " DEBUG " in line)


def test_cache_hits_are_debug_records(vss_factory: Any, h: Any, capsys: Any) -> None:
    vss = vss_factory(peers=1)
    bucket = h.unique("dbg")
    with Client(vss.uri, debug=True) as client:
        client.put(bucket, "k", b"cached bytes")
        client.get(bucket, "k")
        capsys.readouterr()
        assert client.get(bucket, "k").content == b"cached bytes"
    assert f"cache hit {bucket}@k (12 bytes)" in _debug_lines(capsys.readouterr().err)


def test_failovers_and_retries_are_debug_records(vss_factory: Any, h: Any, capsys: Any) -> None:
    vss = vss_factory(peers=1)
    bucket = h.unique("dbg")
    config = ClientConfig(retry=RetryConfig(total=0, backoff_factor=0.01, chunk_attempts=2))
    with Client(h.uri_of(DEAD, h.hostport(vss.router_url)), debug=True, config=config) as client:
        for i in range(2):  # round-robin: one of the two puts starts on the dead router
            client.put(bucket, f"k{i}", b"x")
    debug = _debug_lines(capsys.readouterr().err)
    assert f"router http://{DEAD} failed, failing over to the next one" in debug
    with Client(h.uri_of(DEAD), debug=True, config=config) as client:
        with pytest.raises(NetworkError):
            client.get(bucket, "k0")
    assert "attempt 1 of 2 failed" in _debug_lines(capsys.readouterr().err)


def test_replica_fallbacks_are_debug_records(vss_factory: Any, h: Any, capsys: Any) -> None:
    vss = vss_factory(peers=2, fsync=False)
    bucket = h.unique("dbg")
    with Client(vss.uri, debug=True, capacity_storage=0) as client:
        client.put(bucket, "k", b"y" * 5000, rf=2)
        for data_dir in vss.data_dirs:  # every replica bad: each one is tried, and logged
            h.flip_byte(h.object_file(data_dir, bucket, "k_0"), 10)
        capsys.readouterr()
        with pytest.raises(IntegrityError):
            client.get_chunk(bucket, "k", 0)
    debug = _debug_lines(capsys.readouterr().err)
    assert "chunk 0 (" in debug and "reading the replica on mictlanx-peer-" in debug
