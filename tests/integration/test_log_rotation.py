"""Time-based log rotation (``log_when``/``log_interval``, as the reference client) through
concurrent-log-handler, passed through ``Client``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from concurrent_log_handler import ConcurrentRotatingFileHandler, ConcurrentTimedRotatingFileHandler

from mictlanx_sync import Client, InvalidArgumentError
from mictlanx_sync.vss import LocalVSS


def file_handler(client: Client) -> object:
    return next(h for h in client._core.log.handlers if h.get_name() == "mictlanx-file")


def test_client_rotates_its_log_by_time(vss: LocalVSS, bucket: str, tmp_path: Path) -> None:
    with Client(vss.uri, client_id="timed-1", log_output_path=str(tmp_path), log_when="m",
                log_interval=30) as client:
        handler = file_handler(client)
        assert isinstance(handler, ConcurrentTimedRotatingFileHandler)
        assert handler.when == "M" and handler.interval == 30 * 60  # seconds, as logging computes it
        client.put(bucket, "k", b"hello")
        handler.doRollover()  # what the clock would trigger after 30 minutes
        client.get(bucket, "k")
    names = sorted(os.listdir(tmp_path))
    assert "timed-1.log" in names and any(n.startswith("timed-1.log.") for n in names), names
    rotated = next(n for n in names if n.startswith("timed-1.log.") and not n.endswith(".lock"))
    assert "event=put" in (tmp_path / rotated).read_text()
    assert "event=get" in (tmp_path / "timed-1.log").read_text()


def test_size_rotation_stays_the_default(vss: LocalVSS, tmp_path: Path) -> None:
    with Client(vss.uri, client_id="sized-1", log_output_path=str(tmp_path)) as client:
        handler = file_handler(client)
        assert isinstance(handler, ConcurrentRotatingFileHandler)
        assert not isinstance(handler, ConcurrentTimedRotatingFileHandler)


@pytest.mark.parametrize("when, interval, message", [
    ("fortnight", 1, "log_when must be one of"),
    ("W7", 1, "log_when must be one of"),
    ("H", 0, "log_interval must be a positive integer"),
    ("H", "2", "log_interval must be a positive integer"),
])
def test_bad_rotation_options(vss: LocalVSS, tmp_path: Path, when: str, interval: int, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        Client(vss.uri, log_output_path=str(tmp_path), log_when=when, log_interval=interval)
