"""Per-chunk transforms between the source and the wire: identity by default, or AES-256-GCM.

The put pipeline calls ``encode`` on each chunk's bytes after reading them and before hashing
and sending them; the get pipeline calls ``decode`` on each chunk's stored bytes after checking
their SHA-256. So chunk checksums are always over the *stored* bytes (routers, peers and other
clients verify what they hold) and, with encryption, nothing derived from the plaintext leaves
the process.

AES-256-GCM layout of one stored chunk: ``nonce (12 random bytes) || ciphertext || tag (16)``,
so a stored chunk is ``overhead = 28`` bytes longer than its plaintext. Each chunk's associated
data binds the object key, the put's random version id, the chunk index and the chunk count, so
a chunk moved to another index, another object or another version, and an object cut short (a
lower count), fail authentication. Any failure is :class:`~mictlanx_sync.IntegrityError`.

Example:
    >>> codec = AESGCMCodec(bytes(32))
    >>> ctx = ChunkContext(key="k", version="v1", index=0, count=1)
    >>> stored = codec.encode(b"secret", ctx)
    >>> len(stored) == len(b"secret") + codec.overhead, codec.decode(stored, ctx)
    (True, b'secret')
"""

from __future__ import annotations

import os
from typing import Any, Optional, Union

import attrs

from ..errors import IntegrityError, InvalidArgumentError

__all__ = ["ChunkContext", "ChunkCodec", "IdentityCodec", "AESGCMCodec", "IDENTITY", "codec_for",
           "AES_256_GCM", "NONCE_SIZE", "TAG_SIZE"]

AES_256_GCM = "aes-256-gcm"
NONCE_SIZE = 12
TAG_SIZE = 16
Bytes = Union[bytes, bytearray, memoryview]


@attrs.frozen(kw_only=True)
class ChunkContext:
    """Where a chunk belongs: bound into its associated data by an authenticating codec."""

    key: str
    version: str
    index: int
    count: int

    def associated_data(self, scheme: str) -> bytes:
        """``scheme``, key, version, index and count, newline-separated (ids cannot hold newlines)."""
        return f"mictlanx-sync/{scheme}/v1\n{self.key}\n{self.version}\n{self.index}\n{self.count}".encode()


class ChunkCodec:
    """The seam: ``encode`` before a chunk leaves the process, ``decode`` after it comes back.

    Attributes:
        name: the scheme stored in the ``encryption`` tag ("" for the identity).
        overhead: bytes a stored chunk has beyond its plaintext.

    Thread safety: codecs are immutable and safe to share across worker threads.
    """

    name: str = ""
    overhead: int = 0

    def encode(self, data: Bytes, ctx: ChunkContext) -> Bytes:
        """The bytes to store for plaintext ``data``."""
        raise NotImplementedError

    def decode(self, data: Bytes, ctx: ChunkContext) -> Bytes:
        """The plaintext of stored ``data``.

        Raises:
            IntegrityError: ``data`` is not the authentic chunk ``ctx`` describes.
        """
        raise NotImplementedError


class IdentityCodec(ChunkCodec):
    """Stores chunks as they are (no copy). The default."""

    def encode(self, data: Bytes, ctx: ChunkContext) -> Bytes:
        """``data`` itself."""
        return data

    def decode(self, data: Bytes, ctx: ChunkContext) -> Bytes:
        """``data`` itself."""
        return data


IDENTITY = IdentityCodec()


class AESGCMCodec(ChunkCodec):
    """AES-256-GCM with a fresh random 96-bit nonce per chunk (see the module docstring).

    Args:
        key: 32 bytes, e.g. :func:`mictlanx_sync.keys.shared_key`.

    Raises:
        InvalidArgumentError: the key is not 32 bytes.
        MictlanXError: the ``crypto`` extra (``cryptography``) is not installed.
    """

    name = AES_256_GCM
    overhead = NONCE_SIZE + TAG_SIZE

    def __init__(self, key: Bytes) -> None:
        if not isinstance(key, (bytes, bytearray, memoryview)) or len(key) != 32:
            raise InvalidArgumentError("an AES-256-GCM key is 32 bytes (see mictlanx_sync.keys.shared_key)")
        from ..keys import _crypto

        _crypto()  # a clear error when the extra is missing
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead: Any = AESGCM(bytes(key))

    def __repr__(self) -> str:
        return "AESGCMCodec(<key hidden>)"

    def encode(self, data: Bytes, ctx: ChunkContext) -> bytes:
        """``nonce || AES-GCM(data, associated data of ctx)``."""
        nonce = os.urandom(NONCE_SIZE)
        sealed: bytes = self._aead.encrypt(nonce, bytes(data), ctx.associated_data(self.name))
        return nonce + sealed

    def decode(self, data: Bytes, ctx: ChunkContext) -> bytes:
        """The plaintext, or IntegrityError (wrong key, tampered, moved or truncated chunk)."""
        from cryptography.exceptions import InvalidTag

        if len(data) < self.overhead:
            raise IntegrityError(f"encrypted chunk {ctx.index} of {ctx.key!r} is {len(data)} bytes, shorter "
                                 f"than nonce and tag ({self.overhead})", key=ctx.key)
        raw = bytes(data)
        try:
            plain: bytes = self._aead.decrypt(raw[:NONCE_SIZE], raw[NONCE_SIZE:], ctx.associated_data(self.name))
        except InvalidTag as exc:
            raise IntegrityError(f"chunk {ctx.index} of {ctx.count} of {ctx.key!r} failed authentication: wrong "
                                 f"key, or the chunk was altered, moved or cut", key=ctx.key) from exc
        return plain


def codec_for(key: Optional[Bytes]) -> ChunkCodec:
    """The codec for an optional 32-byte key: AES-256-GCM with one, the identity without."""
    return IDENTITY if key is None else AESGCMCodec(key)
