"""Docstring examples that need a running VSS."""

from __future__ import annotations

import doctest

import mictlanx_sync.client


def test_client_docstring_example_runs(vss):
    result = doctest.testmod(mictlanx_sync.client, globs={**vars(mictlanx_sync.client), "uri": vss.uri})
    assert result.attempted >= 1 and result.failed == 0
