"""Client: chunked, parallel, verified transfers between synchronous Python and MictlanX."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import mmap
import os
import random
import time
import uuid
from concurrent.futures import CancelledError, ThreadPoolExecutor
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

import attrs

from . import _protocol as P
from ._http import SessionFactory
from .balancer import RoundRobinBalancer
from .cache import Cache
from .config import ClientConfig, check_chunk_size
from .errors import (
    AlreadyExistsError,
    ForbiddenError,
    IntegrityError,
    InvalidArgumentError,
    MaxAvailabilityReachedError,
    MictlanXError,
    NetworkError,
    NotFoundError,
    ServerError,
)
from .log import LOG_PATH_ENV, get_logger, release_logger
from .models import BallMetadata, DeletedByKeyResponse, Metadata
from .results import GetResult, ItemResult, ObjectInfo, PutResult
from .router import Router
from .transfer.chunking import ObjectLayout, layout_from_metadata
from .transfer.manager import CancelToken, TransferManager
from .transfer.progress import Progress, ProgressArg
from .transfer.sink import FileSink
from .transfer.sources import FileSource, ListSource, Source, checksums, open_source
from .units import SizeLike, parse_size
from .uri import DEFAULT_URI, MictlanXURI

__all__ = ["Client", "URI_ENV"]

URI_ENV = "MICTLANX_URI"
R = TypeVar("R")
# Errors a transfer hands back as themselves: the caller acts on them, not on "a chunk failed".
_PASSTHROUGH = (IntegrityError, NotFoundError, ForbiddenError, AlreadyExistsError, InvalidArgumentError)


def _sha256(data: Union[bytes, bytearray, memoryview]) -> str:
    return hashlib.sha256(data).hexdigest()


Buffer = Union[bytearray, mmap.mmap]


def _allocate(size: int) -> Buffer:
    """A writable buffer for a whole object. Large ones are anonymous memory maps: the kernel
    hands out zeroed pages as the workers first write them, instead of ``bytearray`` zeroing the
    whole object on the caller's thread before any chunk can arrive."""
    if size < (1 << 20):
        return bytearray(size)
    return mmap.mmap(-1, size)


def _check_user_tags(tags: Optional[Mapping[str, str]]) -> Dict[str, str]:
    """``P.check_tags``, and ``updated_at`` (which readers sort by) must be an integer string."""
    user_tags = P.check_tags(tags)
    updated_at = user_tags.get(P.TAG_UPDATED_AT)
    if updated_at is not None and not updated_at.isdigit():
        raise InvalidArgumentError(f"tag 'updated_at' must be an integer string, got {updated_at!r}")
    return user_tags


def _delete_on(router: Router, *, bucket_id: str, key: str) -> DeletedByKeyResponse:
    return router.delete(bucket_id, key)


def _update_on(router: Router, *, bucket_id: str, metadata: Metadata) -> None:
    router.update_metadata(bucket_id, metadata.key, metadata)


def _disable_on(router: Router, *, bucket_id: str, key: str) -> None:
    router.disable(bucket_id, key)


