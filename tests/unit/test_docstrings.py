"""Every docstring example in the package runs (DESIGN §3.13); the Client's needs a VSS and runs in
tests/integration/test_docstrings_live.py."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import mictlanx_sync

LIVE = {"mictlanx_sync.client", "mictlanx_sync.fs"}
MODULES = sorted(m.name for m in pkgutil.walk_packages(mictlanx_sync.__path__, "mictlanx_sync.")
                 if m.name not in LIVE and not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
