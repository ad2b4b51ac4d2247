"""Query by tags (``Client.find``, ``get_bucket_metadata(tags=)``, ``mictlanx-sync ls --tag``) and
the ``keys`` / ``put|get --key-pair --peer-key`` command line, against a live VSS."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Tuple

import pytest

from mictlanx_sync import Client, InvalidArgumentError
from mictlanx_sync import _protocol as P
from mictlanx_sync.cli import main
from mictlanx_sync.vss import LocalVSS


def run(capsys: Any, *argv: Any) -> Tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_find_by_tags(vss: LocalVSS, bucket: str) -> None:
    with Client(vss.uri, chunk_size=100, capacity_storage=0) as client:
        client.put(bucket, "a", b"x" * 250, tags={"kind": "frame", "owner": "bob"})
        client.put(bucket, "b", b"y" * 10, tags={"kind": "frame", "owner": "alice"})
        client.put(bucket, "c", b"z" * 10, tags={"kind": "audio", "owner": "bob"})
        assert [o.key for o in client.find(bucket, kind="frame")] == ["a", "b"]
        assert [o.key for o in client.find(bucket, kind="frame", owner="bob")] == ["a"]
        assert [o.key for o in client.find(bucket, owner="carol")] == []
        assert [o.key for o in client.get_bucket_metadata(bucket, tags={"owner": "bob"})] == ["a", "c"]
        assert [o.key for o in client.get_bucket_metadata(bucket)] == ["a", "b", "c"]  # unchanged without tags
        assert client.find(bucket, kind="frame")[0].size == 250  # whole objects, not chunks
        with pytest.raises(InvalidArgumentError, match="must be strings"):
            client.find(bucket, kind=1)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="mapping"):
            client.get_bucket_metadata(bucket, tags=["kind=frame"])  # type: ignore[arg-type]


def test_ls_tag_filters(vss: LocalVSS, bucket: str, capsys: Any, tmp_path: Path) -> None:
    src = tmp_path / "f.txt"
    src.write_bytes(b"hello")
    for key, owner in (("one", "bob"), ("two", "alice")):
        assert run(capsys, "--uri", vss.uri, "put", bucket, key, src, f"owner={owner}")[0] == 0
    code, out, err = run(capsys, "--uri", vss.uri, "ls", bucket, "--tag", "owner=alice")
    assert code == 0, err
    assert [line.split("\t")[0] for line in out.splitlines()] == ["two"]
    code, out, _ = run(capsys, "--uri", vss.uri, "ls", bucket, "--json", "--tag", "owner=bob", "--tag",
                       "fullname=f.txt")
    assert [o["key"] for o in json.loads(out)] == ["one"]
    code, out, _ = run(capsys, "--uri", vss.uri, "ls", bucket)
    assert len(out.splitlines()) == 2


def test_cli_keys_and_encrypted_put_get(vss: LocalVSS, bucket: str, capsys: Any, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("cryptography", reason="the 'crypto' extra is not installed")
    monkeypatch.setenv("XOLO_SECRET_PATH", str(tmp_path / "keys"))
    for name in ("alice", "bob"):
        code, out, err = run(capsys, "keys", "gen", name)
        assert code == 0 and out.startswith(f"generated {name}: public key "), err
    assert (tmp_path / "keys" / "alice.key").exists()
    code, _, err = run(capsys, "keys", "gen", "alice")
    assert code == 2 and "already exists" in err
    code, out, _ = run(capsys, "keys", "show", "bob", "--json")
    assert len(json.loads(out)["public_key"]) == 64

    src = tmp_path / "secret.bin"
    src.write_bytes(os.urandom(3000))
    code, _, err = run(capsys, "--uri", vss.uri, "--chunk-size", "1000", "put", bucket, "s", src,
                       "--key-pair", "alice", "--peer-key", "bob")
    assert code == 0, err
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, _, err = run(capsys, "--uri", vss.uri, "get", bucket, "s", "-o", out_dir / "s.bin",
                       "--key-pair", "bob", "--peer-key", "alice")
    assert code == 0, err
    assert (out_dir / "s.bin").read_bytes() == src.read_bytes()
    with Client(vss.uri, capacity_storage=0) as plain:
        chunk0 = plain.get_metadata(bucket, "s").chunks[0]
        assert chunk0.tags[P.TAG_ENCRYPTION] == "aes-256-gcm" and P.TAG_FULL_CHECKSUM not in chunk0.tags
    code, _, err = run(capsys, "--uri", vss.uri, "get", bucket, "s", "-o", out_dir / "plain.bin")
    assert code == 2 and "end-to-end encrypted" in err  # no key: invalid argument, nothing written
    code, _, err = run(capsys, "--uri", vss.uri, "get", bucket, "s", "-o", out_dir / "wrong.bin",
                       "--key-pair", "bob")  # bob for himself: the wrong key
    assert code == 13 and "failed authentication" in err
    assert sorted(os.listdir(out_dir)) == ["s.bin"]
    code, _, err = run(capsys, "get", bucket, "s", "--peer-key", "alice")
    assert code == 2 and "--peer-key needs --key-pair" in err
    code, _, err = run(capsys, "--uri", vss.uri, "get", bucket, "s", "--key-pair", "nobody")
    assert code == 4 and "keys gen nobody" in err
