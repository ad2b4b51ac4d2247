"""Explicit Client arguments win over ``config=`` (issue 12 item 6); the default cache is small (item 7)."""

from __future__ import annotations

import attrs

from mictlanx_sync import Client
from mictlanx_sync.config import ClientConfig, TransferConfig

URI = "mictlanx://r@127.0.0.1:9/?protocol=http"


def test_explicit_arguments_override_config() -> None:
    config = ClientConfig(transfer=TransferConfig(chunk_size=1_000_000, max_workers=8), verify=True)
    with Client(URI, config=config, chunk_size="256KiB", max_workers=2, verify=False) as client:
        assert client.config.transfer.chunk_size == 256 * 1024
        assert client.config.transfer.max_workers == 2
        assert client.config.verify is False
        assert client._core.executor._max_workers == 2  # noqa: SLF001 - the pool really has 2 threads


def test_config_values_kept_when_arguments_are_not_given() -> None:
    config = ClientConfig(transfer=TransferConfig(chunk_size=300_000, max_workers=3, window=5),
                          verify="/tmp/ca.pem", router_cooldown=1.0)
    with Client(URI, config=config) as client:
        assert client.config == config


def test_only_the_given_argument_overrides() -> None:
    config = ClientConfig(transfer=TransferConfig(chunk_size=300_000, max_workers=3))
    with Client(URI, config=config, max_workers=5) as client:
        assert client.config == attrs.evolve(config, transfer=attrs.evolve(config.transfer, max_workers=5))


def test_defaults_without_config() -> None:
    with Client(URI) as client:
        assert client.config == ClientConfig()


def test_default_cache_is_small_enough_for_a_process_per_worker() -> None:
    with Client(URI) as client:
        assert client.cache.capacity == 64_000_000
    with Client(URI, capacity_storage=0) as client:
        assert client.cache.capacity == 0
