"""log.reaches_a_handler: skip building a record exactly when logging would drop it."""

from __future__ import annotations

import logging
from typing import List

import pytest

from mictlanx_sync.log import reaches_a_handler


class _Keep(logging.Handler):
    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def tree() -> logging.Logger:
    """A child under a parent holding only a NullHandler, outside the logging manager's tree
    (so no test plugin attaches handlers to it)."""
    parent = logging.Logger("reach")
    parent.propagate = False
    parent.addHandler(logging.NullHandler())
    child = logging.Logger("reach.child", logging.INFO)
    child.parent = parent
    return child


def test_null_handler_only_reaches_nothing(tree: logging.Logger) -> None:
    assert not reaches_a_handler(tree, logging.INFO)
    assert not reaches_a_handler(tree, logging.WARNING)  # found a handler: no last resort either


def test_a_handler_that_takes_the_level(tree: logging.Logger) -> None:
    keep = _Keep(logging.WARNING)
    tree.parent.addHandler(keep)  # type: ignore[union-attr]
    assert not reaches_a_handler(tree, logging.INFO)
    assert reaches_a_handler(tree, logging.WARNING)
    tree.warning("x")
    assert len(keep.records) == 1


def test_below_the_logger_level(tree: logging.Logger) -> None:
    tree.addHandler(_Keep())
    assert not reaches_a_handler(tree, logging.DEBUG)
    assert reaches_a_handler(tree, logging.INFO)


def test_a_filter_on_the_logger_always_runs(tree: logging.Logger) -> None:
    tree.addFilter(lambda record: True)
    assert reaches_a_handler(tree, logging.INFO)


def test_last_resort_when_no_handler_anywhere() -> None:
    lone = logging.Logger("reach.lone", logging.INFO)
    assert not reaches_a_handler(lone, logging.INFO)  # the last resort takes WARNING and above
    assert reaches_a_handler(lone, logging.WARNING)
