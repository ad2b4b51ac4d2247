"""Encrypted reads: which codec an object needs, and each stored chunk fetched, decrypted and
authenticated, its plaintext handed on (to memory, a stream or a file; the callers own those)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Optional, Tuple

from . import _protocol as P
from .errors import IntegrityError, InvalidArgumentError
from .transfer.chunking import ObjectLayout
from .transfer.codec import ChunkCodec, ChunkContext
from .transfer.manager import CancelToken
from .transfer.progress import Progress

if TYPE_CHECKING:
    from ._get import Downloader

__all__ = ["decoder", "plain_spans", "decode_all", "stream_encrypted"]


def decoder(layout: ObjectLayout, codec: ChunkCodec) -> Optional[ChunkCodec]:
    """The codec an encrypted object needs (None for a plain one), after refusing a plain
    object where a key was given (a downgrade) and an encrypted one without a key.

    Raises:
        IntegrityError: a plain object read with a key, or an encryption this client does not speak.
        InvalidArgumentError: an encrypted object read without a key.
    """
    tags = layout.chunks[0].tags
    scheme = tags.get(P.TAG_ENCRYPTION, "")
    if not scheme:
        if codec.name:
            raise IntegrityError(f"{layout.bucket_id}@{layout.key} is not encrypted, but this read holds a "
                                 f"decryption key: refusing plaintext in place of an encrypted object",
                                 bucket_id=layout.bucket_id, key=layout.key)
        return None
    if not codec.name:
        raise InvalidArgumentError(f"{layout.bucket_id}@{layout.key} is end-to-end encrypted ({scheme}): read it "
                                   f"with decrypt_with=<key> or Client(encryption_key=<key>)",
                                   bucket_id=layout.bucket_id, key=layout.key)
    if scheme != codec.name or not tags.get(P.TAG_ENCRYPTION_VERSION):
        raise IntegrityError(f"{layout.bucket_id}@{layout.key} names encryption {scheme!r} "
                             f"(version {tags.get(P.TAG_ENCRYPTION_VERSION)!r}); this client speaks "
                             f"{codec.name}", bucket_id=layout.bucket_id, key=layout.key)
    return codec


def plain_spans(layout: ObjectLayout, codec: ChunkCodec) -> List[Tuple[int, int]]:
    """(offset, size) of each chunk's plaintext: stored size minus the codec's overhead."""
    spans, offset = [], 0
    for meta in layout.chunks:
        if meta.size < codec.overhead:
            raise IntegrityError(f"encrypted chunk {meta.key} is {meta.size} bytes, shorter than its "
                                 f"nonce and tag", bucket_id=layout.bucket_id, key=meta.key)
        spans.append((offset, meta.size - codec.overhead))
        offset += meta.size - codec.overhead
    return spans


def _decode_chunks(reader: Downloader, layout: ObjectLayout, codec: ChunkCodec, indices: range, parallel: bool,
                   place: Callable[[int, bytes], None], what: str) -> None:
    """Fetch chunks ``indices`` (each checked against its stored SHA-256, replicas tried in
    turn), decrypt each with the object key, version, index and count as associated data,
    and hand the plaintext to ``place(index, plain)`` on the worker."""
    version = layout.chunks[0].tags[P.TAG_ENCRYPTION_VERSION]
    count = len(layout.chunks)

    def fetch(i: int, cancel: CancelToken) -> None:
        index = indices[i]
        stored = bytearray(layout.chunks[index].size)
        reader.fetch_chunk(layout, index, memoryview(stored), cancel, verify=True)
        ctx = ChunkContext(key=layout.key, version=version, index=index, count=count)
        try:
            plain = bytes(codec.decode(stored, ctx))
        except IntegrityError as exc:
            raise IntegrityError(exc.message, bucket_id=layout.bucket_id, key=layout.chunks[index].key) from exc
        place(index, plain)

    reader.run_chunks(layout, len(indices), fetch, None, parallel=parallel, what=what)


def decode_all(reader: Downloader, layout: ObjectLayout, codec: ChunkCodec, spans: List[Tuple[int, int]],
               write: Callable[[int, bytes], None], meter: Progress, parallel: bool, what: str) -> None:
    """Decrypt every chunk of ``layout`` and hand each plaintext to ``write(offset, plain)`` at
    its offset in ``spans`` (from :func:`plain_spans`), counting it on ``meter``.

    Raises:
        IntegrityError: a chunk fails to authenticate or decrypts to another size than its span.
    """

    def place(index: int, plain: bytes) -> None:
        offset, size = spans[index]
        if len(plain) != size:
            raise IntegrityError(f"chunk {index} decrypted to {len(plain)} bytes, expected {size}",
                                 bucket_id=layout.bucket_id, key=layout.key)
        write(offset, plain)
        meter.add(size)

    _decode_chunks(reader, layout, codec, range(len(layout.chunks)), parallel, place, what)


def stream_encrypted(reader: Downloader, layout: ObjectLayout, codec: ChunkCodec, window: int) -> Iterator[bytes]:
    """Decrypted chunks in order, ``window`` at a time; each is authenticated before it is yielded."""
    plain_spans(layout, codec)
    for start in range(0, len(layout.chunks), window):
        indices = range(start, min(start + window, len(layout.chunks)))
        plain: Dict[int, bytes] = {}
        _decode_chunks(reader, layout, codec, indices, True, plain.__setitem__, "get_stream")
        yield from (plain[i] for i in indices)
