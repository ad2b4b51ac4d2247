"""The get pipeline: list an object's chunks once, fetch them in parallel, verify, place them."""

from __future__ import annotations

import contextlib
import contextvars
import errno
import hashlib
import mmap
import os
import time
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import Callable, Dict, Iterator, List, Optional, Tuple, Union

import attrs

from . import _protocol as P
from . import names as N
from ._core import ClientCore
from ._diagnose import explain
from .config import check_chunk_size
from .errors import (
    ForbiddenError,
    IntegrityError,
    InvalidArgumentError,
    LocalFileExistsError,
    LocalIOError,
    MictlanXError,
    NetworkError,
    NotFoundError,
    ProtocolError,
    TransferError,
)
from .models import Metadata
from .results import GetResult, ObjectInfo, SavedFile
from .router import Router
from .transfer.chunking import ObjectLayout, check_size, layout_from_metadata, object_chunks
from .transfer.codec import IDENTITY, ChunkCodec, ChunkContext
from .transfer.manager import CancelToken
from .transfer.progress import Progress, ProgressArg
from .transfer.sink import FileSink
from .units import SizeLike

__all__ = ["Downloader", "Buffer", "ReadOptions"]

Buffer = Union[bytearray, mmap.mmap]
# A get reads chunk 0 beside the chunk listing when chunk 0 is at most this many bytes (a longer
# reply is closed unread): small objects then cost one round trip, and large ones save one too.
LOOKAHEAD_LIMIT = 1 << 20


def _sha256(data: Union[bytes, bytearray, memoryview]) -> str:
    return hashlib.sha256(data).hexdigest()


def _allocate(size: int) -> Buffer:
    """A writable buffer for a whole object. Large ones are anonymous memory maps: the kernel
    hands out zeroed pages as the workers first write them, instead of ``bytearray`` zeroing the
    whole object on the caller's thread before any chunk can arrive."""
    try:
        if size < (1 << 20):
            return bytearray(size)
        return mmap.mmap(-1, size)
    except (MemoryError, OverflowError, OSError) as exc:
        raise InvalidArgumentError(f"an object of {size} bytes does not fit in memory ({exc}); "
                                   f"use get_to_file or get_stream") from exc


def _check_full(layout: ObjectLayout, digest: str) -> None:
    if layout.full_checksum and digest != layout.full_checksum:
        raise IntegrityError(f"object does not match its full_checksum {layout.full_checksum}",
                             bucket_id=layout.bucket_id, key=layout.key)


