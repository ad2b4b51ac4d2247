"""The ``mictlanx-sync`` command line against the local VSS: every subcommand, files and binary
pipes, ``--json`` output, and the exit code and stderr line of each error class."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any, List, Tuple

import pytest

from mictlanx_sync import cli
from mictlanx_sync.__version__ import __version__
from mictlanx_sync._get import Downloader
from mictlanx_sync.cli import main
from mictlanx_sync.client import Client

UNREACHABLE = "mictlanx://127.0.0.1:9/?protocol=http"


def run(capsys: Any, *argv: Any) -> Tuple[int, str, str]:
    """``main(argv)`` in process; returns (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: Any, *argv: Any) -> Any:
    """``main([..., "--json"])`` that must succeed; returns the parsed stdout."""
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def proc(*argv: str, data: bytes = b"", env: Any = None) -> subprocess.CompletedProcess[bytes]:
    """``python -m mictlanx_sync ARGV`` in a real process (binary stdin/stdout)."""
    return subprocess.run([sys.executable, "-m", "mictlanx_sync", *argv], input=data, capture_output=True,
                          timeout=60, env=env, check=False)


def one_error_line(err: str) -> str:
    """The stderr of a failed command: exactly one line, no traceback; returns it."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("mictlanx-sync: ")
    return lines[0]


def write(path: Any, data: bytes) -> str:
    with open(path, "wb") as handle:
        handle.write(data)
    return str(path)


def read(path: Any) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


# ---------------------------------------------------------------------------------- --version/help
def test_version_in_process(capsys: Any) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"mictlanx-sync {__version__}"


def test_version_via_python_dash_m() -> None:
    result = proc("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == f"mictlanx-sync {__version__}"


def test_help_lists_every_command(capsys: Any) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for name in ("put", "get", "ls", "stat", "rm", "tag", "peers", "vss", "bench"):
        assert name in out


def test_usage_errors_exit_2(capsys: Any) -> None:
    assert run(capsys, "put", "only-bucket")[0] == 2
    assert run(capsys, "no-such-command")[0] == 2
    assert run(capsys, "ls", "b", "--workers", "0")[0] == 2
    assert run(capsys, "ls", "b", "--chunk-size", "lots")[0] == 2
    assert run(capsys, "put", "b", "k", "f", "--tag", "novalue")[0] == 2


# ------------------------------------------------------------------------------------- round trips
def test_put_get_files_with_options_after_the_command(vss: Any, bucket: str, tmp_path: Any,
                                                      capsys: Any) -> None:
    data = os.urandom(300_000)
    src = write(tmp_path / "photo.jpg", data)
    put = run_json(capsys, "put", bucket, "photo", src, "--uri", vss.uri, "--chunk-size", "64kb",
                   "--workers", "4", "--tag", "album=trip", "--no-progress")
    assert put["bucket_id"] == bucket and put["key"] == "photo"
    assert put["size"] == len(data) and put["num_chunks"] == 5 and len(put["checksum"]) == 64

    # -o FILE
    out_file = tmp_path / "copy.bin"
    got = run_json(capsys, "--uri", vss.uri, "get", bucket, "photo", "-o", out_file)
    assert got["path"] == str(out_file) and got["size"] == len(data)
    assert read(out_file) == data

    # -o DIR: named after the fullname tag put_file wrote
    out_dir = tmp_path / "downloads"
    out_dir.mkdir()
    code, out, err = run(capsys, "get", bucket, "photo", "-o", out_dir, "--uri", vss.uri)
    assert code == 0, err
    assert read(out_dir / "photo.jpg") == data
    assert str(out_dir / "photo.jpg") in out
    assert sorted(os.listdir(out_dir)) == ["photo.jpg"]  # no temp file left behind


def test_get_without_output_writes_to_the_current_directory(vss: Any, bucket: str, tmp_path: Any,
                                                            capsys: Any, monkeypatch: Any) -> None:
    data = os.urandom(10_000)
    monkeypatch.setenv("MICTLANX_URI", vss.uri)  # no --uri: the environment decides
    assert run(capsys, "put", bucket, "notes", write(tmp_path / "notes.txt", data))[0] == 0
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    code, _, err = run(capsys, "get", bucket, "notes")
    assert code == 0, err
    assert read(work / "notes.txt") == data


def test_put_stdin_get_stdout_in_process(vss: Any, bucket: str, capsysbinary: Any, monkeypatch: Any) -> None:
    data = os.urandom(200_000) + b"\x00\r\n\xff" * 10
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["--uri", vss.uri, "--chunk-size", "50kb", "put", bucket, "blob", "-"]) == 0
    capsysbinary.readouterr()
    assert main(["get", bucket, "blob", "-o", "-", "--uri", vss.uri]) == 0
    out, err = capsysbinary.readouterr()
    assert out == data and err == b""


def test_binary_pipes_through_real_processes(vss: Any, bucket: str) -> None:
    data = os.urandom(3_000_000)
    put = proc("put", bucket, "pipe", "-", "--uri", vss.uri, "--chunk-size", "256kb", "--json", data=data)
    assert put.returncode == 0, put.stderr
    info = json.loads(put.stdout)
    assert info["size"] == len(data) and info["num_chunks"] == 12

    got = proc("--uri", vss.uri, "get", bucket, "pipe", "-o", "-")
    assert got.returncode == 0, got.stderr
    assert got.stdout == data and got.stderr == b""

    # get | put through an OS pipe (a non-seekable stdin), then compare the copy
    base = [sys.executable, "-m", "mictlanx_sync", "--uri", vss.uri, "--chunk-size", "256kb"]
    with subprocess.Popen([*base, "get", bucket, "pipe", "-o", "-"], stdout=subprocess.PIPE) as source:
        copy = subprocess.run([*base, "put", bucket, "pipe-copy", "-"], stdin=source.stdout,
                              capture_output=True, timeout=60, check=False)
        assert source.stdout is not None
        source.stdout.close()
        assert source.wait(timeout=60) == 0
    assert copy.returncode == 0, copy.stderr
    again = proc("get", bucket, "pipe-copy", "-o", "-", "--uri", vss.uri)
    assert again.returncode == 0 and again.stdout == data


def test_stdout_closed_early_is_quiet(vss: Any, bucket: str) -> None:
    data = os.urandom(2_000_000)
    assert proc("put", bucket, "big", "-", "--uri", vss.uri, data=data).returncode == 0
    base = [sys.executable, "-m", "mictlanx_sync", "--uri", vss.uri, "--chunk-size", "100kb"]
    with subprocess.Popen([*base, "get", bucket, "big", "-o", "-"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as reader:
        assert reader.stdout is not None and reader.stderr is not None
        head = reader.stdout.read(10)
        reader.stdout.close()  # like `| head -c 10`
        err = reader.stderr.read()
        code = reader.wait(timeout=60)
    assert head == data[:10]
    assert code == 0 and b"Traceback" not in err and b"Exception ignored" not in err, err


# ------------------------------------------------------------------------------- ls, stat and tag
def test_ls_json_and_text(vss: Any, bucket: str, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(os.urandom(150_000))))
    assert run(capsys, "--uri", vss.uri, "--chunk-size", "64kb", "put", bucket, "alpha", "-")[0] == 0
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"tiny")))
    assert run(capsys, "--uri", vss.uri, "put", bucket, "beta", "-")[0] == 0

    listing = run_json(capsys, "ls", bucket, "--uri", vss.uri)
    assert isinstance(listing, list)
    by_key = {o["key"]: o for o in listing}
    assert set(by_key) == {"alpha", "beta"}
    assert by_key["alpha"]["size"] == 150_000 and by_key["alpha"]["num_chunks"] == 3
    assert by_key["beta"]["size"] == 4 and by_key["beta"]["num_chunks"] == 1
    assert by_key["alpha"]["updated_at"] > 0 and len(by_key["alpha"]["checksum"]) == 64

    code, out, _ = run(capsys, "ls", bucket, "--uri", vss.uri)
    assert code == 0
    rows = [line.split("\t") for line in out.strip().splitlines()]
    assert [(r[0], r[1], r[2]) for r in rows] == [("alpha", "150000", "3"), ("beta", "4", "1")]
    assert all(len(r) == 4 and r[3].endswith("Z") for r in rows)

    assert run_json(capsys, "ls", f"{bucket}-empty", "--uri", vss.uri) == []


def test_stat_shows_tags_and_tag_adds_one(vss: Any, bucket: str, tmp_path: Any, capsys: Any) -> None:
    src = write(tmp_path / "report.pdf", os.urandom(5_000))
    code, _, err = run(capsys, "--uri", vss.uri, "--tag", "owner=ana", "put", bucket, "report", src,
                       "--tag", "year=2024")
    assert code == 0, err

    info = run_json(capsys, "stat", bucket, "report", "--uri", vss.uri)
    assert info["bucket_id"] == bucket and info["key"] == "report" and info["size"] == 5_000
    assert info["num_chunks"] == 1 and info["is_disabled"] is False
    assert info["tags"]["owner"] == "ana" and info["tags"]["year"] == "2024"
    assert info["tags"]["fullname"] == "report.pdf"

    code, out, _ = run(capsys, "stat", bucket, "report", "--uri", vss.uri)
    assert code == 0 and "tag owner=ana" in out and "key: report" in out

    tagged = run_json(capsys, "tag", bucket, "report", "status=final", "--uri", vss.uri)
    assert tagged["tags"]["status"] == "final" and tagged["tags"]["owner"] == "ana"
    info = run_json(capsys, "--uri", vss.uri, "stat", bucket, "report")
    assert info["tags"]["status"] == "final" and info["tags"]["year"] == "2024"

    code, out, _ = run(capsys, "tag", bucket, "report", "--tag", "size=big", "--uri", vss.uri)
    assert code == 0 and "size=big" in out and "status=final" in out

    code, _, err = run(capsys, "tag", bucket, "report", "index=3", "--uri", vss.uri)  # reserved name
    assert code == 2 and "index" in one_error_line(err)
    code, _, err = run(capsys, "tag", bucket, "report", "--uri", vss.uri)  # nothing to set
    assert code == 2
    code, _, err = run(capsys, "tag", bucket, "ghost", "a=1", "--uri", vss.uri)
    assert code == 4 and f"{bucket}/ghost" in one_error_line(err)


# ------------------------------------------------------------------------------------------- rm
def test_rm_then_get_is_not_found(vss: Any, bucket: str, tmp_path: Any, capsys: Any) -> None:
    src = write(tmp_path / "a.bin", os.urandom(70_000))
    assert run(capsys, "put", bucket, "gone", src, "--uri", vss.uri, "--chunk-size", "32kb")[0] == 0
    removed = run_json(capsys, "rm", bucket, "gone", "--uri", vss.uri)
    assert removed["bucket_id"] == bucket and removed["key"] == "gone" and removed["n_deletes"] >= 3

    out_file = tmp_path / "out.bin"
    code, out, err = run(capsys, "get", bucket, "gone", "-o", out_file, "--uri", vss.uri)
    assert code == 4 and out == ""
    line = one_error_line(err)
    assert f"{bucket}/gone" in line and "not found" in line
    assert not out_file.exists()

    code, _, err = run(capsys, "rm", bucket, "gone", "--uri", vss.uri)
    assert code == 4 and f"{bucket}/gone" in one_error_line(err)
    code, _, err = run(capsys, "stat", bucket, "gone", "--uri", vss.uri)
    assert code == 4 and f"{bucket}/gone" in one_error_line(err)


def test_rm_ball_id(vss: Any, bucket: str, tmp_path: Any, capsys: Any) -> None:
    src = write(tmp_path / "b.bin", os.urandom(100_000))
    assert run(capsys, "put", bucket, "ball", src, "--uri", vss.uri, "--chunk-size", "40kb")[0] == 0
    removed = run_json(capsys, "rm", "--ball-id", bucket, "ball", "--uri", vss.uri)
    assert removed["n_deletes"] == 3
    assert run(capsys, "get", bucket, "ball", "-o", "-", "--uri", vss.uri)[0] == 4
    assert run_json(capsys, "ls", bucket, "--uri", vss.uri) == []
    code, _, err = run(capsys, "rm", bucket, "ball", "--ball-id", "--uri", vss.uri)
    assert code == 4 and f"{bucket}/ball" in one_error_line(err)


# ---------------------------------------------------------------------------------- peers, bench
def test_peers(vss: Any, capsys: Any) -> None:
    stats = run_json(capsys, "peers", "--uri", vss.uri)
    assert sorted(stats) == sorted(vss.peer_ids) and len(stats) == 2
    for pid, s in stats.items():
        assert s["peer_id"] == pid and s["total_disk"] > 0 and "used_disk" in s

    code, out, _ = run(capsys, "--uri", vss.uri, "peers")
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 2
    assert all(line.split("\t")[0] in vss.peer_ids and "used=" in line for line in lines)


def test_bench_quick(vss: Any, capsys: Any) -> None:
    rows = run_json(capsys, "bench", "--sizes", "4KiB", "--count", "20", "--bench-workers", "2",
                    "--repeat", "2", "--uri", vss.uri)  # two rounds, reduced to one median row each
    assert [(r["impl"], r["op"]) for r in rows] == [("client", "put"), ("client", "get")]
    assert all(r["size"] == 4096 and r["count"] == 20 and r["workers"] == 2 and r["ops_per_s"] > 0
               for r in rows)

    code, out, _ = run(capsys, "--uri", vss.uri, "bench", "--sizes", "1KiB", "--count", "2")
    assert code == 0 and "MB/s" in out and "ops/s" in out


def test_bench_references_store_and_read_real_objects(vss: Any, capsys: Any, monkeypatch: Any) -> None:
    # The references stop at the first request that fails (a ceiling that sent wrong checksums
    # once measured refused uploads and 404s), and delete what they stored.

    from mictlanx_sync import bench

    bucket = f"refs-{uuid.uuid4().hex[:8]}"
    for impl in ("floor", "ceiling", "bare"):
        rows = bench.run_reference(vss.uri, impl, size=2_500_000, count=2, chunk_size=1_000_000,
                                   bucket_id=bucket)
        assert [(r.impl, r.op) for r in rows] == [(impl, "put"), (impl, "get")] + \
            ([("bare", "req")] if impl == "bare" else [])
        assert all(r.cpu > 0 for r in rows if r.op != "req")
    with Client(vss.uri) as client:
        assert client.routers[0].get_bucket_metadata(bucket).balls == ()  # cleaned up

    rows = run_json(capsys, "bench", "--sizes", "3KiB", "--count", "3", "--bench-workers", "2", "--references",
                    "--uri", vss.uri)
    assert sorted((r["impl"], r["op"]) for r in rows) == sorted(
        [(impl, op) for impl in ("floor", "ceiling", "bare", "client") for op in ("put", "get")] + [("bare", "req")])

    real = bench._step1_body
    monkeypatch.setattr(bench, "_step1_body", lambda *args: real(*args[:-1], "0" * 64))  # a wrong checksum
    with pytest.raises(RuntimeError, match="step 2 answered HTTP"):
        bench.run_reference(vss.uri, "ceiling", size=1000, count=1, chunk_size=1000, bucket_id=bucket)


def test_bench_latency_runs_everything_through_the_proxy(vss: Any, capsys: Any) -> None:
    rows = run_json(capsys, "bench", "--sizes", "2KiB", "--count", "3", "--bench-workers", "1", "--references",
                    "--latency", "0,3ms", "--uri", vss.uri)
    assert sorted({r["delay"] for r in rows}) == [0.0, 0.003]
    for delay in (0.0, 0.003):
        mine = {(r["impl"], r["op"]): r for r in rows if r["delay"] == delay}
        assert set(mine) == {(impl, op) for impl in ("floor", "ceiling", "bare", "client") for op in ("put", "get")} \
            | {("bare", "req")}
        assert mine[("client", "get")]["p50"] > 0 and mine[("client", "get")]["cpu"] > 0
    with_delay = [r for r in rows if r["delay"] == 0.003 and r["impl"] in ("bare", "client", "floor")]
    assert all(r["p50"] >= 0.006 for r in with_delay)  # every request crossed the proxy's delay both ways

    code, out, _ = run(capsys, "--uri", vss.uri, "bench", "--sizes", "1KiB", "--count", "1", "--latency", "1ms")
    assert code == 0 and "injected one-way delay: 1 ms" in out
    code, _, err = run(capsys, "--uri", vss.uri, "bench", "--latency", "soon")
    assert code == 2 and "not a duration" in err


# ------------------------------------------------------------------------------------ exit codes
def test_invalid_key_exits_2(vss: Any, bucket: str, tmp_path: Any, capsys: Any) -> None:
    src = write(tmp_path / "x.bin", b"x")
    code, _, err = run(capsys, "put", bucket, "bad\tkey", src, "--uri", vss.uri)  # "bad key!" is a name now
    assert code == 2 and "invalid argument" in one_error_line(err)
    code, _, err = run(capsys, "put", bucket, "k", tmp_path / "missing.bin", "--uri", vss.uri)
    assert code == 2 and "missing.bin" in one_error_line(err)
    code, _, err = run(capsys, "get", "bad/bucket", "k", "--uri", vss.uri)
    assert code == 2
    one_error_line(err)


def test_invalid_uri_exits_3(capsys: Any) -> None:
    for argv in (["--uri", "bogus://x", "ls", "b"], ["ls", "b", "--uri", "mictlanx://"],
                 ["bench", "--uri", "http://nope", "--sizes", "1KiB"]):
        code, _, err = run(capsys, *argv)
        assert code == 3, argv
        assert "invalid URI" in one_error_line(err)


def test_missing_object_exits_4_and_names_bucket_key(vss: Any, bucket: str, tmp_path: Any,
                                                     capsys: Any) -> None:
    out_file = tmp_path / "never.bin"
    code, out, err = run(capsys, "get", bucket, "nothing", "-o", out_file, "--uri", vss.uri)
    assert code == 4 and out == ""
    assert f"{bucket}/nothing" in one_error_line(err)
    assert not out_file.exists() and os.listdir(tmp_path) == []

    code, out, err = run(capsys, "get", bucket, "nothing", "-o", "-", "--uri", vss.uri)
    assert code == 4 and out == "" and f"{bucket}/nothing" in one_error_line(err)


def test_unreachable_router_exits_7_or_8_fast(capsys: Any) -> None:
    started = time.monotonic()
    code, _, err = run(capsys, "ls", "b", "--uri", UNREACHABLE)
    assert code in (7, 8)
    assert "127.0.0.1:9" in one_error_line(err)
    assert time.monotonic() - started < 15


def test_put_existing_key_with_different_content_exits_5(vss: Any, bucket: str, tmp_path: Any,
                                                         capsys: Any) -> None:
    first = write(tmp_path / "one.bin", b"first version")
    second = write(tmp_path / "two.bin", b"second version, longer")
    assert run(capsys, "put", bucket, "k", first, "--uri", vss.uri, "--rf", "2")[0] == 0
    assert run(capsys, "put", bucket, "k", first, "--uri", vss.uri, "--rf", "2")[0] == 0  # same bytes: fine
    code, _, err = run(capsys, "put", bucket, "k", second, "--uri", vss.uri, "--rf", "2")
    assert code == 5
    line = one_error_line(err)
    assert "already exists" in line and bucket in line and "--force" in line
    out_file = tmp_path / "check.bin"
    assert run(capsys, "get", bucket, "k", "-o", out_file, "--uri", vss.uri)[0] == 0
    assert read(out_file) == b"first version"


def test_put_existing_key_with_different_content_rf1_exits_5(vss: Any, bucket: str, tmp_path: Any,
                                                             capsys: Any) -> None:
    first = write(tmp_path / "one.bin", os.urandom(300_000))
    second = write(tmp_path / "two.bin", b"second version")
    assert run(capsys, "put", bucket, "k", first, "--uri", vss.uri, "--chunk-size", "100kb")[0] == 0
    code, _, err = run(capsys, "put", bucket, "k", second, "--uri", vss.uri)
    assert code == 5
    assert f"{bucket}/k" in one_error_line(err)
    assert run_json(capsys, "stat", bucket, "k", "--uri", vss.uri)["size"] == 300_000


def test_traceback_only_with_verbose(vss: Any, bucket: str, capsys: Any) -> None:
    code, _, err = run(capsys, "stat", bucket, "ghost", "--uri", vss.uri)
    assert code == 4
    one_error_line(err)
    code, _, err = run(capsys, "stat", bucket, "ghost", "--uri", vss.uri, "--verbose")
    assert code == 4
    assert "Traceback" in err and "NotFoundError" in err
    assert err.strip().splitlines()[-1].startswith("mictlanx-sync: not found: ")


def test_errors_in_a_real_process_are_one_line(vss: Any, bucket: str) -> None:
    result = proc("get", bucket, "ghost", "-o", "-", "--uri", vss.uri)
    assert result.returncode == 4 and result.stdout == b""
    one_error_line(result.stderr.decode())
    result = proc("--uri", "bogus://x", "peers")
    assert result.returncode == 3
    one_error_line(result.stderr.decode())


def test_uri_from_the_environment_in_a_real_process(vss: Any, bucket: str) -> None:
    env = {**os.environ, "MICTLANX_URI": vss.uri}
    assert proc("put", bucket, "env", "-", data=b"from env", env=env).returncode == 0
    listing = proc("ls", bucket, "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    assert [(o["key"], o["size"]) for o in json.loads(listing.stdout)] == [("env", 8)]
    env["MICTLANX_URI"] = "bogus://x"
    assert proc("ls", bucket, env=env).returncode == 3
    assert proc("ls", bucket, "--uri", vss.uri, env=env).returncode == 0  # --uri wins


# ----------------------------------------------------------------------------------- Ctrl-C
def _interrupt_after_first_chunk(monkeypatch: Any) -> List[int]:
    calls: List[int] = []
    original = Downloader.fetch_chunk

    def fetch(self: Downloader, layout: Any, index: int, buffer: Any, cancel: Any, **kwargs: Any) -> None:
        calls.append(index)
        if len(calls) > 1:
            raise KeyboardInterrupt
        original(self, layout, index, buffer, cancel, **kwargs)

    monkeypatch.setattr(Downloader, "fetch_chunk", fetch)
    return calls


def test_ctrl_c_exits_130_and_leaves_no_partial_file(vss: Any, bucket: str, tmp_path: Any, capsys: Any,
                                                     monkeypatch: Any) -> None:
    src = write(tmp_path / "src.bin", os.urandom(400_000))
    assert run(capsys, "put", bucket, "big", src, "--uri", vss.uri, "--chunk-size", "20kb")[0] == 0
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    calls = _interrupt_after_first_chunk(monkeypatch)

    code, out, err = run(capsys, "get", bucket, "big", "-o", out_dir, "--uri", vss.uri, "--workers", "2")
    assert code == cli.EXIT_INTERRUPTED == 130
    assert len(calls) > 1
    assert err.strip() == "mictlanx-sync: interrupted" and out == ""
    assert os.listdir(out_dir) == []

    code, _, err = run(capsys, "get", bucket, "big", "-o", out_dir / "named.bin", "--uri", vss.uri)
    assert code == 130 and os.listdir(out_dir) == []


def test_ctrl_c_during_put_exits_130(vss: Any, bucket: str, tmp_path: Any, capsys: Any,
                                     monkeypatch: Any) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Client, "put_file", interrupted)
    code, out, err = run(capsys, "put", bucket, "k", write(tmp_path / "f", b"data"), "--uri", vss.uri)
    assert code == 130 and out == "" and err.strip() == "mictlanx-sync: interrupted"


def test_names_ls_prefix_and_trees(vss: Any, bucket: str, tmp_path: Any, capsys: Any) -> None:
    tree = tmp_path / "tree"
    for rel, data in {"a.csv": b"a", "2024/cat.jpg": b"meow", "2024/q1/b b.txt": b"bb", "日本.txt": b"jp"}.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(data)
    code, out, err = run(capsys, "put", "-r", bucket, "photos", tree, "--uri", vss.uri)
    assert code == 0 and "4 file(s) stored" in out, err
    listed = run_json(capsys, "ls", f"{bucket}/photos/", "--uri", vss.uri)
    assert [e.get("prefix") or e["name"] for e in listed] == ["photos/2024/", "photos/a.csv", "photos/日本.txt"]
    code, out, _ = run(capsys, "ls", f"{bucket}/photos/2024/", "-r", "--uri", vss.uri)
    assert [line.split("\t")[0] for line in out.splitlines()] == ["photos/2024/cat.jpg", "photos/2024/q1/b b.txt"]
    info = run_json(capsys, "stat", bucket, "photos/2024/cat.jpg", "--uri", vss.uri)
    assert info["name"] == "photos/2024/cat.jpg" and info["key"].startswith("photos_2024_cat-jpg-")
    out_dir = tmp_path / "back"
    code, out, err = run(capsys, "get", "-r", bucket, "photos/2024", "-o", out_dir, "--uri", vss.uri)
    assert code == 0 and "2 file(s) fetched" in out, err
    assert (out_dir / "cat.jpg").read_bytes() == b"meow" and (out_dir / "q1" / "b b.txt").read_bytes() == b"bb"
    code, out, err = run(capsys, "get", "-r", bucket, "/", "-o", tmp_path / "all", "--uri", vss.uri)
    assert code == 0 and (tmp_path / "all" / "photos" / "日本.txt").read_bytes() == b"jp"
    # a name that would leave the target directory is refused before anything is written
    code, _, err = run(capsys, "put", bucket, "../evil", tree / "a.csv", "--uri", vss.uri)
    assert code == 0
    code, _, err = run(capsys, "get", "-r", bucket, "/", "-o", tmp_path / "safe", "--uri", vss.uri)
    assert code == 2 and "../evil" in one_error_line(err)
    assert not (tmp_path / "evil").exists()
