"""Constructor and config arguments are checked up front, with typed errors."""

from __future__ import annotations

import math
from typing import Any

import pytest

from mictlanx_sync import Client
from mictlanx_sync.config import RetryConfig, Timeouts
from mictlanx_sync.errors import InvalidArgumentError

URI = "mictlanx://r@127.0.0.1:9/?protocol=http"


@pytest.mark.parametrize("kwargs", [
    {"max_workers": 0}, {"max_workers": 1.5}, {"max_workers": True}, {"max_workers": "4"},
    {"eviction_policy": "FIFO"}, {"eviction_policy": None}, {"capacity_storage": -1},
])
def test_bad_client_arguments_are_invalid_argument_errors(kwargs: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        Client(URI, **kwargs)


@pytest.mark.parametrize("make", [
    lambda: Timeouts(connect=math.inf), lambda: Timeouts(read=0), lambda: Timeouts(read="5"),  # type: ignore[arg-type]
    lambda: RetryConfig(chunk_attempts=1.5), lambda: RetryConfig(chunk_attempts=0),  # type: ignore[arg-type]
])
def test_bad_config_values_are_invalid_argument_errors(make: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        make()


def test_good_arguments_still_work() -> None:
    with Client(URI, max_workers=3, eviction_policy="lfu", capacity_storage="10MB") as c:
        assert c.config.transfer.max_workers == 3
