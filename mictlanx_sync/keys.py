"""X25519 keypairs saved by name, and the shared key two parties derive from them.

The seed's "Keypair generation" section, without the Result wrappers::

    from mictlanx_sync import keys
    bob = keys.generate_keypair("bob")                 # writes bob.key (0600) and bob.pub
    alice_pub = keys.load_public_key("alice")          # alice.pub, sent over by Alice
    key = keys.shared_key(bob.private_key, alice_pub)  # 32 bytes; Alice derives the same
    Client(uri, encryption_key=key)                    # end-to-end encrypted chunks

Files live in ``$XOLO_SECRET_PATH`` (the seed's variable) or else a per-user directory:
``%APPDATA%\\mictlanx\\keys`` on Windows, ``~/Library/Application Support/mictlanx/keys`` on
macOS, ``$XDG_CONFIG_HOME/mictlanx/keys`` (``~/.config/mictlanx/keys``) elsewhere; never inside
the package. ``NAME.key`` holds the private key (PKCS#8 PEM, created with mode 0600 and refused
when group or others can read it), ``NAME.pub`` the public key (SubjectPublicKeyInfo PEM).

The shared key is HKDF-SHA256 over the X25519 shared secret, salted with the SHA-256 of both
public keys in a fixed order, so both sides derive the same 32 bytes and a key is tied to the
pair it came from.

Needs the optional ``crypto`` extra (``pip install 'mictlanx-sync[crypto]'``, the
``cryptography`` package); without it every function raises :class:`MictlanXError` saying so.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import sys
import types
from typing import TYPE_CHECKING, Any, Optional, Tuple, Union

import attrs

from .errors import IntegrityError, InvalidArgumentError, MictlanXError, NotFoundError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

__all__ = ["SECRET_PATH_ENV", "KeyPair", "key_dir", "generate_keypair", "load_private_key",
           "load_public_key", "load_keypair", "shared_key", "public_key_from_bytes"]

SECRET_PATH_ENV = "XOLO_SECRET_PATH"
KEY_LENGTH = 32
_HKDF_INFO = b"mictlanx-sync e2e chunk key v1"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
PathLike = Union[str, "os.PathLike[str]"]


def _crypto() -> Any:
    """The ``cryptography`` modules, or a clear error naming the extra."""
    try:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import x25519
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MictlanXError("keys and encryption need the 'crypto' extra: "
                            "pip install 'mictlanx-sync[crypto]' (the cryptography package)") from exc
    return types.SimpleNamespace(hashes=hashes, serialization=serialization, x25519=x25519, HKDF=HKDF)


def key_dir(directory: Optional[PathLike] = None) -> str:
    """The directory keys are saved in: ``directory``, else ``$XOLO_SECRET_PATH``, else the
    per-user default described in the module docstring."""
    if directory is not None:
        return os.fspath(directory)
    env = os.environ.get(SECRET_PATH_ENV)
    if env:
        return env
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or os.path.join(home, "AppData", "Roaming")
    elif sys.platform == "darwin":
        base = os.path.join(home, "Library", "Application Support")
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return os.path.join(base, "mictlanx", "keys")


def _paths(name: str, directory: Optional[PathLike]) -> Tuple[str, str]:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidArgumentError(f"invalid key name {name!r}: use letters, digits, '.', '_' and '-' "
                                   f"(starting with a letter or digit)")
    base = key_dir(directory)
    return os.path.join(base, f"{name}.key"), os.path.join(base, f"{name}.pub")


@attrs.frozen(kw_only=True)
class KeyPair:
    """A named X25519 keypair. Thread safety: immutable; safe to share.

    Attributes:
        name: the name its files are saved under.
        private_key: the ``X25519PrivateKey``.
        public_key: the ``X25519PublicKey``.
    """

    name: str
    private_key: X25519PrivateKey
    public_key: X25519PublicKey

    def public_bytes(self) -> bytes:
        """The raw 32-byte public key (what to hand to the other party)."""
        return _raw_public(self.public_key)

    def shared_key(self, peer_public: Union[X25519PublicKey, bytes]) -> bytes:
        """The 32-byte key shared with the owner of ``peer_public`` (see :func:`shared_key`)."""
        return shared_key(self.private_key, peer_public)


def _raw_public(public: X25519PublicKey) -> bytes:
    serialization = _crypto().serialization
    raw: bytes = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw


def public_key_from_bytes(raw: bytes) -> X25519PublicKey:
    """An ``X25519PublicKey`` from its 32 raw bytes.

    Raises:
        InvalidArgumentError: not 32 bytes.
    """
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != KEY_LENGTH:
        raise InvalidArgumentError("an X25519 public key is 32 raw bytes")
    key: X25519PublicKey = _crypto().x25519.X25519PublicKey.from_public_bytes(bytes(raw))
    return key


def generate_keypair(name: str, *, directory: Optional[PathLike] = None, overwrite: bool = False) -> KeyPair:
    """Make a new X25519 keypair and save it as ``NAME.key`` (mode 0600) and ``NAME.pub``.

    Args:
        name: the keypair's name (letters, digits, ``.``, ``_``, ``-``).
        directory: where to save it (default: :func:`key_dir`); created with mode 0700.
        overwrite: replace an existing keypair of that name (otherwise refused).

    Raises:
        InvalidArgumentError: a bad name, or a keypair of that name exists and not ``overwrite``.
    """
    mods = _crypto()
    private_path, public_path = _paths(name, directory)
    os.makedirs(os.path.dirname(private_path), mode=0o700, exist_ok=True)
    if not overwrite and (os.path.exists(private_path) or os.path.exists(public_path)):
        raise InvalidArgumentError(f"a keypair named {name!r} already exists in {os.path.dirname(private_path)}; "
                                   f"pass overwrite=True to replace it")
    private = mods.x25519.X25519PrivateKey.generate()
    pem = private.private_bytes(mods.serialization.Encoding.PEM, mods.serialization.PrivateFormat.PKCS8,
                                mods.serialization.NoEncryption())
    _write(private_path, pem, 0o600)
    _write(public_path, private.public_key().public_bytes(mods.serialization.Encoding.PEM,
                                                          mods.serialization.PublicFormat.SubjectPublicKeyInfo),
           0o644)
    return KeyPair(name=name, private_key=private, public_key=private.public_key())


def _write(path: str, data: bytes, mode: int) -> None:
    """Write ``data`` to a temp file created with ``mode`` (never wider), then rename it over ``path``."""
    temp = f"{path}.tmp{os.getpid()}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if os.name == "posix":
            os.chmod(temp, mode)  # exactly ``mode``: the umask may have narrowed it
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def _read(path: str, what: str, name: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError as exc:
        raise NotFoundError(f"no {what} named {name!r} ({path} does not exist); "
                            f"create one with `mictlanx-sync keys gen {name}`") from exc


def load_private_key(name: str, *, directory: Optional[PathLike] = None) -> X25519PrivateKey:
    """The private key saved as ``NAME.key``.

    Raises:
        NotFoundError: no such file.
        InvalidArgumentError: the file is readable by group or others (POSIX), or is not an
            X25519 private key.
    """
    mods = _crypto()
    path, _ = _paths(name, directory)
    data = _read(path, "private key", name)
    if os.name == "posix":
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            raise InvalidArgumentError(f"private key file {path} is accessible by others (mode {mode:04o}); "
                                       f"run: chmod 600 {path}")
    try:
        key = mods.serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError(f"{path} is not a PEM private key: {exc}") from exc
    if not isinstance(key, mods.x25519.X25519PrivateKey):
        raise InvalidArgumentError(f"{path} holds a {type(key).__name__}, not an X25519 private key")
    private: X25519PrivateKey = key
    return private


def load_public_key(name: str, *, directory: Optional[PathLike] = None) -> X25519PublicKey:
    """The public key saved as ``NAME.pub``.

    Raises:
        NotFoundError: no such file.
        InvalidArgumentError: the file is not an X25519 public key.
    """
    mods = _crypto()
    _, path = _paths(name, directory)
    data = _read(path, "public key", name)
    try:
        key = mods.serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError(f"{path} is not a PEM public key: {exc}") from exc
    if not isinstance(key, mods.x25519.X25519PublicKey):
        raise InvalidArgumentError(f"{path} holds a {type(key).__name__}, not an X25519 public key")
    public: X25519PublicKey = key
    return public


def load_keypair(name: str, *, directory: Optional[PathLike] = None) -> KeyPair:
    """The keypair saved under ``name`` (see :func:`load_private_key`)."""
    private = load_private_key(name, directory=directory)
    return KeyPair(name=name, private_key=private, public_key=private.public_key())


def shared_key(private: X25519PrivateKey, peer_public: Union[X25519PublicKey, bytes]) -> bytes:
    """The 32-byte symmetric key shared by ``private``'s owner and ``peer_public``'s owner.

    X25519 gives both sides the same secret; HKDF-SHA256 (salt: SHA-256 of the two raw public
    keys in sorted order, info: a fixed label) turns it into a uniformly random AES-256 key.

    Raises:
        IntegrityError: the exchange produced the all-zero secret (a malicious public key).
    """
    mods = _crypto()
    public = peer_public if not isinstance(peer_public, (bytes, bytearray)) else public_key_from_bytes(peer_public)
    try:
        secret: bytes = private.exchange(public)
    except ValueError as exc:  # cryptography refuses the all-zero shared secret
        raise IntegrityError(f"X25519 exchange failed: the peer's public key is invalid ({exc})") from exc
    if secret == bytes(len(secret)):
        raise IntegrityError("X25519 exchange gave the all-zero secret: the peer's public key is invalid")
    ours, theirs = _raw_public(private.public_key()), _raw_public(public)
    salt = hashlib.sha256(b"".join(sorted((ours, theirs)))).digest()
    hkdf = mods.HKDF(algorithm=mods.hashes.SHA256(), length=KEY_LENGTH, salt=salt, info=_HKDF_INFO)
    derived: bytes = hkdf.derive(secret)
    return derived
