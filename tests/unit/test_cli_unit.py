"""The command line without a server: option parsing, exit codes and error lines."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from mictlanx_sync import cli, errors


def test_global_defaults_are_applied_once() -> None:
    args = cli.parse_args(["ls", "b"])
    assert (args.uri, args.chunk_size, args.workers, args.rf) == (None, "1MB", 8, 1)
    assert (args.tag, args.progress, args.json, args.verbose) == ([], None, False, False)
    assert not hasattr(args, "tag_after_command")


@pytest.mark.parametrize("argv", [
    ["--uri", "mictlanx://r@h:1", "--json", "--workers", "3", "--rf", "2", "--chunk-size", "256kb",
     "put", "b", "k", "f"],
    ["put", "b", "k", "f", "--uri", "mictlanx://r@h:1", "--json", "--workers", "3", "--rf", "2",
     "--chunk-size", "256kb"],
    ["--uri", "mictlanx://r@h:1", "--workers", "3", "put", "--json", "b", "k", "--rf", "2", "f",
     "--chunk-size", "256kb"],
])
def test_global_options_before_or_after_the_command(argv: Any) -> None:
    args = cli.parse_args(argv)
    assert args.command == "put" and (args.bucket, args.key, args.path) == ("b", "k", "f")
    assert (args.uri, args.json, args.workers, args.rf, args.chunk_size) == ("mictlanx://r@h:1", True, 3, 2, 256_000)


def test_an_option_after_the_command_wins_and_tags_merge() -> None:
    args = cli.parse_args(["--workers", "2", "--tag", "a=1", "--no-progress", "put", "b", "k", "f",
                           "--workers", "5", "--tag", "b=2", "--progress", "-v"])
    assert args.workers == 5 and args.progress is True and args.verbose is True
    assert args.tag == ["a=1", "b=2"]


@pytest.mark.parametrize("argv", [
    ["ls"], ["nope"], ["ls", "b", "--workers", "0"], ["ls", "b", "--rf", "x"], ["ls", "b", "--chunk-size", "0"],
    ["put", "b", "k", "f", "--tag", "=v"], ["bench", "--sizes", ""], ["bench", "--bench-workers", "0"],
    ["vss", "up", "--peers", "0"], ["vss", "up", "--rf", "-1"], ["vss", "up", "--port", "-5"],
    ["vss", "peer", "--port", "x", "--data-dir", "d"], ["vss", "router", "--port", "1", "--threads", "0"],
])
def test_usage_errors_return_2(argv: Any, capsys: Any) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "usage:" in err and "Traceback" not in err


def test_help_and_version_return_0(capsys: Any) -> None:
    assert cli.main(["--help"]) == 0
    assert "exit codes" in capsys.readouterr().out
    assert cli.main(["put", "--help"]) == 0
    assert "--uri" in capsys.readouterr().out  # global options are listed under each command too
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("mictlanx-sync ")


def test_each_error_class_has_its_own_exit_code() -> None:
    expected = {
        errors.MictlanXError: 1, errors.InvalidArgumentError: 2, errors.InvalidURIError: 3,
        errors.NotFoundError: 4, errors.AlreadyExistsError: 5, errors.MaxAvailabilityReachedError: 6,
        errors.NetworkError: 7, errors.ConnectFailedError: 8, errors.RequestTimeoutError: 9,
        errors.ServerError: 10, errors.ForbiddenError: 11, errors.BadRequestError: 12,
        errors.IntegrityError: 13, errors.TransferError: 14,
    }
    for cls, code in expected.items():
        assert cli.exit_code_for(cls("x")) == code, cls
    assert cli.exit_code_for(RuntimeError("x")) == 1
    assert cli.exit_code_for(KeyboardInterrupt()) == 1 and cli.EXIT_INTERRUPTED == 130


def test_error_line_names_bucket_and_key() -> None:
    args = argparse.Namespace(bucket="b", key="k")
    line = cli._error_line(errors.NotFoundError("object b@k not found", bucket_id="b", key="k"), args)
    assert line == "mictlanx-sync: not found: b/k: object b@k not found"
    assert cli._error_line(errors.NotFoundError("gone"), args) == "mictlanx-sync: not found: b/k: gone"
    line = cli._error_line(errors.ServerError("boom\nsecond line", bucket_id="b", status=500), args)
    assert line == "mictlanx-sync: server error: b: boom second line (HTTP 500)"
    exc = errors.TransferError("get failed", failed_indices=[3, 5], cause=errors.NetworkError("reset"),
                               bucket_id="b", key="k")
    assert cli._error_line(exc, args) == (
        "mictlanx-sync: transfer failed: b/k: get failed; failed chunks [3, 5]; first cause: NetworkError: reset")


@pytest.mark.parametrize("exc, code, label", [
    (errors.RequestTimeoutError("slow", bucket_id="b"), 9, "timeout"),
    (PermissionError(13, "Permission denied"), 1, "error"),
    (RuntimeError("unexpected"), 1, "error"),
    (KeyboardInterrupt(), 130, "interrupted"),
])
def test_main_turns_every_exception_into_one_line(exc: BaseException, code: int, label: str,
                                                  capsys: Any, monkeypatch: Any) -> None:
    def boom(args: argparse.Namespace) -> int:
        raise exc

    monkeypatch.setattr(cli, "_cmd_ls", boom)
    assert cli.main(["ls", "b"]) == code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"mictlanx-sync: {label}")
    assert cli.main(["ls", "b", "--verbose"]) == code
    assert "Traceback" in capsys.readouterr().err


def test_format_time_accepts_s_ms_us_ns() -> None:
    for stamp in (1_700_000_000, 1_700_000_000_000, 1_700_000_000_000_000, 1_700_000_000_000_000_000):
        assert cli._format_time(stamp) == "2023-11-14T22:13:20Z"
    assert cli._format_time(0) == "-"
