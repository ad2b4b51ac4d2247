"""get_to_file and CLI ``get`` never clobber local files, create the directories they are told to,
never write outside the current directory, and report local I/O failures as LocalIOError naming the
user's path (issue 12, items 2 and 8)."""

from __future__ import annotations

import errno
import os
from typing import Any, Tuple

import pytest

from mictlanx_sync import Client, cli
from mictlanx_sync.errors import LocalFileExistsError, LocalIOError, TransferError
from mictlanx_sync.transfer import sink as sink_module


def run(capsys: Any, *argv: Any) -> Tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_existing_file_with_other_content_is_refused_before_fetching(vss, bucket, tmp_path):
    target = tmp_path / "hi.txt"
    target.write_bytes(b"my own notes")
    with Client(vss.uri, chunk_size="1kb") as client:
        client.put(bucket, "h2", b"x" * 5000, tags={"fullname": "hi.txt"})
        with pytest.raises(LocalFileExistsError) as caught:
            client.get_to_file(bucket, "h2", tmp_path)
    assert isinstance(caught.value, FileExistsError) and caught.value.filename == str(target)
    assert "overwrite=True" in str(caught.value)
    assert target.read_bytes() == b"my own notes"
    assert sorted(os.listdir(tmp_path)) == ["hi.txt"]  # no temp file was even created


def test_overwrite_replaces_and_same_content_is_a_no_op(vss, bucket, tmp_path, caplog):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    data = os.urandom(3000)
    with Client(vss.uri, chunk_size="1kb") as client:
        client.put(bucket, "k", data)
        path = client.get_to_file(bucket, "k", target, overwrite=True)
        assert target.read_bytes() == data and path == str(target) and not path.unchanged
        before = os.stat(target)
        with caplog.at_level("INFO", logger="mictlanx_sync"):
            again = client.get_to_file(bucket, "k", target)  # same SHA-256: not an error, not rewritten
    assert again == str(target) and again.unchanged
    assert os.stat(target).st_ino == before.st_ino and os.stat(target).st_mtime_ns == before.st_mtime_ns
    assert any("same SHA-256" in r.getMessage() for r in caplog.records)


def test_missing_directory_is_created_with_fullname_or_trailing_separator(vss, bucket, tmp_path):
    with Client(vss.uri) as client:
        client.put(bucket, "k", b"hello", tags={"fullname": "tagged.txt"})
        first = client.get_to_file(bucket, "k", str(tmp_path / "downloads"), fullname="hello.txt")
        second = client.get_to_file(bucket, "k", str(tmp_path / "a" / "b") + os.sep)
    assert first == str(tmp_path / "downloads" / "hello.txt") and os.path.isdir(tmp_path / "downloads")
    assert second == str(tmp_path / "a" / "b" / "tagged.txt")
    assert (tmp_path / "downloads" / "hello.txt").read_bytes() == b"hello"
    assert (tmp_path / "a" / "b" / "tagged.txt").read_bytes() == b"hello"


def test_cli_get_refuses_to_overwrite_and_force_replaces(vss, bucket, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hi.txt").write_bytes(b"unrelated")
    with Client(vss.uri) as client:
        client.put(bucket, "h2", b"remote", tags={"fullname": "hi.txt"})
    code, out, err = run(capsys, "--uri", vss.uri, "get", bucket, "h2")
    assert code == 16 and "already exists" in err and "--force" in err
    assert (tmp_path / "hi.txt").read_bytes() == b"unrelated"
    code, out, err = run(capsys, "--uri", vss.uri, "get", bucket, "h2", "--force")
    assert code == 0 and (tmp_path / "hi.txt").read_bytes() == b"remote"
    code, out, err = run(capsys, "--uri", vss.uri, "get", bucket, "h2")
    assert code == 0 and "already up to date" in out


@pytest.mark.parametrize("fullname", ["../escape.txt", "/tmp/escape.txt", "sub/../../escape.txt"])
def test_cli_get_without_output_stays_in_the_current_directory(vss, bucket, tmp_path, capsys, monkeypatch,
                                                               fullname):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    with Client(vss.uri) as client:
        client.put(bucket, "k", b"data", tags={"fullname": fullname})
    code, out, err = run(capsys, "--uri", vss.uri, "get", bucket, "k")
    assert code == 0, err
    assert os.listdir(cwd) == ["escape.txt"] and sorted(os.listdir(tmp_path)) == ["cwd"]


def test_disk_full_is_a_local_io_error_naming_the_users_path(vss, bucket, tmp_path, monkeypatch):
    with Client(vss.uri, chunk_size="1kb", max_workers=2) as client:
        client.put(bucket, "k", os.urandom(8000))
        real_pwrite = os.pwrite

        def full(fd: int, data: Any, offset: int) -> int:
            if offset >= 4000:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_pwrite(fd, data, offset)

        monkeypatch.setattr(sink_module.os, "pwrite", full)
        target = tmp_path / "big.bin"
        with pytest.raises(LocalIOError) as caught:
            client.get_to_file(bucket, "k", target)
    assert not isinstance(caught.value, TransferError)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert str(target) in str(caught.value) and ".part" not in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_unwritable_directory_is_a_local_io_error_with_its_exit_code(vss, bucket, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with Client(vss.uri) as client:
        client.put(bucket, "k", b"data")
        with pytest.raises(LocalIOError) as caught:  # a file where a directory should be created
            client.get_to_file(bucket, "k", str(blocker / "sub") + os.sep)
    assert isinstance(caught.value, OSError) and caught.value.filename == str(blocker / "sub") + os.sep
    code, out, err = run(capsys, "--uri", vss.uri, "get", bucket, "k", "-o", str(blocker / "sub") + os.sep)
    assert code == 15 and "local I/O error" in err and str(blocker / "sub") in err


def test_an_unreadable_file_to_put_is_a_local_io_error(vss, bucket, tmp_path, capsys):
    loop = tmp_path / "loop"
    os.symlink(loop, loop)  # opening it fails with ELOOP (root reads any file, so no chmod here)
    with Client(vss.uri) as client:
        with pytest.raises(LocalIOError) as caught:
            client.put_file(bucket, "k", loop)
    assert caught.value.errno == errno.ELOOP and caught.value.filename == str(loop)
    code, out, err = run(capsys, "--uri", vss.uri, "put", bucket, "k", loop)
    assert code == 15 and str(loop) in err


def test_an_encrypted_object_never_counts_as_the_same_file(vss, bucket, tmp_path):
    pytest.importorskip("cryptography")
    target = tmp_path / "secret.bin"
    target.write_bytes(b"plain text")  # the very plaintext: its SHA-256 is not in the metadata
    with Client(vss.uri, encryption_key=bytes(range(32))) as client:
        client.put(bucket, "k", b"plain text")
        with pytest.raises(LocalFileExistsError):
            client.get_to_file(bucket, "k", target)
        path = client.get_to_file(bucket, "k", target, overwrite=True)
    assert not path.unchanged and target.read_bytes() == b"plain text"
