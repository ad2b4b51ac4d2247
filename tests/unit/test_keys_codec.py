"""X25519 keypairs by name (mictlanx_sync.keys) and the per-chunk AES-256-GCM codec."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

pytest.importorskip("cryptography", reason="the 'crypto' extra is not installed")

from mictlanx_sync import IntegrityError, InvalidArgumentError, NotFoundError, keys  # noqa: E402
from mictlanx_sync.transfer.codec import IDENTITY, AESGCMCodec, ChunkContext, codec_for  # noqa: E402


@pytest.fixture
def secret_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "secrets"
    monkeypatch.setenv(keys.SECRET_PATH_ENV, str(path))
    return path


def test_generate_saves_private_key_0600_and_loads_back(secret_dir: Path) -> None:
    bob = keys.generate_keypair("bob")
    private, public = secret_dir / "bob.key", secret_dir / "bob.pub"
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    if os.name == "posix":
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
        assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert keys.load_keypair("bob").public_bytes() == bob.public_bytes()
    assert len(bob.public_bytes()) == 32


def test_both_sides_derive_the_same_shared_key(secret_dir: Path) -> None:
    bob, alice, eve = (keys.generate_keypair(n) for n in ("bob", "alice", "eve"))
    bob_side = keys.shared_key(keys.load_private_key("bob"), keys.load_public_key("alice"))
    alice_side = keys.shared_key(keys.load_private_key("alice"), keys.load_public_key("bob"))
    assert bob_side == alice_side and len(bob_side) == 32
    assert bob.shared_key(alice.public_bytes()) == bob_side  # raw public bytes work too
    assert keys.shared_key(eve.private_key, alice.public_key) != bob_side
    assert bob_side != bob.private_key.exchange(alice.public_key)  # HKDF output, not the raw secret


def test_generate_refuses_to_overwrite_and_bad_names(secret_dir: Path) -> None:
    first = keys.generate_keypair("bob")
    with pytest.raises(InvalidArgumentError, match="already exists"):
        keys.generate_keypair("bob")
    assert keys.load_keypair("bob").public_bytes() == first.public_bytes()
    assert keys.generate_keypair("bob", overwrite=True).public_bytes() != first.public_bytes()
    for bad in ("", "../x", "a/b", ".hidden", "x" * 200):
        with pytest.raises(InvalidArgumentError, match="invalid key name"):
            keys.generate_keypair(bad)


def test_missing_and_exposed_keys_are_typed_errors(secret_dir: Path) -> None:
    with pytest.raises(NotFoundError, match="keys gen nobody"):
        keys.load_private_key("nobody")
    with pytest.raises(NotFoundError):
        keys.load_public_key("nobody")
    keys.generate_keypair("bob")
    if os.name == "posix":
        os.chmod(secret_dir / "bob.key", 0o644)
        with pytest.raises(InvalidArgumentError, match="chmod 600"):
            keys.load_private_key("bob")
    (secret_dir / "junk.pub").write_bytes(b"not a key")
    with pytest.raises(InvalidArgumentError, match="not a PEM public key"):
        keys.load_public_key("junk")
    with pytest.raises(InvalidArgumentError, match="32 raw bytes"):
        keys.public_key_from_bytes(b"short")


def test_default_key_dir_is_per_user_never_in_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(keys.SECRET_PATH_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    default = keys.key_dir()
    package = os.path.dirname(os.path.abspath(keys.__file__))
    assert not os.path.abspath(default).startswith(package)
    if sys.platform.startswith("linux"):
        assert default == str(tmp_path / "cfg" / "mictlanx" / "keys")
    monkeypatch.setenv(keys.SECRET_PATH_ENV, "/another/path")
    assert keys.key_dir() == "/another/path"


CTX = ChunkContext(key="video", version="v1", index=1, count=3)


def test_aes_gcm_round_trip_with_a_fresh_nonce_per_chunk() -> None:
    codec = AESGCMCodec(os.urandom(32))
    plain = os.urandom(1000)
    one, two = codec.encode(plain, CTX), codec.encode(plain, CTX)
    assert len(one) == len(plain) + codec.overhead == len(plain) + 28
    assert one[:12] != two[:12] and one != two  # fresh nonce each time
    assert plain not in one
    assert codec.decode(one, CTX) == plain and codec.decode(two, CTX) == plain
    assert codec.decode(codec.encode(b"", CTX), CTX) == b""


@pytest.mark.parametrize("moved", [
    ChunkContext(key="video", version="v1", index=2, count=3),  # swapped to another index
    ChunkContext(key="video", version="v1", index=1, count=2),  # object cut short
    ChunkContext(key="other", version="v1", index=1, count=3),  # moved to another object
    ChunkContext(key="video", version="v2", index=1, count=3),  # a chunk of another version
])
def test_a_chunk_out_of_its_place_fails_authentication(moved: ChunkContext) -> None:
    codec = AESGCMCodec(bytes(range(32)))
    with pytest.raises(IntegrityError, match="failed authentication"):
        codec.decode(codec.encode(b"frame bytes", CTX), moved)


def test_wrong_key_flipped_bit_and_truncation_are_integrity_errors() -> None:
    stored = AESGCMCodec(bytes(32)).encode(b"secret data", CTX)
    with pytest.raises(IntegrityError):
        AESGCMCodec(bytes(31) + b"\x01").decode(stored, CTX)
    flipped = bytearray(stored)
    flipped[20] ^= 1
    with pytest.raises(IntegrityError):
        AESGCMCodec(bytes(32)).decode(bytes(flipped), CTX)
    with pytest.raises(IntegrityError):
        AESGCMCodec(bytes(32)).decode(stored[:-1], CTX)
    with pytest.raises(IntegrityError, match="shorter than nonce and tag"):
        AESGCMCodec(bytes(32)).decode(stored[:20], CTX)


def test_identity_is_the_default_and_keys_are_checked() -> None:
    data = b"abc"
    assert codec_for(None) is IDENTITY and IDENTITY.encode(data, CTX) is data and IDENTITY.overhead == 0
    assert isinstance(codec_for(bytes(32)), AESGCMCodec)
    with pytest.raises(InvalidArgumentError, match="32 bytes"):
        AESGCMCodec(b"short")
    assert "hidden" in repr(AESGCMCodec(bytes(32)))
