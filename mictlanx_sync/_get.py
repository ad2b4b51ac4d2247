"""The get pipeline: list an object's chunks once, fetch them in parallel, verify, place them in
memory or a stream (finding the chunks: ``_getlayout``; encrypted objects: ``_getcrypt``; local
files: ``_getfile``)."""

from __future__ import annotations

import hashlib
import mmap
from typing import Any, Callable, Iterator, List, Optional, Tuple, Union

import attrs

from . import _protocol as P
from ._core import ClientCore
from ._getcrypt import decode_all, decoder, plain_spans, stream_encrypted
from ._getfile import save
from ._getlayout import bare_ball, find_layout, find_layout_ahead
from .config import check_chunk_size
from .errors import ForbiddenError, IntegrityError, InvalidArgumentError, MictlanXError, NotFoundError
from .models import Metadata
from .results import GetResult, ObjectInfo, SavedFile
from .router import Router
from .transfer.chunking import ObjectLayout, check_size
from .transfer.codec import IDENTITY, ChunkCodec
from .transfer.manager import CancelToken
from .transfer.progress import Progress, ProgressArg
from .units import SizeLike

__all__ = ["Downloader", "Buffer", "ReadOptions"]

Buffer = Union[bytearray, mmap.mmap]


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

    @property
    def core(self) -> ClientCore:
        """The client core this reader works through."""
        return self._core

    @property
    def options(self) -> ReadOptions:
        """This reader's per-call settings."""
        return self._opts

    def run_chunks(self, layout: ObjectLayout, count: int, fetch: Callable[[int, CancelToken], Any],
                   keep: Optional[Callable[[int, Any], None]], *, parallel: bool, what: str) -> None:
        """Run ``fetch(i, cancel)`` for ``count`` chunks of ``layout`` within this read's window, on
        the pool (``parallel``) or this thread, and ``keep(i, result)`` in order."""
        self._core.manager(parallel, self._opts.window).run(count, fetch, keep, what=what,
                                                            bucket_id=layout.bucket_id, key=layout.key)

    # ------------------------------------------------------------------------------ discovery
    def layout(self, bucket_id: str, key: str, explain_missing: bool = True) -> ObjectLayout:
        """An object's chunks (:func:`~mictlanx_sync._getlayout.find_layout`, this read's attempts)."""
        return find_layout(self._core, bucket_id, key, attempts=self._opts.attempts, explain_missing=explain_missing)

    def layout_ahead(self, bucket_id: str, key: str) -> Tuple[ObjectLayout, Optional[bytearray], str]:
        """An object's chunks and, when it could be confirmed, chunk 0 read beside them
        (:func:`~mictlanx_sync._getlayout.find_layout_ahead`, this read's attempts)."""
        return find_layout_ahead(self._core, bucket_id, key, attempts=self._opts.attempts)

    def bare_ball(self, bucket_id: str, key: str) -> Optional[Metadata]:
        """The ball stored under ``key`` when it is an object of its own
        (:func:`~mictlanx_sync._getlayout.bare_ball`)."""
        return bare_ball(self._core, bucket_id, key)

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
            codec = decoder(layout, self._opts.codec)
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
        """Decrypt every chunk of an encrypted object into one buffer."""
        spans = plain_spans(layout, codec)
        buffer = _allocate(sum(size for _, size in spans))
        view = memoryview(buffer)
        meter = Progress(len(buffer), progress, description=f"get {layout.key}")

        def write(offset: int, plain: bytes) -> None:
            view[offset:offset + len(plain)] = plain

        try:
            decode_all(self, layout, codec, spans, write, meter, parallel, "get")
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
            self.run_chunks(layout, len(layout.spans), fetch, hash_in_order, parallel=parallel, what="get")
        finally:
            meter.close()
        self.verify_whole(layout, first_sum if single else digest.hexdigest(), chunk, store, lambda: _sha256(view))
        return buffer

    # ------------------------------------------------------------------------------- stream
    def stream(self, bucket_id: str, key: str) -> Iterator[bytes]:
        """Yield the object's chunks in order, each verified; at most ``window`` chunks held."""
        layout, first, _ = self.layout_ahead(bucket_id, key)
        window = self._opts.window or self._core.config.transfer.effective_window
        codec = decoder(layout, self._opts.codec)
        if codec is not None:
            yield from stream_encrypted(self, layout, codec, window)
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

    # --------------------------------------------------------------------------------- file
    def to_file(self, bucket_id: str, key: str, output_path: str, fullname: Optional[str],
                progress: ProgressArg, overwrite: bool = False) -> SavedFile:
        """Fetch an object into a temp file beside the target, verify it, rename it into place.

        An existing target is never replaced unless ``overwrite``; one with the object's SHA-256
        is left as it is (``SavedFile.unchanged``). Both are decided before any chunk is fetched.
        """
        return save(self, bucket_id, key, output_path, fullname, progress, overwrite)

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
