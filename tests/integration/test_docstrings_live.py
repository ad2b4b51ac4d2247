"""Docstring examples that need a running VSS."""

from __future__ import annotations

import doctest

import mictlanx_sync.client


def test_client_docstring_example_runs(vss):
    result = doctest.testmod(mictlanx_sync.client, globs={**vars(mictlanx_sync.client), "uri": vss.uri})
    assert result.attempted >= 1 and result.failed == 0


def test_fs_docstring_example_runs(vss):
    import mictlanx_sync.fs

    result = doctest.testmod(mictlanx_sync.fs, globs={**vars(mictlanx_sync.fs), "uri": vss.uri})
    assert result.attempted >= 1 and result.failed == 0