class Client:
    """The high-level MictlanX client.

    Objects are split into chunks of ``chunk_size`` bytes (keys ``{key}_{i}``, ``ball_id = key``,
    tags as the reference client writes them), moved in parallel by a thread pool of
    ``max_workers`` threads over one ``requests.Session`` per router, and verified with SHA-256
    chunk by chunk and as a whole. Routers are used round-robin; one that fails to connect is
    skipped for a cool-down and its work goes to the next.

    Thread safety: a Client may be shared by any number of threads (for example a WSGI app's
    workers). Every public method is safe to call concurrently; the pool, sessions, balancer and
    cache are shared and internally locked. Progress callbacks run on worker threads. Do not call
    ``close()`` while other threads still use the client.

    Memory: a transfer holds at most ``chunk_size * window`` bytes in flight (window defaults to
    ``2 * max_workers``), except ``get``, which returns the whole object in memory.

    Args:
        uri: ``mictlanx://`` URI of one or more routers; defaults to ``$MICTLANX_URI``, then to the
            local VSS (``mictlanx://mictlanx-router-0@localhost:60666/?protocol=http...``).
        client_id: the producer id written into metadata; unique per process by default.
        max_workers: threads moving chunks.
        chunk_size: bytes per chunk (``"1MB"`` = 1,000,000).
        eviction_policy: ``"LRU"`` or ``"LFU"`` for the object cache.
        capacity_storage: the cache's capacity in bytes (``"0"`` disables it).
        log_output_path: a directory for a rotating file log (or ``$MICTLANX_LOG_PATH``).
        debug: log every operation to the console at DEBUG.
        verify: TLS verification: a bool or a CA bundle path.
        config: a full :class:`ClientConfig`; ``max_workers``/``chunk_size``/``verify`` override it.
        session_factory: test seam that builds each router's ``requests.Session``.

    Example:
        >>> with Client(uri) as client:  # uri: a mictlanx:// URI, e.g. from vss.serve()
        ...     _ = client.put("docs", "hello", b"hello world", tags={"lang": "en"})
        ...     client.get("docs", "hello").content
        b'hello world'
    """

    def __init__(self, uri: Optional[str] = None, client_id: Optional[str] = None, max_workers: int = 8,
                 chunk_size: SizeLike = "1MB", eviction_policy: str = "LRU",
                 capacity_storage: SizeLike = "1GB", log_output_path: Optional[str] = None,
                 debug: bool = False, verify: Union[bool, str] = True,
                 config: Optional[ClientConfig] = None,
                 session_factory: Optional[SessionFactory] = None) -> None:
        base = config or ClientConfig()
        transfer = attrs.evolve(base.transfer, chunk_size=parse_size(chunk_size), max_workers=max_workers) \
            if config is None else base.transfer
        self.config = attrs.evolve(base, transfer=transfer, verify=verify if config is None else base.verify)
        self.uri = MictlanXURI.parse(uri or os.environ.get(URI_ENV) or DEFAULT_URI)
        self.client_id = client_id or f"mictlanx-sync-{uuid.uuid4().hex[:12]}"
        pool = self.config.transfer.max_workers * 2 + 8
        self._routers = [
            Router(url, router_id=spec.router_id, timeouts=self.config.timeouts, retry=self.config.retry,
                   verify=self.config.verify, pool_maxsize=pool, session_factory=session_factory)
            for spec, url in zip(self.uri.routers, self.uri.router_urls())
        ]
        self._balancer: RoundRobinBalancer[Router] = RoundRobinBalancer(
            self._routers, cooldown=self.config.router_cooldown)
        self._cache = Cache(parse_size(capacity_storage), eviction_policy)
        self._executor = ThreadPoolExecutor(max_workers=self.config.transfer.max_workers,
                                            thread_name_prefix="mictlanx")
        # A client with its own console or file log gets its own logger; the others share one.
        own = debug or bool(log_output_path or os.environ.get(LOG_PATH_ENV))
        self._log = get_logger(f"mictlanx_sync.client.{self.client_id}" if own else "mictlanx_sync.client",
                               debug=debug, log_output_path=log_output_path)
        self._closed = False

    # ----------------------------------------------------------------------------------- plumbing
    @property
    def routers(self) -> List[Router]:
        """The low-level routers, in URI order."""
        return list(self._routers)

    @property
    def cache(self) -> Cache:
        """The object cache."""
        return self._cache

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidArgumentError("this Client is closed")

    def close(self) -> None:
        """Stop the thread pool and close every router session. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)
        for router in self._routers:
            router.close()
        release_logger(self._log)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.uri.build()!r}, client_id={self.client_id!r})"

    @contextlib.contextmanager
    def _operation(self, event: str, bucket_id: str, key: str) -> Iterator[Dict[str, Any]]:
        """Log one structured line per operation: event, bucket, key, bytes, seconds, ok."""
        self._check_open()
        record: Dict[str, Any] = {"bytes": 0}
        started = time.perf_counter()
        ok = False
        try:
            yield record
            ok = True
        finally:
            seconds = time.perf_counter() - started
            level = logging.INFO if ok else logging.WARNING
            self._log.log(level, "event=%s client_id=%s bucket_id=%s key=%s bytes=%d seconds=%.4f ok=%s",
                          event, self.client_id, bucket_id, key, record["bytes"], seconds, ok)

    def _with_router(self, action: Callable[[Router], R], *, cancel: Optional[CancelToken] = None,
                     retry_integrity: bool = False) -> R:
        """Run ``action`` on a router with failover and backoff.

        A router that fails to connect is marked down and the next one is tried at once; server
        errors (5xx), resets and (for reads) integrity failures are retried with backoff up to
        ``retry.chunk_attempts`` rounds. Other errors propagate unchanged.
        """
        self._check_open()
        retry = self.config.retry
        last: Optional[MictlanXError] = None
        for attempt in range(1, retry.chunk_attempts + 1):
            failed_routers: List[str] = []
            for router in self._balancer.candidates():
                if cancel is not None and cancel.is_set():
                    raise last or NetworkError("transfer cancelled")
                try:
                    result = action(router)
                    self._balancer.mark_up(router)
                    return result
                except NetworkError as exc:
                    self._balancer.mark_down(router)
                    failed_routers.append(router.base_url)
                    last = exc
                except IntegrityError as exc:
                    if not retry_integrity:
                        raise
                    last = exc
                    break
                except (NotFoundError, ForbiddenError, AlreadyExistsError):
                    raise
                except ServerError as exc:
                    if exc.status is not None and exc.status < 500:
                        raise
                    last = exc
                    break
            if attempt < retry.chunk_attempts:
                delay = retry.backoff(attempt, random.random())
                if cancel is not None:
                    if cancel.wait(delay):
                        break
                else:
                    time.sleep(delay)
        if isinstance(last, NetworkError) and failed_routers and len(failed_routers) == len(self._routers):
            raise type(last)(f"all routers failed ({', '.join(failed_routers)}); last error: {last.message}",
                             bucket_id=last.bucket_id, key=last.key) from last
        assert last is not None
        raise last

    def _manager(self, parallel: bool = True) -> TransferManager[Any]:
        self._check_open()
        return TransferManager(self._executor if parallel else None, self.config.transfer.effective_window,
                               passthrough=_PASSTHROUGH)

    # ---------------------------------------------------------------------------------------- put
    def put(self, bucket_id: str, key: str, value: Any, tags: Optional[Mapping[str, str]] = None,
            chunk_size: Optional[SizeLike] = None, rf: int = 1, *,
            content_type: str = P.DEFAULT_CONTENT_TYPE, progress: ProgressArg = None) -> PutResult:
        """Store ``value`` under ``bucket_id``/``key``.

        Args:
            bucket_id: the bucket (letters, digits and single ``-``/``_`` separators).
            key: the object's key (same rule).
            value: bytes, bytearray, memoryview, a binary file object or an iterator of bytes
                (a stream of unknown size is spooled to a temp file first).
            tags: user tags (str -> str); reserved names (``index``, ``num_chunks``...) are refused.
            chunk_size: bytes per chunk for this call.
            rf: replication factor (replicas per chunk).
            content_type: the content type stored with each chunk.
            progress: a callback ``(bytes_done, bytes_total)`` (called on worker threads), or
                True for a tqdm bar.

        Returns:
            A :class:`PutResult` with the size, SHA-256 and replicas.

        Raises:
            InvalidArgumentError: a bad id, tag, value or chunk size.
            AlreadyExistsError: the key exists with different content (delete it first).
            TransferError: a chunk could not be stored after retries (names the chunks).
        """
        return self._put(bucket_id, key, value, tags, chunk_size, rf, content_type, progress, parallel=True)

    def _put(self, bucket_id: str, key: str, value: Any, tags: Optional[Mapping[str, str]],
             chunk_size: Optional[SizeLike], rf: int, content_type: str, progress: ProgressArg,
             parallel: bool) -> PutResult:
        """``put`` with its chunks sent on the pool (``parallel``) or on this thread."""
        bucket_id, key, user_tags = self._check_put(bucket_id, key, tags, rf)
        source = open_source(value)
        try:
            return self._put_source("put", bucket_id, key, source, user_tags, chunk_size, rf,
                                    content_type, progress, parallel=parallel)
        finally:
            source.close()

    def put_file(self, bucket_id: str, key: str, path: Union[str, os.PathLike[str]],
                 tags: Optional[Mapping[str, str]] = None, chunk_size: Optional[SizeLike] = None,
                 rf: int = 1, *, content_type: str = P.DEFAULT_CONTENT_TYPE,
                 progress: ProgressArg = None) -> PutResult:
        """Store a file, reading chunks in place (bounded memory); adds ``fullname`` and
        ``extension`` tags unless given. See :meth:`put` for the arguments and errors."""
        bucket_id, key, user_tags = self._check_put(bucket_id, key, tags, rf)
        name = os.path.basename(os.fspath(path))
        user_tags.setdefault(P.TAG_FULLNAME, name)
        user_tags.setdefault(P.TAG_EXTENSION, os.path.splitext(name)[1].lstrip("."))
        source = FileSource.open(path)
        try:
            return self._put_source("put_file", bucket_id, key, source, user_tags, chunk_size, rf,
                                    content_type, progress, parallel=True)
        finally:
            source.close()

    def put_chunks(self, bucket_id: str, key: str, chunks: Sequence[Union[bytes, bytearray, memoryview]],
                   tags: Optional[Mapping[str, str]] = None, rf: int = 1, *,
                   content_type: str = P.DEFAULT_CONTENT_TYPE, progress: ProgressArg = None) -> PutResult:
        """Store caller-made chunks as one object (chunk ``i`` is ``chunks[i]``); the full
        checksum is the SHA-256 of their concatenation. See :meth:`put`."""
        bucket_id, key, user_tags = self._check_put(bucket_id, key, tags, rf)
        source = ListSource(chunks)
        return self._put_source("put_chunks", bucket_id, key, source, user_tags, None, rf, content_type,
                                progress, parallel=True)

    def _check_put(self, bucket_id: str, key: str, tags: Optional[Mapping[str, str]],
                   rf: int) -> Tuple[str, str, Dict[str, str]]:
        P.check_id(bucket_id, "bucket_id")
        P.check_id(key, "key")
        user_tags = _check_user_tags(tags)
        if isinstance(rf, bool) or not isinstance(rf, int) or rf < 1:
            raise InvalidArgumentError(f"rf must be a positive integer, got {rf!r}")
        return bucket_id, key, user_tags

    def _put_source(self, event: str, bucket_id: str, key: str, source: Source, user_tags: Dict[str, str],
                    chunk_size: Optional[SizeLike], rf: int, content_type: str, progress: ProgressArg,
                    parallel: bool) -> PutResult:
        size_per_chunk = check_chunk_size(chunk_size) if chunk_size is not None \
            else self.config.transfer.chunk_size
        P.check_content_type(content_type)
        with self._operation(event, bucket_id, key) as record:
            started = time.perf_counter()
            spans = source.spans(size_per_chunk)
            last_key = P.chunk_key(key, len(spans) - 1)
            if len(last_key) > P.MAX_ID_LENGTH:
                raise InvalidArgumentError(
                    f"key is too long for {len(spans)} chunks: chunk keys such as {last_key[-20:]!r} would be "
                    f"{len(last_key)} characters, more than {P.MAX_ID_LENGTH}", bucket_id=bucket_id, key=key)
            full_checksum, chunk_sums = checksums(source, spans, self._manager(parallel))
            base_tags = {P.TAG_UPDATED_AT: str(time.time_ns()), **user_tags,
                         P.TAG_NUM_CHUNKS: str(len(spans)), P.TAG_GROUP_ID: key,
                         P.TAG_FULL_CHECKSUM: full_checksum}
            meter = Progress(source.size, progress, description=f"put {key}")
            replicas: Dict[int, Tuple[str, ...]] = {}
            created: List[str] = []  # chunk keys this put stored (removed again if it fails)
            self._cache.invalidate((bucket_id, key))

            def upload(index: int, cancel: CancelToken) -> Tuple[str, ...]:
                span = spans[index]
                data = source.read(span.offset, span.size)
                chunk_tags = {**base_tags, P.TAG_INDEX: str(index), P.TAG_CHUNK_SIZE: str(span.size)}
                chunk_key = P.chunk_key(key, index)
                placed, new = self._put_chunk(bucket_id, chunk_key, key, data, chunk_sums[index], chunk_tags, rf,
                                              content_type, cancel)
                if new:
                    created.append(chunk_key)  # list.append is atomic
                meter.add(span.size)
                return placed

            def collect(index: int, placed: Tuple[str, ...]) -> None:
                replicas[index] = placed

            # Chunk 0 goes last: readers treat an object without chunk 0 as absent, so a put that
            # fails half-way never shows a torn object.
            order = list(range(1, len(spans))) + [0]
            try:
                self._manager(parallel).run(len(spans) - 1, lambda i, c: upload(order[i], c),
                                            lambda i, placed: collect(order[i], placed),
                                            what=f"{event} of {len(spans)} chunks", bucket_id=bucket_id, key=key)
                collect(0, upload(0, CancelToken()))
            except AlreadyExistsError as exc:
                self._remove_chunks(bucket_id, created, exc)
                if isinstance(exc, MaxAvailabilityReachedError):
                    raise
                raise AlreadyExistsError(f"{bucket_id}@{key} already exists with different content; "
                                         f"delete it first", bucket_id=bucket_id, key=key,
                                         status=exc.status, detail=exc.detail) from exc
            except MictlanXError as exc:
                self._remove_chunks(bucket_id, created, exc)
                raise
            finally:
                meter.close()
            record["bytes"] = source.size
            peers = tuple(sorted({peer for placed in replicas.values() for peer in placed}))
            return PutResult(bucket_id=bucket_id, key=key, size=source.size, checksum=full_checksum,
                             num_chunks=len(spans), replicas=peers, seconds=time.perf_counter() - started)

    def _remove_chunks(self, bucket_id: str, chunk_keys: List[str], cause: MictlanXError) -> None:
        """Undo a failed put: delete the chunks it stored, through every router. A failure here is
        attached to ``cause`` (as a note) rather than hiding it."""
        for chunk_key in list(chunk_keys):
            try:
                self._on_every_router(functools.partial(_delete_on, bucket_id=bucket_id, key=chunk_key))
            except MictlanXError as exc:
                if hasattr(cause, "add_note"):  # Python 3.11+
                    cause.add_note(f"cleanup of {bucket_id}@{chunk_key} failed: {exc}")

    def _on_every_router(self, action: Callable[[Router], R]) -> List[R]:
        """``action`` through every router, for writes each router must see (deletes).

        A router that answers ``NotFoundError`` counts as done; one that cannot be reached is
        marked down and skipped, and that is an error only when no router could be reached.
        """
        self._check_open()
        results: List[R] = []
        unreachable: List[NetworkError] = []
        for router in self._routers:
            try:
                results.append(action(router))
            except NotFoundError:
                continue
            except NetworkError as exc:
                self._balancer.mark_down(router)
                unreachable.append(exc)
        if unreachable and len(unreachable) == len(self._routers):
            first = unreachable[0]
            raise type(first)(f"all routers failed: {'; '.join(e.message for e in unreachable)}",
                              bucket_id=first.bucket_id, key=first.key) from first
        return results

    def _put_chunk(self, bucket_id: str, chunk_key: str, ball_id: str, data: Union[bytes, bytearray, memoryview],
                   checksum: str, tags: Dict[str, str], rf: int, content_type: str,
                   cancel: CancelToken) -> Tuple[Tuple[str, ...], bool]:
        """Step 1 + step 2 of one chunk (whose SHA-256 is ``checksum``) on one router, retried
        together with failover.

        Returns:
            The replicas, and whether this call stored the chunk (False: it was already there).
        """

        def attempt(router: Router) -> Tuple[Tuple[str, ...], bool]:
            try:
                reply = router.put_metadata(bucket_id, chunk_key, len(data), checksum, self.client_id,
                                            content_type, ball_id, tags, replication_factor=rf)
            except MaxAvailabilityReachedError:
                return self._already_stored(router, bucket_id, chunk_key, checksum, tags), False
            if not reply.tasks_ids:
                raise ServerError(f"router {router.base_url} answered step 1 without a task id",
                                  bucket_id=bucket_id, key=chunk_key, status=500)
            stored = router.put_chunked(reply.tasks_ids[0], data, bucket_id=bucket_id, key=chunk_key)
            if stored.size != len(data):
                raise IntegrityError(f"router stored {stored.size} bytes, sent {len(data)}",
                                     bucket_id=bucket_id, key=chunk_key)
            return stored.peer_ids or reply.replicas, True

        return self._with_router(attempt, cancel=cancel)

    def _already_stored(self, router: Router, bucket_id: str, chunk_key: str, checksum: str,
                        tags: Mapping[str, str]) -> Tuple[str, ...]:
        """After a 404/666 on step 1: fine if the stored chunk is this very chunk of this very
        object (a retried chunk, or a repeated put of the same content), a conflict otherwise."""
        try:
            existing = router.get_metadata(bucket_id, chunk_key)
        except NotFoundError as exc:
            raise MaxAvailabilityReachedError(
                f"no peer can take {bucket_id}@{chunk_key} (all full or unavailable)",
                bucket_id=bucket_id, key=chunk_key) from exc
        if not existing.metadata.holds_chunk(checksum, tags):
            raise AlreadyExistsError(
                f"{bucket_id}@{chunk_key} already exists with different content; delete it first",
                bucket_id=bucket_id, key=chunk_key)
        return (existing.peer_id,)

    # ---------------------------------------------------------------------------------------- get
    def _layout(self, bucket_id: str, key: str) -> ObjectLayout:
        """List an object's chunks once (``/chunks``); a bare ball is a one-chunk object."""
        P.check_id(bucket_id, "bucket_id")
        P.check_id(key, "key")
        try:
            listing = self._with_router(lambda r: r.get_by_ball_id(bucket_id, key))
            chunks = [c for c in listing.chunks if c.key == key or c.tags.get(P.TAG_GROUP_ID, key) == key]
            if chunks:
                return layout_from_metadata(bucket_id, key, chunks)
        except NotFoundError:
            pass
        single = self._bare_ball(bucket_id, key)
        if single is None:
            raise NotFoundError(f"object {bucket_id}@{key} not found", bucket_id=bucket_id, key=key)
        return layout_from_metadata(bucket_id, key, [single])

    def _bare_ball(self, bucket_id: str, key: str) -> Optional[Metadata]:
        """The ball stored under ``key`` itself, when it is an object of its own: not when it is
        a chunk of another object (the key ``a_0`` names chunk 0 of ``a``, whose ``group_id`` tag
        is ``a``), so that reading or deleting ``a_0`` never reaches into ``a``."""
        try:
            meta = self._with_router(lambda r: r.get_metadata(bucket_id, key)).metadata
        except NotFoundError:
            return None
        return meta if meta.tags.get(P.TAG_GROUP_ID, key) == key else None

    def _fetch_chunk(self, layout: ObjectLayout, index: int, buffer: memoryview,
                     cancel: Optional[CancelToken], verify: bool = True) -> None:
        """Read chunk ``index`` into ``buffer`` and, with ``verify``, check its SHA-256 (reading
        it from each replica in turn on a mismatch). Without ``verify`` the caller checks the whole
        object and repairs what is wrong (:meth:`_verify_whole`)."""
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

        self._with_router(attempt, cancel=cancel, retry_integrity=True)

    def get(self, bucket_id: str, key: str, *, progress: ProgressArg = None,
            use_cache: bool = True) -> GetResult:
        """Fetch and verify a whole object into memory.

        Costs 1 request to list the chunks plus 1 per chunk; served from the cache when the
        cached copy's checksum still matches the router's metadata.

        Returns:
            A :class:`GetResult`: ``data`` (read-only memoryview), ``content`` (bytes), ``info``.

        Raises:
            NotFoundError: no such object.
            IntegrityError: the bytes do not match their SHA-256 (never returned as data).
            TransferError: a chunk could not be fetched after retries.
        """
        return self._get(bucket_id, key, progress, use_cache, parallel=True)

    def _get(self, bucket_id: str, key: str, progress: ProgressArg, use_cache: bool,
             parallel: bool) -> GetResult:
        """``get`` with its chunks fetched on the pool (``parallel``) or on this thread."""
        with self._operation("get", bucket_id, key) as record:
            layout = self._layout(bucket_id, key)
            info = ObjectInfo.from_chunks(bucket_id, key, layout.chunks, layout.full_checksum)
            if info.is_disabled:  # as the servers would answer; the cache must not outlive a disable
                self._cache.invalidate((bucket_id, key))
                raise ForbiddenError(f"object {bucket_id}@{key} is disabled", bucket_id=bucket_id, key=key,
                                     status=403)
            cached = self._cache.get((bucket_id, key), layout.full_checksum) if use_cache else None
            data = cached if cached is not None else self._read_layout(layout, progress, parallel)
            if use_cache and cached is None:
                self._cache.put((bucket_id, key), data, layout.full_checksum)
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
            self._fetch_chunk(layout, index, chunk(index), cancel, verify=False)
            meter.add(layout.spans[index].size)

        def hash_in_order(index: int, _: None) -> None:
            digest.update(chunk(index))

        def store(index: int, data: bytearray) -> None:
            chunk(index)[:] = data

        try:
            self._manager(parallel).run(len(layout.spans), fetch, hash_in_order, what="get",
                                        bucket_id=layout.bucket_id, key=layout.key)
        finally:
            meter.close()
        self._verify_whole(layout, digest.hexdigest(), chunk, store, lambda: _sha256(view))
        return buffer

    def _verify_whole(self, layout: ObjectLayout, digest: str, chunk: Callable[[int], Union[bytes, memoryview]],
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
            self._fetch_chunk(layout, index, memoryview(data), None, verify=True)
            store(index, data)
        if bad and layout.full_checksum:
            self._check_full(layout, rehash())

    @staticmethod
    def _check_full(layout: ObjectLayout, digest: str) -> None:
        if layout.full_checksum and digest != layout.full_checksum:
            raise IntegrityError(f"object does not match its full_checksum {layout.full_checksum}",
                                 bucket_id=layout.bucket_id, key=layout.key)

    def get_stream(self, bucket_id: str, key: str) -> Iterator[bytes]:
        """Yield the object's chunks in order, each verified against its SHA-256.

        At most ``window`` chunks are held at a time. The whole-object checksum is checked after
        the last chunk; a mismatch raises ``IntegrityError`` from the generator.
        """
        layout = self._layout(bucket_id, key)
        window = self.config.transfer.effective_window
        digest = hashlib.sha256()
        for start in range(0, len(layout.spans), window):
            batch = layout.spans[start:start + window]
            buffers = [bytearray(span.size) for span in batch]
            ready: List[bytes] = []

            def fetch(i: int, cancel: CancelToken, _start: int = start,
                      _buffers: List[bytearray] = buffers) -> None:
                self._fetch_chunk(layout, _start + i, memoryview(_buffers[i]), cancel)

            def keep(i: int, _: None, _buffers: List[bytearray] = buffers, _ready: List[bytes] = ready) -> None:
                digest.update(_buffers[i])
                _ready.append(bytes(_buffers[i]))

            self._manager().run(len(batch), fetch, keep, what="get_stream", bucket_id=bucket_id, key=key)
            yield from ready
        self._check_full(layout, digest.hexdigest())

    def get_to_file(self, bucket_id: str, key: str, output_path: Union[str, os.PathLike[str]],
                    fullname: Optional[str] = None, *, progress: ProgressArg = None) -> str:
        """Fetch an object into a file, in bounded memory.

        Chunks are written at their offsets into a temp file in the target directory, the whole
        object is verified, then the file is renamed into place; nothing partial is left behind.

        Args:
            output_path: a directory (the file name is ``fullname``, else the ``fullname`` tag,
                else ``{key}.{extension}``, else ``key``) or a file path.
            fullname: the file name inside an ``output_path`` directory.

        Returns:
            The path written.
        """
        with self._operation("get_to_file", bucket_id, key) as record:
            layout = self._layout(bucket_id, key)
            target = self._target_path(layout, os.fspath(output_path), fullname)
            sink = FileSink(target, layout.size)
            meter = Progress(layout.size, progress, description=f"get {key}")
            digest = hashlib.sha256()

            def fetch(index: int, cancel: CancelToken) -> bytearray:
                span = layout.spans[index]
                buffer = bytearray(span.size)
                self._fetch_chunk(layout, index, memoryview(buffer), cancel, verify=False)
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
                self._manager().run(len(layout.spans), fetch, hash_in_order, what="get_to_file",
                                    bucket_id=bucket_id, key=key)
                self._verify_whole(layout, digest.hexdigest(), chunk, store, rehash)
                sink.commit()
            except BaseException:
                sink.abort()
                raise
            finally:
                meter.close()
            record["bytes"] = layout.size
            return target

    @staticmethod
    def _target_path(layout: ObjectLayout, output_path: str, fullname: Optional[str]) -> str:
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

    def get_chunk(self, bucket_id: str, key: str, index: int) -> Tuple[Metadata, bytes]:
        """One chunk of an object and its metadata, verified against the chunk's SHA-256."""
        P.check_id(bucket_id, "bucket_id")
        P.check_id(key, "key")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise InvalidArgumentError(f"index must be a non-negative integer, got {index!r}")
        chunk_key = P.chunk_key(key, index)
        meta = self._with_router(lambda r: r.get_metadata(bucket_id, chunk_key)).metadata
        layout = ObjectLayout(bucket_id=bucket_id, key=key, chunks=(meta,), spans=(), full_checksum="")
        buffer = bytearray(meta.size)
        self._fetch_chunk(layout, 0, memoryview(buffer), None)
        return meta, bytes(buffer)

    # ---------------------------------------------------------------------------------- metadata
    def get_metadata(self, bucket_id: str, key: str) -> ObjectInfo:
        """An object's size, checksum, tags and chunk metadata (1 request).

        Raises:
            NotFoundError: no such object.
        """
        layout = self._layout(bucket_id, key)
        return ObjectInfo.from_chunks(bucket_id, key, layout.chunks, layout.full_checksum)

    def exists(self, bucket_id: str, key: str) -> bool:
        """Whether the object exists."""
        try:
            self._layout(bucket_id, key)
        except NotFoundError:
            return False
        return True

    def get_by_ball_id(self, bucket_id: str, ball_id: str) -> BallMetadata:
        """The router's raw chunk listing for a ball_id (duplicates across replicas included)."""
        P.check_id(bucket_id, "bucket_id")
        P.check_id(ball_id, "ball_id")
        return self._with_router(lambda r: r.get_by_ball_id(bucket_id, ball_id))

    def get_bucket_metadata(self, bucket_id: str) -> List[ObjectInfo]:
        """Every object of a bucket, grouped by ball_id and de-duplicated across replicas.

        Empty (0-byte) objects are not listed: routers leave size-0 balls out of bucket listings
        (PROTOCOL §5.9, as the reference router does). Reach them by key."""
        P.check_id(bucket_id, "bucket_id")
        listing = self._with_router(lambda r: r.get_bucket_metadata(bucket_id))
        groups: Dict[str, List[Metadata]] = {}
        for ball in listing.balls:
            groups.setdefault(ball.ball_id or ball.key, []).append(ball)
        objects = []
        for ball_id, balls in sorted(groups.items()):
            try:
                layout = layout_from_metadata(bucket_id, ball_id, balls)
            except (IntegrityError, NotFoundError):
                continue  # an object still being written, or partly written or deleted
            objects.append(ObjectInfo.from_chunks(bucket_id, ball_id, layout.chunks, layout.full_checksum))
        return objects

    def update_tags(self, bucket_id: str, key: str, tags: Mapping[str, str]) -> ObjectInfo:
        """Merge ``tags`` into every chunk's tags (reserved names refused); returns the new info."""
        new_tags = _check_user_tags(tags)
        with self._operation("update_tags", bucket_id, key):
            layout = self._layout(bucket_id, key)
            updated = [attrs.evolve(meta, tags={**meta.tags, **new_tags}, bucket_id=bucket_id)
                       for meta in layout.chunks]
            for meta in updated:
                self._with_router(functools.partial(_update_on, bucket_id=bucket_id, metadata=meta))
            self._cache.invalidate((bucket_id, key))
            return ObjectInfo.from_chunks(bucket_id, key, tuple(updated), layout.full_checksum)

    def disable(self, bucket_id: str, key: str) -> None:
        """Disable every chunk of an object; reads then fail with ``ForbiddenError``."""
        with self._operation("disable", bucket_id, key):
            layout = self._layout(bucket_id, key)
            for meta in layout.chunks:
                self._with_router(functools.partial(_disable_on, bucket_id=bucket_id, key=meta.key))
            self._cache.invalidate((bucket_id, key))

    # ------------------------------------------------------------------------------------ delete
    def delete(self, bucket_id: str, key: str) -> int:
        """Delete every chunk of an object through every router; returns the replicas deleted
        (0 when the object did not exist)."""
        with self._operation("delete", bucket_id, key) as record:
            self._cache.invalidate((bucket_id, key))
            P.check_id(bucket_id, "bucket_id")
            P.check_id(key, "key")
            # Every ball of the object as listed (complete or not, duplicates folded), as the
            # reference client does (PROTOCOL §7.6); a bare ball is deleted by its own key.
            try:
                listing = self._with_router(lambda r: r.get_by_ball_id(bucket_id, key))
                layout_keys = sorted({c.key for c in listing.chunks})
            except NotFoundError:
                layout_keys = []
            if not layout_keys and self._bare_ball(bucket_id, key) is not None:
                layout_keys = [key]

            def delete_all(router: Router) -> int:
                deleted = 0
                for chunk_key in layout_keys:
                    try:
                        deleted += router.delete(bucket_id, chunk_key).n_deletes
                    except NotFoundError:
                        continue
                return deleted

            record["bytes"] = 0
            return sum(self._on_every_router(delete_all))

    def delete_by_ball_id(self, bucket_id: str, ball_id: str) -> int:
        """Delete every ball with this ball_id through every router; returns the count."""
        P.check_id(bucket_id, "bucket_id")
        P.check_id(ball_id, "ball_id")
        self._cache.invalidate((bucket_id, ball_id))
        return sum(self._on_every_router(lambda r: r.delete_by_ball_id(bucket_id, ball_id).n_deletes))

    def delete_bucket(self, bucket_id: str) -> int:
        """Delete every listed object of a bucket; returns the number of objects deleted.

        Empty objects are not listed (see :meth:`get_bucket_metadata`): delete them by key."""
        objects = self.get_bucket_metadata(bucket_id)
        results = self._run_many([(o.key, functools.partial(self.delete, bucket_id, o.key)) for o in objects])
        return sum(1 for r in results if r.ok)

    # -------------------------------------------------------------------------------------- many
    def put_many(self, bucket_id: str, items: Union[Mapping[str, Any], Iterable[Tuple[str, Any]]],
                 tags: Optional[Mapping[str, str]] = None, chunk_size: Optional[SizeLike] = None,
                 rf: int = 1) -> List[ItemResult[PutResult]]:
        """Store many objects over the shared pool, one object per worker; one result or error
        per item, never all-or-nothing."""
        pairs = list(items.items() if isinstance(items, Mapping) else items)
        return self._run_many([
            (key, functools.partial(self._put, bucket_id, key, value, tags, chunk_size, rf,
                                    P.DEFAULT_CONTENT_TYPE, None, parallel=False))
            for key, value in pairs])

    def get_many(self, bucket_id: str, keys: Iterable[str]) -> List[ItemResult[GetResult]]:
        """Fetch many objects over the shared pool, one object per worker; one result or error
        per item."""
        return self._run_many([(key, functools.partial(self._get, bucket_id, key, None, True, parallel=False))
                               for key in keys])

    def _run_many(self, calls: List[Tuple[str, Callable[[], R]]]) -> List[ItemResult[R]]:
        """Run one leaf task per item on the pool; one result or error per item, in order."""
        self._check_open()
        try:
            futures = [self._executor.submit(call) for _, call in calls]
        except RuntimeError:  # closed by another thread since the check above
            self._closed = True
            self._check_open()
            raise
        results: List[ItemResult[R]] = []
        try:
            for (key, _), future in zip(calls, futures):
                try:
                    results.append(ItemResult(key=key, value=future.result()))
                except MictlanXError as exc:
                    results.append(ItemResult(key=key, error=exc))
                except CancelledError:  # close() cancelled it before it started
                    results.append(ItemResult(key=key, error=MictlanXError("cancelled: the client was closed")))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        return results

