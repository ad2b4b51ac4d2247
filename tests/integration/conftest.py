"""Integration fixtures: one real local VSS (router + 2 peers on 127.0.0.1) per test session.

With ``MICTLANX_TEST_URI`` set (``make test`` against any router, e.g. a real MictlanX
deployment), ``vss`` is that router instead: ``vss.uri`` and ``vss.router_url`` point at it, and a
test that reaches for anything local (peer URLs, data dirs, killing processes) is skipped with a
reason. Tests marked ``local_vss`` are skipped up front (``tests/conftest.py``). Buckets made by
:func:`unique_bucket` (and the ``bucket``/``new_bucket`` fixtures) share one prefix per run and are
deleted at the end of the session.
"""

from __future__ import annotations

import os
import uuid
from typing import Any, Callable, Iterator, List, Union
from urllib.parse import urlsplit

import pytest

from mictlanx_sync.uri import MictlanXURI
from mictlanx_sync.vss import LocalVSS, serve

TEST_URI_ENV = "MICTLANX_TEST_URI"
RUN_ID = uuid.uuid4().hex[:8]
CREATED_BUCKETS: List[str] = []


class ExternalRouter:
    """A router named by ``MICTLANX_TEST_URI``: only ``uri`` and ``router_url`` are there; any
    other attribute of a :class:`LocalVSS` skips the test (it needs local processes)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        parsed = MictlanXURI.parse(uri)
        self.router_url = parsed.router_urls()[0]
        self.host = urlsplit(self.router_url).hostname or ""

    def __getattr__(self, name: str) -> Any:
        pytest.skip(f"needs a local VSS (LocalVSS.{name}); {TEST_URI_ENV} names an external router")


def external_uri() -> str:
    """The external router's URI, or "" when the tests start their own VSS."""
    return os.environ.get(TEST_URI_ENV, "").strip()


@pytest.fixture(scope="session")
def vss() -> Iterator[Union[LocalVSS, ExternalRouter]]:
    """A router and two peers in their own processes, on free ports, with a temp data dir (or the
    external router of ``MICTLANX_TEST_URI``)."""
    uri = external_uri()
    if uri:
        yield ExternalRouter(uri)
        return
    with serve(peers=2) as running:
        yield running


@pytest.fixture(scope="session", autouse=True)
def _delete_created_buckets() -> Iterator[List[str]]:
    """Against an external router, delete every bucket this run made (local VSS data dirs are
    temporary anyway)."""
    yield CREATED_BUCKETS
    uri = external_uri()
    if not uri or not CREATED_BUCKETS:
        return
    from mictlanx_sync import Client

    with Client(uri) as client:
        for name in dict.fromkeys(CREATED_BUCKETS):
            try:
                client.delete_bucket(name)
            except Exception:  # noqa: BLE001 - best-effort cleanup must not fail the run
                pass


def unique_bucket(prefix: str = "b") -> str:
    """A bucket name no other test uses (one prefix per run; deleted after an external run)."""
    name = f"{prefix}-{RUN_ID}-{uuid.uuid4().hex[:8]}"
    CREATED_BUCKETS.append(name)
    return name


@pytest.fixture
def new_bucket() -> Callable[[], str]:
    """A function returning a fresh, unique bucket name on each call."""
    return unique_bucket


@pytest.fixture
def bucket() -> str:
    """A fresh, unique bucket name."""
    return unique_bucket()
