"""Test-wide settings.

Hypothesis runs derandomized (a fixed sequence of examples per test, no example database) so that
`make test` gives the same verdict on every run; explore with other seeds locally with
``pytest --hypothesis-seed=random`` (or ``HYPOTHESIS_PROFILE=explore``).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``local_vss`` marker."""
    config.addinivalue_line("markers", "local_vss: needs the local VSS the tests start (processes, data dirs, "
                                       "VSS-only behaviour); skipped when MICTLANX_TEST_URI names another router")


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:  # type: ignore[type-arg]
    """With ``MICTLANX_TEST_URI`` set, skip what needs local processes: ``local_vss`` tests and the
    fault suite (which kills, proxies and corrupts the VSS it starts)."""
    uri = os.environ.get("MICTLANX_TEST_URI", "").strip()
    if not uri:
        return
    skip = pytest.mark.skip(reason=f"needs a local VSS; MICTLANX_TEST_URI={uri} names an external router")
    for item in items:
        if item.get_closest_marker("local_vss") is not None or "faults" in item.path.parts:
            item.add_marker(skip)
