"""Scenario 5: a slow and flaky network between client and router (mictlanx_sync/_netproxy.py).

For each fault the client (timeouts connect=1 s, read=2 s) runs a 10-chunk ``put`` and a
10-chunk ``get_to_file`` through the proxy. Each transfer either succeeds and verifies or raises
a typed ``MictlanXError`` within a bound derived from the timeouts and retry counts; it never
hangs (pytest-timeout) and never leaves a ``.part`` file in the output directory. Afterwards the
peers' ``tmp/`` directories drain (no torn upload left behind on the server either).
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterator, Optional

import pytest

from mictlanx_sync import IntegrityError, MictlanXError, NetworkError, TransferError
from mictlanx_sync.client import Client
from mictlanx_sync.config import ClientConfig, RetryConfig, Timeouts, TransferConfig
from mictlanx_sync.vss import LocalVSS, serve

pytestmark = pytest.mark.timeout(90)

CHUNK = 64_000
SIZE = 10 * CHUNK - 5
CONNECT, READ = 1.0, 2.0
ATTEMPTS = 2
# worst case per chunk: every attempt waits a full read timeout (urllib3 adds one retry for GETs)
BOUND = 4 * ATTEMPTS * (CONNECT + READ) + 10


@pytest.fixture(scope="module")
def net_vss() -> Iterator[LocalVSS]:
    with serve(peers=2, fsync=False) as vss:
        yield vss


@pytest.fixture(scope="module")
def stored(net_vss: LocalVSS, h: Any) -> Any:
    """An object written without the proxy, to be read through it."""
    bucket = h.unique("nf")
    payload = os.urandom(SIZE)
    with Client(net_vss.uri, chunk_size=CHUNK) as client:
        client.put(bucket, "src", payload)
    return bucket, payload


def _config() -> ClientConfig:
    return ClientConfig(timeouts=Timeouts(connect=CONNECT, read=READ),
                        retry=RetryConfig(total=1, chunk_attempts=ATTEMPTS, backoff_factor=0.05,
                                          backoff_jitter=0.05),
                        transfer=TransferConfig(chunk_size=CHUNK, max_workers=4), router_cooldown=0.1)


def every(n: int, fault: Any, first: int = 0) -> Callable[[int], Optional[Any]]:
    return lambda index: fault if index >= first and index % n == 0 else None


def _faults(pm: Any) -> dict:
    F = pm.Fault
    return {
        "delay": lambda i: F("delay", delay=0.005),
        "drop-down-every-2nd": every(2, F("drop_after", after=20_000, direction="down")),
        "reset-down-every-3rd": every(3, F("reset_after", after=30_000, direction="down")),
        "drop-up-every-2nd": every(2, F("drop_after", after=25_000, direction="up")),
        "reset-up-every-3rd": every(3, F("reset_after", after=40_000, direction="up")),
        "stall-down-every-4th": every(4, F("stall_after", after=10_000, direction="down")),
        "reset-all-immediately": lambda i: F("reset_after", after=0, direction="up"),
        "drop-all-mid-body": lambda i: F("drop_after", after=300, direction="down"),
        "stall-all": lambda i: F("stall_after", after=0, direction="down"),
    }


ALWAYS_FAIL = {"reset-all-immediately", "drop-all-mid-body", "stall-all"}


@pytest.mark.parametrize("name", list(_faults(type("x", (), {"Fault": lambda *a, **k: None}))))
def test_transfers_survive_or_fail_typed(name: str, net_vss: LocalVSS, stored: Any, proxy_factory: Any,
                                         workdir: str, h: Any) -> None:
    bucket, payload = stored
    policy = _faults(h.proxy_module)[name]
    proxy = proxy_factory(net_vss.router_port, policy)
    outcomes = {}
    upload = os.urandom(SIZE)
    with Client(h.uri_of(proxy.address), config=_config(), capacity_storage="0") as client:
        for op in ("put", "get_to_file", "get"):
            started = time.monotonic()
            try:
                if op == "put":
                    result = client.put(bucket, f"up-{name}", upload)
                    assert result.checksum == h.sha(upload)
                elif op == "get_to_file":
                    path = client.get_to_file(bucket, "src", os.path.join(workdir, "src.bin"))
                    with open(path, "rb") as handle:
                        assert handle.read() == payload
                else:
                    assert client.get(bucket, "src", use_cache=False).content == payload
                outcomes[op] = "ok"
            except MictlanXError as exc:
                outcomes[op] = type(exc).__name__
                if name in ALWAYS_FAIL:  # the root cause is the network (or a short body), typed
                    root = exc.cause if isinstance(exc, TransferError) else exc
                    assert isinstance(root, (NetworkError, IntegrityError)), repr(exc)
            elapsed = time.monotonic() - started
            assert elapsed < BOUND, f"{op} under {name} took {elapsed:.1f}s (bound {BOUND}s)"
            assert h.part_files(workdir) == [], f"{op} under {name} left a partial file"
    if name in ALWAYS_FAIL:
        assert set(outcomes.values()) != {"ok"}, outcomes
    if name == "delay":
        assert set(outcomes.values()) == {"ok"}, outcomes
    # whatever went wrong on the wire, the object either reads back whole or is absent/incomplete
    with Client(net_vss.uri, chunk_size=CHUNK, capacity_storage="0") as direct:
        if outcomes["put"] == "ok":
            assert direct.get(bucket, f"up-{name}", use_cache=False).content == upload
    # and no torn upload stays in a peer's tmp/
    proxy.close()

    def tmp_empty() -> bool:
        return all(not os.listdir(os.path.join(d, "tmp")) for d in net_vss.data_dirs)

    assert h.wait_until(tmp_empty, 15), [os.listdir(os.path.join(d, "tmp")) for d in net_vss.data_dirs]
    print(name, outcomes)