@attrs.frozen(kw_only=True)
class ReadOptions:
    """Per-call read settings (the seed's ``get`` keywords map here).

    Attributes:
        attempts: retry rounds per chunk (``max_retries``); None: the config's.
        window: chunks in flight, hence parallel requests (``max_paralell_gets``); None: the config's.
        chunk_size: the ``Chunk-Size`` hint sent with each data GET (the piece size a router relays
            in); the stored chunk layout decides the chunks themselves.
        codec: decodes each stored chunk (AES-256-GCM for an encryption key); identity otherwise.
    """

    attempts: Optional[int] = None
    window: Optional[int] = None
    chunk_size: SizeLike = "1MB"
    codec: ChunkCodec = IDENTITY

    @classmethod
    def from_call(cls, *, chunk_size: Optional[SizeLike], max_retries: Optional[int],
                  max_parallel_gets: Optional[int], codec: ChunkCodec) -> ReadOptions:
        """Check and map the seed's keywords.

        Raises:
            InvalidArgumentError: a chunk size that is not a size, or a non-positive count.
        """
        for name, value in (("max_retries", max_retries), ("max_paralell_gets", max_parallel_gets)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InvalidArgumentError(f"{name} must be a positive integer, got {value!r}")
        hint = "1MB" if chunk_size is None else str(check_chunk_size(chunk_size))
        return cls(attempts=max_retries, window=max_parallel_gets, chunk_size=hint, codec=codec)


class Downloader:
    """Reads objects: into memory, as a stream of chunks, or into a file, always verified.

    Thread safety: stateless beyond its :class:`ClientCore` and read-only options; any number of
    reads may run at once.
    """

    def __init__(self, core: ClientCore, options: Optional[ReadOptions] = None) -> None:
        self._core = core
        self._opts = options or ReadOptions()

    # ----------------------------------------------------------------------------- encryption
    def _decoder(self, layout: ObjectLayout) -> Optional[ChunkCodec]:
        """The codec an encrypted object needs (None for a plain one), after refusing a plain
        object where a key was given (a downgrade) and an encrypted one without a key."""
        tags = layout.chunks[0].tags
        scheme = tags.get(P.TAG_ENCRYPTION, "")
        codec = self._opts.codec
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

    @staticmethod
    def _plain_spans(layout: ObjectLayout, codec: ChunkCodec) -> List[Tuple[int, int]]:
        """(offset, size) of each chunk's plaintext: stored size minus the codec's overhead."""
        spans, offset = [], 0
        for meta in layout.chunks:
            if meta.size < codec.overhead:
                raise IntegrityError(f"encrypted chunk {meta.key} is {meta.size} bytes, shorter than its "
                                     f"nonce and tag", bucket_id=layout.bucket_id, key=meta.key)
            spans.append((offset, meta.size - codec.overhead))
            offset += meta.size - codec.overhead
        return spans

    def _decode_chunks(self, layout: ObjectLayout, codec: ChunkCodec, indices: range, parallel: bool,
                       place: Callable[[int, bytes], None], what: str) -> None:
        """Fetch chunks ``indices`` (each checked against its stored SHA-256, replicas tried in
        turn), decrypt each with the object key, version, index and count as associated data,
        and hand the plaintext to ``place(index, plain)`` on the worker."""
        version = layout.chunks[0].tags[P.TAG_ENCRYPTION_VERSION]
        count = len(layout.chunks)

        def fetch(i: int, cancel: CancelToken) -> None:
            index = indices[i]
            stored = bytearray(layout.chunks[index].size)
            self.fetch_chunk(layout, index, memoryview(stored), cancel, verify=True)
            ctx = ChunkContext(key=layout.key, version=version, index=index, count=count)
            try:
                plain = bytes(codec.decode(stored, ctx))
            except IntegrityError as exc:
                raise IntegrityError(exc.message, bucket_id=layout.bucket_id, key=layout.chunks[index].key) from exc
            place(index, plain)

        self._core.manager(parallel, self._opts.window).run(len(indices), fetch, None, what=what,
                                                            bucket_id=layout.bucket_id, key=layout.key)

    # ------------------------------------------------------------------------------ discovery
    def layout(self, bucket_id: str, key: str, explain_missing: bool = True) -> ObjectLayout:
        """List an object's chunks once (``/chunks``); a bare ball is a one-chunk object.

        A missing object's ``NotFoundError`` says, with ``explain_missing`` (1 more request),
        when peers were unavailable or the URI does not point at a router."""
        P.check_id(bucket_id, "bucket_id")
        P.check_id(key, "key")
        try:
            listing = self._core.with_router(lambda r: r.get_by_ball_id(bucket_id, key),
                                             attempts=self._opts.attempts)
            chunks = object_chunks(listing.chunks, key)
            if chunks:
                return self._noted(layout_from_metadata(bucket_id, key, chunks))
        except NotFoundError:
            pass
        single = self.bare_ball(bucket_id, key)
        if single is None:
            # Say when peers were unavailable, or when the URI is not a router's (1 request).
            missing = NotFoundError(f"object {bucket_id}@{key} not found", bucket_id=bucket_id, key=key)
            raise explain(self._core, missing) if explain_missing else missing
        return layout_from_metadata(bucket_id, key, [single])

    def _noted(self, layout: ObjectLayout) -> ObjectLayout:
        """Log when the replicas of an object disagree (PROTOCOL §11.2-11.3): the read returns the
        newest version only, each chunk read from a replica that holds it."""
        if layout.diverged:
            first = layout.chunks[0]
            self._core.log.warning(
                "event=diverged bucket_id=%s key=%s versions=%d chosen_updated_at=%s chosen_full_checksum=%s "
                "msg=replicas hold different versions; reading the newest, pinned to replicas that hold it",
                layout.bucket_id, layout.key, layout.versions, first.tags.get(P.TAG_UPDATED_AT, ""),
                layout.full_checksum)
        return layout

    def layout_ahead(self, bucket_id: str, key: str) -> Tuple[ObjectLayout, Optional[bytearray], str]:
        """:meth:`layout`, with chunk 0 requested at the same time (one round trip, not two).

        Chunk 0's data GET goes out on the look-ahead pool while this thread lists the chunks.
        Its bytes are used only when the listing confirms them: the listed chunk 0 is
        ``{key}_0`` and the bytes have its size and its SHA-256, so a chunk 0 of another version
        (an overwrite racing this read, a diverged replica) is never used. Otherwise they are
        dropped and chunk 0 is fetched as any other chunk. A missing object raises
        ``NotFoundError`` as :meth:`layout` does (the look-ahead is the one wasted request).
        Encrypted objects ignore the bytes.

        Returns:
            The layout, chunk 0's verified bytes (or None) and their SHA-256 (or ``""``).
        """
        P.check_id(bucket_id, "bucket_id")
        P.check_id(key, "key")
        chunk_key = P.chunk_key(key, 0)
        ahead: Optional[Future[Optional[bytearray]]]
        try:  # in a copy of this context: the operation's deadline goes along
            ahead = self._core.lookahead.submit(contextvars.copy_context().run, self._read_ahead, bucket_id,
                                                chunk_key)
        except RuntimeError:  # shut down: the client is closed (``layout`` says so)
            ahead = None
        started = time.monotonic()
        try:
            layout = self.layout(bucket_id, key)
        except BaseException:
            if ahead is not None:
                ahead.cancel()
            raise
        if ahead is None:
            return layout, None, ""
        # Both requests left together; if chunk 0 lags far behind the listing (its router is
        # unreachable, say), stop waiting and read chunk 0 the regular way, with failover.
        patience = 0.05 + 2 * (time.monotonic() - started)
        try:
            data = ahead.result(timeout=patience)
        except (MictlanXError, CancelledError, FutureTimeoutError):
            ahead.cancel()
            return layout, None, ""
        first = layout.chunks[0]
        if data is None or first.key != chunk_key or len(data) != layout.spans[0].size:
            return layout, None, ""
        digest = _sha256(data)
        if digest != first.checksum:
            return layout, None, ""
        return layout, data, digest

    def _read_ahead(self, bucket_id: str, chunk_key: str) -> Optional[bytearray]:
        """One attempt at a chunk's data on the first candidate router; None on any error (the
        regular path, with its failover and retries, reads it then)."""
        candidates = self._core.balancer.candidates()
        if not candidates or self._core.closed:
            return None
        try:
            return candidates[0].get_bounded(bucket_id, chunk_key, LOOKAHEAD_LIMIT)
        except MictlanXError:
            return None

    def bare_ball(self, bucket_id: str, key: str) -> Optional[Metadata]:
        """The ball stored under ``key`` itself, when it is an object of its own: not when it is
        a chunk of another object (the key ``a_0`` names chunk 0 of ``a``, whose ``group_id`` tag
        is ``a``), so that reading or deleting ``a_0`` never reaches into ``a``."""
        try:
            meta = self._core.with_router(lambda r: r.get_metadata(bucket_id, key)).metadata
        except NotFoundError:
            return None
        return meta if meta.tags.get(P.TAG_GROUP_ID, key) == key else None

    # -------------------------------------------------------------------------------- chunks
    def fetch_chunk(self, layout: ObjectLayout, index: int, buffer: memoryview,
                    cancel: Optional[CancelToken], verify: bool = True) -> None:
        """Read chunk ``index`` into ``buffer`` and, with ``verify``, check its SHA-256 (reading
        it from each replica in turn on a mismatch). Without ``verify`` the caller checks the whole
        object and repairs what is wrong (:meth:`verify_whole`)."""
        meta = layout.chunks[index]
        # Replicas disagree: an unpinned read may be served by a replica of another version, so
        # every replica is read pinned (Peer-Id) and checked until one holds this version.
        pinned_only = layout.diverged

        def attempt(router: Router) -> None:
            if not pinned_only:
                router.get_into(layout.bucket_id, meta.key, buffer, chunk_size=self._opts.chunk_size)
                if not verify or _sha256(buffer) == meta.checksum:
                    return
            # One replica served bad bytes: read from each replica in turn, pinned with Peer-Id.
            try:
                replicas = [r.peer_id for r in router.get_size(layout.bucket_id, meta.key)]
            except MictlanXError:
                replicas = []
            for peer_id in dict.fromkeys(replicas):
                self._core.log.debug("chunk %d (%s@%s): reading the replica on %s", index, layout.bucket_id,
                                     meta.key, peer_id)
                try:  # a replica of another version may also have another size
                    router.get_into(layout.bucket_id, meta.key, buffer, peer_id=peer_id,
                                    chunk_size=self._opts.chunk_size)
                except (IntegrityError, NotFoundError):
                    continue
                if _sha256(buffer) == meta.checksum:
                    return
            if pinned_only and not replicas:  # no size listing: one unpinned read, checked
                router.get_into(layout.bucket_id, meta.key, buffer, chunk_size=self._opts.chunk_size)
                if _sha256(buffer) == meta.checksum:
                    return
            raise IntegrityError(f"chunk {index} ({meta.key}) does not match its SHA-256 on any replica",
                                 bucket_id=layout.bucket_id, key=meta.key)

        self._core.with_router(attempt, cancel=cancel, retry_integrity=True, attempts=self._opts.attempts,
                               data=True)

    def verify_whole(self, layout: ObjectLayout, digest: str, chunk: Callable[[int], Union[bytes, memoryview]],
                     store: Callable[[int, bytearray], None], rehash: Callable[[], str]) -> None:
        """Check an assembled object against its ``full_checksum``; the chunks' own SHA-256 are
        checked only when that fails (or there is no full checksum): bad chunks are fetched again,
        each verified and read from another replica if need be, and the whole is checked again.

        Hashing every byte once in the common case, instead of once per chunk and once whole,
        is what lets a read keep up with the wire on a small machine.

        Raises:
            IntegrityError: the object cannot be made to match its checksums.
        """
        if layout.full_checksum and digest == layout.full_checksum:
            return
        bad = [i for i, meta in enumerate(layout.chunks) if _sha256(chunk(i)) != meta.checksum]
        if not bad and layout.full_checksum:
            raise IntegrityError(f"every chunk matches its SHA-256 but the object does not match its "
                                 f"full_checksum {layout.full_checksum}", bucket_id=layout.bucket_id,
                                 key=layout.key)
        for index in bad:
            data = bytearray(layout.spans[index].size)
            self.fetch_chunk(layout, index, memoryview(data), None, verify=True)
            store(index, data)
        if bad and layout.full_checksum:
            _check_full(layout, rehash())

    # ------------------------------------------------------------------------------- memory
    def get(self, bucket_id: str, key: str, progress: ProgressArg, use_cache: bool,
            parallel: bool) -> GetResult:
        """A whole object in memory, its chunks fetched on the pool (``parallel``) or on this thread."""
        core = self._core
        with core.operation("get", bucket_id, key) as record:
            if use_cache and core.cache.capacity and (bucket_id, key) in core.cache:
                layout, first, first_sum = self.layout(bucket_id, key), None, ""  # likely a cache hit
            else:
                layout, first, first_sum = self.layout_ahead(bucket_id, key)
            info = ObjectInfo.from_chunks(bucket_id, key, layout.chunks, layout.full_checksum)
            if info.is_disabled:  # as the servers would answer; the cache must not outlive a disable
                core.cache.invalidate((bucket_id, key))
                raise ForbiddenError(f"object {bucket_id}@{key} is disabled", bucket_id=bucket_id, key=key,
                                     status=403)
            codec = self._decoder(layout)
            if codec is not None:  # not cached: an encrypted object has no plaintext digest to key it by
                plain = self._read_encrypted(layout, codec, progress, parallel)
                record["bytes"] = len(plain)
                return GetResult(data=memoryview(plain).toreadonly(), info=attrs.evolve(info, size=len(plain)))
            cached = core.cache.get((bucket_id, key), layout.full_checksum) if use_cache else None
            if cached is not None:
                core.log.debug("cache hit %s@%s (%d bytes)", bucket_id, key, len(cached))
            data = cached if cached is not None else self._read_layout(layout, progress, parallel, first, first_sum)
            if use_cache and cached is None:
                core.cache.put((bucket_id, key), data, layout.full_checksum)
            record["bytes"] = len(data)
            return GetResult(data=memoryview(data).toreadonly(), info=info)

    def _read_encrypted(self, layout: ObjectLayout, codec: ChunkCodec, progress: ProgressArg,
                        parallel: bool) -> Buffer:
        spans = self._plain_spans(layout, codec)
        buffer = _allocate(sum(size for _, size in spans))
        view = memoryview(buffer)
        meter = Progress(len(buffer), progress, description=f"get {layout.key}")

        def place(index: int, plain: bytes) -> None:
            offset, size = spans[index]
            if len(plain) != size:
                raise IntegrityError(f"chunk {index} decrypted to {len(plain)} bytes, expected {size}",
                                     bucket_id=layout.bucket_id, key=layout.key)
            view[offset:offset + size] = plain
            meter.add(size)

        try:
            self._decode_chunks(layout, codec, range(len(layout.chunks)), parallel, place, "get")
        finally:
            meter.close()
        return buffer

    def _read_layout(self, layout: ObjectLayout, progress: ProgressArg, parallel: bool,
                     first: Optional[bytearray] = None, first_sum: str = "") -> Buffer:
        """Fetch and verify every chunk into one buffer; ``first`` is chunk 0 already read and
        verified (its SHA-256 is ``first_sum``): a one-chunk object is then that buffer as is."""
        single = first is not None and len(layout.spans) == 1
        buffer: Buffer = first if single and first is not None else _allocate(layout.size)
        view = memoryview(buffer)
        digest = hashlib.sha256()
        meter = Progress(layout.size, progress, description=f"get {layout.key}")

        def chunk(index: int) -> memoryview:
            span = layout.spans[index]
            return view[span.offset:span.offset + span.size]

        def fetch(index: int, cancel: CancelToken) -> None:
            if index != 0 or first is None:
                self.fetch_chunk(layout, index, chunk(index), cancel, verify=False)
            meter.add(layout.spans[index].size)

        def hash_in_order(index: int, _: None) -> None:
            if not single:
                digest.update(chunk(index))

        def store(index: int, data: bytearray) -> None:
            chunk(index)[:] = data

        if first is not None and not single:
            chunk(0)[:] = first
        try:
            self._core.manager(parallel, self._opts.window).run(len(layout.spans), fetch, hash_in_order, what="get",
                                             bucket_id=layout.bucket_id, key=layout.key)
        finally:
            meter.close()
        self.verify_whole(layout, first_sum if single else digest.hexdigest(), chunk, store, lambda: _sha256(view))
        return buffer

    # ------------------------------------------------------------------------------- stream
    def stream(self, bucket_id: str, key: str) -> Iterator[bytes]:
        """Yield the object's chunks in order, each verified; at most ``window`` chunks held."""
        layout, first, _ = self.layout_ahead(bucket_id, key)
        window = self._opts.window or self._core.config.transfer.effective_window
        codec = self._decoder(layout)
        if codec is not None:
            yield from self._stream_encrypted(layout, codec, window)
            return
        digest = hashlib.sha256()
        for start in range(0, len(layout.spans), window):
            batch = layout.spans[start:start + window]
            buffers = [bytearray(span.size) for span in batch]
            ready: List[bytes] = []

            def fetch(i: int, cancel: CancelToken, _start: int = start,
                      _buffers: List[bytearray] = buffers) -> None:
                if _start + i == 0 and first is not None:
                    _buffers[i] = first  # read beside the listing, already verified
                    return
                self.fetch_chunk(layout, _start + i, memoryview(_buffers[i]), cancel)

            def keep(i: int, _: None, _buffers: List[bytearray] = buffers, _ready: List[bytes] = ready) -> None:
                digest.update(_buffers[i])
                _ready.append(bytes(_buffers[i]))

            self._core.manager(True, window).run(len(batch), fetch, keep, what="get_stream", bucket_id=bucket_id,
                                                 key=key)
            yield from ready
        _check_full(layout, digest.hexdigest())

    def _stream_encrypted(self, layout: ObjectLayout, codec: ChunkCodec, window: int) -> Iterator[bytes]:
        """Decrypted chunks in order, ``window`` at a time; each is authenticated before it is yielded."""
        self._plain_spans(layout, codec)
        for start in range(0, len(layout.chunks), window):
            indices = range(start, min(start + window, len(layout.chunks)))
            plain: Dict[int, bytes] = {}
            self._decode_chunks(layout, codec, indices, True, plain.__setitem__, "get_stream")
            yield from (plain[i] for i in indices)

    # --------------------------------------------------------------------------------- file
    def to_file(self, bucket_id: str, key: str, output_path: str, fullname: Optional[str],
                progress: ProgressArg, overwrite: bool = False) -> SavedFile:
        """Fetch an object into a temp file beside the target, verify it, rename it into place.

        An existing target is never replaced unless ``overwrite``; one with the object's SHA-256
        is left as it is (``SavedFile.unchanged``). Both are decided before any chunk is fetched.
        """
        with self._core.operation("get_to_file", bucket_id, key) as record:
            layout, first, _ = self.layout_ahead(bucket_id, key)
            target, directory = target_path(layout, output_path, fullname)
            if _same_file(target, layout, overwrite):
                self._core.log.info("get_to_file %s@%s: %s already holds this object (same SHA-256); "
                                    "nothing fetched", bucket_id, key, target)
                return SavedFile(target, unchanged=True)
            if directory is not None:
                try:
                    os.makedirs(directory, exist_ok=True)
                except OSError as exc:
                    raise _local_error("cannot create directory", directory, exc, bucket_id, key) from exc
            codec = self._decoder(layout)
            if codec is not None:
                record["bytes"] = self._encrypted_to_file(layout, codec, target, progress)
                return SavedFile(target)
            sink = _open_sink(target, layout.size, bucket_id, key)
            meter = Progress(layout.size, progress, description=f"get {key}")
            digest = hashlib.sha256()

            def fetch(index: int, cancel: CancelToken) -> bytearray:
                span = layout.spans[index]
                if index == 0 and first is not None:
                    buffer = first  # read beside the listing, already verified
                else:
                    buffer = bytearray(span.size)
                    self.fetch_chunk(layout, index, memoryview(buffer), cancel, verify=False)
                if not _write(sink, buffer, span.offset, bucket_id, key):
                    raise NetworkError("transfer cancelled", bucket_id=bucket_id, key=key)
                meter.add(span.size)
                return buffer

            def hash_in_order(index: int, buffer: bytearray) -> None:
                digest.update(buffer)

            def chunk(index: int) -> bytes:
                span = layout.spans[index]
                return sink.read(span.offset, span.size)

            def store(index: int, data: bytearray) -> None:
                sink.write(data, layout.spans[index].offset)

            def rehash() -> str:
                whole = hashlib.sha256()
                for offset in range(0, layout.size, 8 << 20):
                    whole.update(sink.read(offset, min(8 << 20, layout.size - offset)))
                return whole.hexdigest()

            try:
                with _local_io(target, bucket_id, key):
                    self._core.manager(True, self._opts.window).run(len(layout.spans), fetch, hash_in_order,
                                                                    what="get_to_file",
                                                                    bucket_id=bucket_id, key=key)
                    self.verify_whole(layout, digest.hexdigest(), chunk, store, rehash)
                    sink.commit()
            except BaseException:
                sink.abort()
                raise
            finally:
                meter.close()
            record["bytes"] = layout.size
            return SavedFile(target)

    def _encrypted_to_file(self, layout: ObjectLayout, codec: ChunkCodec, target: str,
                           progress: ProgressArg) -> int:
        """Decrypt each chunk into a temp file beside ``target``; renamed into place only when
        every chunk authenticated, removed otherwise. Returns the plaintext size."""
        spans = self._plain_spans(layout, codec)
        total = sum(size for _, size in spans)
        sink = _open_sink(target, total, layout.bucket_id, layout.key)
        meter = Progress(total, progress, description=f"get {layout.key}")

        def place(index: int, plain: bytes) -> None:
            offset, size = spans[index]
            if len(plain) != size:
                raise IntegrityError(f"chunk {index} decrypted to {len(plain)} bytes, expected {size}",
                                     bucket_id=layout.bucket_id, key=layout.key)
            if not _write(sink, plain, offset, layout.bucket_id, layout.key):
                raise NetworkError("transfer cancelled", bucket_id=layout.bucket_id, key=layout.key)
            meter.add(size)

        try:
            with _local_io(target, layout.bucket_id, layout.key):
                self._decode_chunks(layout, codec, range(len(layout.chunks)), True, place, "get_to_file")
                sink.commit()
        except BaseException:
            sink.abort()
            raise
        finally:
            meter.close()
        return total

    # -------------------------------------------------------------------------------- range
    def read_range(self, layout: ObjectLayout, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of an object, fetching only the chunks that cover them (in
        parallel), each verified against its SHA-256. ``start``/``end`` are clipped to the object."""
        start, end = max(0, min(start, layout.size)), max(0, min(end, layout.size))
        if start >= end:
            return b""
        covering = [span for span in layout.spans if span.offset < end and span.offset + span.size > start]
        buffers = [bytearray(span.size) for span in covering]

        def fetch(i: int, cancel: CancelToken) -> None:
            self.fetch_chunk(layout, covering[i].index, memoryview(buffers[i]), cancel, verify=True)

        self._core.manager(len(covering) > 1).run(len(covering), fetch, lambda i, _: None, what="get_range",
                                                  bucket_id=layout.bucket_id, key=layout.key)
        first = covering[0].offset
        return b"".join(buffers)[start - first:end - first]

    def chunk(self, bucket_id: str, key: str, index: int) -> Tuple[Metadata, bytes]:
        """One chunk of an object and its metadata, verified against the chunk's SHA-256."""
        P.check_id(bucket_id, "bucket_id")
        P.check_id(key, "key")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise InvalidArgumentError(f"index must be a non-negative integer, got {index!r}")
        chunk_key = P.chunk_key(key, index)
        meta = self._core.with_router(lambda r: r.get_metadata(bucket_id, chunk_key)).metadata
        layout = ObjectLayout(bucket_id=bucket_id, key=key, chunks=(meta,), spans=(), full_checksum="")
        buffer = bytearray(check_size(meta))
        self.fetch_chunk(layout, 0, memoryview(buffer), None)
        return meta, bytes(buffer)


def _local_error(what: str, path: str, exc: OSError, bucket_id: str, key: str) -> LocalIOError:
    """A local ``OSError`` as a :class:`LocalIOError` naming the caller's ``path``."""
    reason = exc.strerror or str(exc)
    return LocalIOError(f"{what} {path!r}: {reason}", path=path, cause=exc, bucket_id=bucket_id, key=key)


def _open_sink(target: str, size: int, bucket_id: str, key: str) -> FileSink:
    """A :class:`FileSink` for ``target``; a local failure is a :class:`LocalIOError` naming it."""
    try:
        return FileSink(target, size)
    except OSError as exc:
        if isinstance(exc, MictlanXError):
            raise
        raise _local_error("cannot write", target, exc, bucket_id, key) from exc


def _write(sink: FileSink, data: Union[bytes, bytearray, memoryview], offset: int, bucket_id: str, key: str) -> bool:
    """``sink.write``; a local failure (disk full) is a :class:`LocalIOError` naming the target."""
    try:
        return sink.write(data, offset)
    except OSError as exc:
        raise _local_error("cannot write", sink.target, exc, bucket_id, key) from exc


@contextlib.contextmanager
def _local_io(target: str, bucket_id: str, key: str) -> Iterator[None]:
    """Local I/O failures inside a transfer as themselves: a :class:`LocalIOError` a worker raised
    (disk full) is not a transfer failure, and a bare ``OSError`` (fsync, rename) names ``target``."""
    try:
        yield
    except TransferError as exc:
        if isinstance(exc.cause, LocalIOError):
            raise exc.cause from exc
        raise
    except OSError as exc:
        if isinstance(exc, MictlanXError):
            raise
        raise _local_error("cannot write", target, exc, bucket_id, key) from exc


def _known_checksum(layout: ObjectLayout) -> str:
    """The object's SHA-256 when the metadata tells it (full checksum, or a one-chunk object's);
    never for an encrypted object, whose chunk checksums are of the ciphertext."""
    if layout.chunks[0].tags.get(P.TAG_ENCRYPTION):
        return ""
    if layout.full_checksum:
        return layout.full_checksum
    return layout.chunks[0].checksum if len(layout.chunks) == 1 else ""


def _same_file(target: str, layout: ObjectLayout, overwrite: bool) -> bool:
    """Whether ``target`` already holds the object (same size and SHA-256).

    Raises:
        LocalFileExistsError: something else is there and ``overwrite`` is False.
        LocalIOError: the existing file cannot be read.
    """
    if not os.path.lexists(target):
        return False
    checksum = _known_checksum(layout)
    try:
        if checksum and os.path.isfile(target) and os.path.getsize(target) == layout.size:
            digest = hashlib.sha256()
            with open(target, "rb") as existing:
                for piece in iter(lambda: existing.read(1 << 20), b""):
                    digest.update(piece)
            if digest.hexdigest() == checksum:
                return True
    except OSError as exc:
        raise _local_error("cannot read existing file", target, exc, layout.bucket_id, layout.key) from exc
    if overwrite:
        return False
    raise LocalFileExistsError(
        f"{target!r} already exists with other content; nothing was fetched (pass overwrite=True, "
        f"or --force on the command line, to replace it)", path=target,
        cause=FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST)), bucket_id=layout.bucket_id,
        key=layout.key)


