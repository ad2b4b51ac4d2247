"""The get pipeline: list an object's chunks once, fetch them in parallel, verify, place them."""

from __future__ import annotations

import hashlib
import mmap
import os
from typing import Callable, Iterator, List, Optional, Tuple, Union

from . import _protocol as P
from ._core import ClientCore
from .errors import ForbiddenError, IntegrityError, InvalidArgumentError, MictlanXError, NetworkError, NotFoundError
from .models import Metadata
from .results import GetResult, ObjectInfo
from .router import Router
from .transfer.chunking import ObjectLayout, layout_from_metadata
from .transfer.manager import CancelToken
from .transfer.progress import Progress, ProgressArg
from .transfer.sink import FileSink

__all__ = ["Downloader", "Buffer"]

Buffer = Union[bytearray, mmap.mmap]


def _sha256(data: Union[bytes, bytearray, memoryview]) -> str:
    return hashlib.sha256(data).hexdigest()


def _allocate(size: int) -> Buffer:
    """A writable buffer for a whole object. Large ones are anonymous memory maps: the kernel
    hands out zeroed pages as the workers first write them, instead of ``bytearray`` zeroing the
    whole object on the caller's thread before any chunk can arrive."""
    if size < (1 << 20):
        return bytearray(size)
    return mmap.mmap(-1, size)


def _check_full(layout: ObjectLayout, digest: str) -> None:
    if layout.full_checksum and digest != layout.full_checksum:
        raise IntegrityError(f"object does not match its full_checksum {layout.full_checksum}",
                             bucket_id=layout.bucket_id, key=layout.key)


