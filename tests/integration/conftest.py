"""Integration fixtures: one real local VSS (router + 2 peers on 127.0.0.1) per test session."""

from __future__ import annotations

import uuid
from typing import Callable, Iterator

import pytest

from mictlanx_sync.vss import LocalVSS, serve


@pytest.fixture(scope="session")
def vss() -> Iterator[LocalVSS]:
    """A router and two peers in their own processes, on free ports, with a temp data dir."""
    with serve(peers=2) as running:
        yield running


def unique_bucket(prefix: str = "b") -> str:
    """A bucket name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def new_bucket() -> Callable[[], str]:
    """A function returning a fresh, unique bucket name on each call."""
    return unique_bucket


@pytest.fixture
def bucket() -> str:
    """A fresh, unique bucket name."""
    return unique_bucket()