_MAX_FILE_NAME = 255  # bytes: NAME_MAX on Linux, macOS and the usual file systems


def _check_file_name(name: str, *, given: bool, bucket_id: str, key: str) -> None:
    """Refuse a file name no file system takes (a NUL, or more than 255 bytes once encoded) before
    anything is fetched: ``InvalidArgumentError`` for the caller's ``fullname``, ``ProtocolError``
    for a ``fullname`` tag the server sent."""
    problem = ""
    if "\x00" in name:
        problem = "contains a NUL character"
    else:
        try:
            encoded = os.fsencode(os.path.basename(name))
        except UnicodeError:
            encoded = b""
            problem = "cannot be encoded for this file system"
        if len(encoded) > _MAX_FILE_NAME:
            problem = f"is {len(encoded)} bytes long (at most {_MAX_FILE_NAME})"
    if not problem:
        return
    if given:
        raise InvalidArgumentError(f"file name {name[:80]!r} {problem}", bucket_id=bucket_id, key=key)
    raise ProtocolError(f"the object's fullname tag {name[:80]!r} {problem}; pass fullname= (or a file "
                        f"path as output_path) to choose another name", bucket_id=bucket_id, key=key)


def target_path(layout: ObjectLayout, output_path: str, fullname: Optional[str]) -> Tuple[str, Optional[str]]:
    """The file ``get_to_file`` writes, and the directory to create for it (or None).

    ``output_path`` is a directory when it is one, when it ends with a separator or when
    ``fullname`` is given (a missing one is created, as the reference client does); the file
    name inside it is ``fullname``, else the ``fullname`` tag, else ``{key}.{extension}``, else
    ``key``, reduced to its last component so that a name never leads outside the directory.
    Otherwise ``output_path`` is the file itself. ``InvalidArgumentError`` for a bad name or a
    directory in the way, before anything is fetched.
    """
    is_dir = os.path.isdir(output_path)
    if not is_dir and not output_path.endswith(("/", os.sep)) and fullname is None:
        return output_path, None
    if not is_dir and os.path.lexists(output_path):
        raise InvalidArgumentError(f"{output_path!r} is a file, not a directory to save "
                                   f"{layout.bucket_id}@{layout.key} in")
    tags = layout.chunks[0].tags
    stem = N.name_of(layout.key, tags).rsplit("/", 1)[-1]  # "2024/cat.jpg" -> "cat.jpg"
    name = fullname or tags.get(P.TAG_FULLNAME) or (
        f"{stem}.{tags[P.TAG_EXTENSION]}" if tags.get(P.TAG_EXTENSION) else stem)
    _check_file_name(name, given=bool(fullname), bucket_id=layout.bucket_id, key=layout.key)
    name = os.path.basename(name.replace("\\", "/").rstrip("/"))
    if name in ("", ".", ".."):
        raise InvalidArgumentError(f"invalid file name {name!r} for {layout.bucket_id}@{layout.key}")
    target = os.path.join(output_path, name)
    if os.path.isdir(target):
        raise InvalidArgumentError(f"a directory is in the way of the file: {target!r}")
    return target, None if is_dir else output_path