class Downloader:
    """Reads objects: into memory, as a stream of chunks, or into a file, always verified.

    Thread safety: stateless beyond its :class:`ClientCore`; any number of reads may run at once.
    """

    def __init__(self, core: ClientCore) -> None:
        self._core = core

    # ------------------------------------------------------------------------------ discovery
    def layout(self, bucket_id: str, key: str) -> ObjectLayout:
        """List an object's chunks once (``/chunks``); a bare ball is a one-chunk object."""
        P.check_id(bucket_id, "bucket_id")
        P.check_id(key, "key")
        try:
            listing = self._core.with_router(lambda r: r.get_by_ball_id(bucket_id, key))
            chunks = [c for c in listing.chunks if c.key == key or c.tags.get(P.TAG_GROUP_ID, key) == key]
            if chunks:
                return layout_from_metadata(bucket_id, key, chunks)
        except NotFoundError:
            pass
        single = self.bare_ball(bucket_id, key)
        if single is None:
            raise NotFoundError(f"object {bucket_id}@{key} not found", bucket_id=bucket_id, key=key)
        return layout_from_metadata(bucket_id, key, [single])

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

        def attempt(router: Router) -> None:
            router.get_into(layout.bucket_id, meta.key, buffer)
            if not verify or _sha256(buffer) == meta.checksum:
                return
            # One replica served bad bytes: read from each replica in turn, pinned with Peer-Id.
            try:
                replicas = [r.peer_id for r in router.get_size(layout.bucket_id, meta.key)]
            except MictlanXError:
                replicas = []
            for peer_id in dict.fromkeys(replicas):
                router.get_into(layout.bucket_id, meta.key, buffer, peer_id=peer_id)
                if _sha256(buffer) == meta.checksum:
                    return
            raise IntegrityError(f"chunk {index} ({meta.key}) does not match its SHA-256 on any replica",
                                 bucket_id=layout.bucket_id, key=meta.key)

        self._core.with_router(attempt, cancel=cancel, retry_integrity=True)

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
            layout = self.layout(bucket_id, key)
            info = ObjectInfo.from_chunks(bucket_id, key, layout.chunks, layout.full_checksum)
            if info.is_disabled:  # as the servers would answer; the cache must not outlive a disable
                core.cache.invalidate((bucket_id, key))
                raise ForbiddenError(f"object {bucket_id}@{key} is disabled", bucket_id=bucket_id, key=key,
                                     status=403)
            cached = core.cache.get((bucket_id, key), layout.full_checksum) if use_cache else None
            data = cached if cached is not None else self._read_layout(layout, progress, parallel)
            if use_cache and cached is None:
                core.cache.put((bucket_id, key), data, layout.full_checksum)
            record["bytes"] = len(data)
            return GetResult(data=memoryview(data).toreadonly(), info=info)

    def _read_layout(self, layout: ObjectLayout, progress: ProgressArg, parallel: bool) -> Buffer:
        buffer = _allocate(layout.size)
        view = memoryview(buffer)
        digest = hashlib.sha256()
        meter = Progress(layout.size, progress, description=f"get {layout.key}")

        def chunk(index: int) -> memoryview:
            span = layout.spans[index]
            return view[span.offset:span.offset + span.size]

        def fetch(index: int, cancel: CancelToken) -> None:
            self.fetch_chunk(layout, index, chunk(index), cancel, verify=False)
            meter.add(layout.spans[index].size)

        def hash_in_order(index: int, _: None) -> None:
            digest.update(chunk(index))

        def store(index: int, data: bytearray) -> None:
            chunk(index)[:] = data

        try:
            self._core.manager(parallel).run(len(layout.spans), fetch, hash_in_order, what="get",
                                             bucket_id=layout.bucket_id, key=layout.key)
        finally:
            meter.close()
        self.verify_whole(layout, digest.hexdigest(), chunk, store, lambda: _sha256(view))
        return buffer

    # ------------------------------------------------------------------------------- stream
    def stream(self, bucket_id: str, key: str) -> Iterator[bytes]:
        """Yield the object's chunks in order, each verified; at most ``window`` chunks held."""
        layout = self.layout(bucket_id, key)
        window = self._core.config.transfer.effective_window
        digest = hashlib.sha256()
        for start in range(0, len(layout.spans), window):
            batch = layout.spans[start:start + window]
            buffers = [bytearray(span.size) for span in batch]
            ready: List[bytes] = []

            def fetch(i: int, cancel: CancelToken, _start: int = start,
                      _buffers: List[bytearray] = buffers) -> None:
                self.fetch_chunk(layout, _start + i, memoryview(_buffers[i]), cancel)

            def keep(i: int, _: None, _buffers: List[bytearray] = buffers, _ready: List[bytes] = ready) -> None:
                digest.update(_buffers[i])
                _ready.append(bytes(_buffers[i]))

            self._core.manager().run(len(batch), fetch, keep, what="get_stream", bucket_id=bucket_id, key=key)
            yield from ready
        _check_full(layout, digest.hexdigest())

    # --------------------------------------------------------------------------------- file
    def to_file(self, bucket_id: str, key: str, output_path: str, fullname: Optional[str],
                progress: ProgressArg) -> str:
        """Fetch an object into a temp file beside the target, verify it, rename it into place."""
        with self._core.operation("get_to_file", bucket_id, key) as record:
            layout = self.layout(bucket_id, key)
            target = target_path(layout, output_path, fullname)
            sink = FileSink(target, layout.size)
            meter = Progress(layout.size, progress, description=f"get {key}")
            digest = hashlib.sha256()

            def fetch(index: int, cancel: CancelToken) -> bytearray:
                span = layout.spans[index]
                buffer = bytearray(span.size)
                self.fetch_chunk(layout, index, memoryview(buffer), cancel, verify=False)
                if not sink.write(buffer, span.offset):
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
                self._core.manager().run(len(layout.spans), fetch, hash_in_order, what="get_to_file",
                                         bucket_id=bucket_id, key=key)
                self.verify_whole(layout, digest.hexdigest(), chunk, store, rehash)
                sink.commit()
            except BaseException:
                sink.abort()
                raise
            finally:
                meter.close()
            record["bytes"] = layout.size
            return target

    def chunk(self, bucket_id: str, key: str, index: int) -> Tuple[Metadata, bytes]:
        """One chunk of an object and its metadata, verified against the chunk's SHA-256."""
        P.check_id(bucket_id, "bucket_id")
        P.check_id(key, "key")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise InvalidArgumentError(f"index must be a non-negative integer, got {index!r}")
        chunk_key = P.chunk_key(key, index)
        meta = self._core.with_router(lambda r: r.get_metadata(bucket_id, chunk_key)).metadata
        layout = ObjectLayout(bucket_id=bucket_id, key=key, chunks=(meta,), spans=(), full_checksum="")
        buffer = bytearray(meta.size)
        self.fetch_chunk(layout, 0, memoryview(buffer), None)
        return meta, bytes(buffer)


def target_path(layout: ObjectLayout, output_path: str, fullname: Optional[str]) -> str:
    """The file ``get_to_file`` writes: ``output_path`` itself, or a name inside it when it
    is a directory (``InvalidArgumentError`` for a missing directory or a directory in the
    way, before anything is fetched)."""
    if not os.path.isdir(output_path):
        if output_path.endswith(("/", os.sep)):
            raise InvalidArgumentError(f"directory does not exist: {output_path!r}")
        return output_path
    tags = layout.chunks[0].tags
    name = fullname or tags.get(P.TAG_FULLNAME) or (
        f"{layout.key}.{tags[P.TAG_EXTENSION]}" if tags.get(P.TAG_EXTENSION) else layout.key)
    name = os.path.basename(name)
    if name in ("", ".", ".."):
        raise InvalidArgumentError(f"invalid file name {name!r} for {layout.bucket_id}@{layout.key}")
    target = os.path.join(output_path, name)
    if os.path.isdir(target):
        raise InvalidArgumentError(f"a directory is in the way of the file: {target!r}")
    return target
