"""Client: the public facade of chunked, parallel, verified transfers to MictlanX.

The put pipeline lives in ``_put``, the get pipeline in ``_get``, listings in ``listing`` and the
shared machinery (routers with failover, pool, cache, operation log) in ``_core``; this module is
the constructor, the lifecycle and one method per public verb.
"""

from __future__ import annotations

import functools
import os
import uuid
from concurrent.futures import CancelledError
from typing import (
    Any,
    Callable,
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
from . import names as N
from ._core import ClientCore
from ._existing import update_chunk_tags
from ._get import Downloader, ReadOptions
from ._http import SessionFactory
from ._put import Uploader, check_user_tags
from .cache import Cache
from .config import ClientConfig, Timeouts, merge_config
from .errors import ForbiddenError, InvalidArgumentError, MictlanXError, NotFoundError
from .listing import list_bucket, list_objects
from .log import LOG_PATH_ENV, check_rotation, get_logger, release_logger
from .models import BallMetadata, Metadata
from .results import GetResult, ItemResult, ObjectInfo, ObjectListing, PutResult, SavedFile
from .router import Router
from .transfer.chunking import layout_from_metadata
from .transfer.codec import ChunkCodec, codec_for
from .transfer.progress import ProgressArg
from .transfer.sources import FileSource, ListSource, open_source
from .units import SizeLike, parse_size
from .uri import DEFAULT_URI, MictlanXURI

__all__ = ["Client", "URI_ENV", "DEFAULT_CACHE_CAPACITY"]

URI_ENV = "MICTLANX_URI"
TOKEN_ENV = "MICTLANX_TOKEN"
DEFAULT_CACHE_CAPACITY = "64MB"
"""The default object cache per Client: small enough for one per worker process of a server."""
R = TypeVar("R")


def _timeouts(base: Timeouts, timeout: Union[None, float, Timeouts], deadline: Optional[float]) -> Timeouts:
    """``Client(timeout=..., deadline=...)`` applied to the configured timeouts."""
    if isinstance(timeout, Timeouts):
        base = timeout
    elif timeout is not None:
        base = Timeouts.of(timeout, base.operation)
    return base if deadline is None else attrs.evolve(base, operation=deadline)


def _disable_on(router: Router, *, bucket_id: str, key: str) -> None:
    router.disable(bucket_id, key)


def _check_named(info: ObjectInfo, name: str) -> None:
    """A mapped name must find its own object: the stored name tag must be the name asked for
    (it differs only if someone stored another object under this very key)."""
    if name != info.key and info.name != name:
        raise NotFoundError(f"object {info.bucket_id}@{name!r} not found (its key {info.key} holds "
                            f"{info.name!r})", bucket_id=info.bucket_id, key=info.key)


class Client:
    """The high-level MictlanX client.

    Objects are named by any Unicode string (``"2024/cat.jpg"``, ``"日本"``): a name that is a
    valid MictlanX key is stored under itself, any other under a key derived from it
    (:mod:`mictlanx_sync.names`), with the exact name kept in a reserved tag; every method takes
    the name and results show it (``.name``) beside the stored key (``.key``).

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
        max_workers: threads moving chunks (default 8, or the ``config``'s).
        chunk_size: bytes per chunk (``"1MB"`` = 1,000,000; default 1MB, or the ``config``'s).
        eviction_policy: ``"LRU"`` or ``"LFU"`` for the object cache.
        capacity_storage: the cache's capacity in bytes (default ``"64MB"``; ``0`` disables it).
            Each Client holds its own cache: size it per process (README, "Cache").
        log_output_path: a directory for a rotating file log (or ``$MICTLANX_LOG_PATH``).
        debug: log every operation to the console at DEBUG.
        verify: TLS verification: a bool or a CA bundle path (default True, or the ``config``'s).
        config: a full :class:`ClientConfig`; ``max_workers``/``chunk_size``/``verify``, when
            given (not None), override its values.
        timeout: seconds to connect and to wait for the next bytes of a reply (a metadata call gets
            3x that, retries included), or a full :class:`Timeouts`; overrides ``config``.
        deadline: an overall bound in seconds on each operation (retries and chunks included).
        session_factory: test seam that builds each router's ``requests.Session``.
        log_when: rotate the file log by time instead of size: ``"S"``, ``"M"``, ``"H"``, ``"D"``,
            ``"MIDNIGHT"`` or ``"W0"``..``"W6"`` (as the reference client).
        log_interval: ``log_when`` units per log file (default 1).
        encryption_key: 32 bytes (e.g. :func:`mictlanx_sync.keys.shared_key`): every chunk is
            encrypted with AES-256-GCM before it leaves the process and decrypted on reads, which
            then refuse objects that are not encrypted. Needs the ``crypto`` extra.
        token: bearer token for a local VSS started with ``--token`` (sent as
            ``Authorization: Bearer``); defaults to the URI's ``token=`` option, then to
            ``$MICTLANX_TOKEN``. A real MictlanX router ignores it.

    Example:
        >>> with Client(uri) as client:  # uri: a mictlanx:// URI, e.g. from vss.serve()
        ...     _ = client.put("docs", "hello", b"hello world", tags={"lang": "en"})
        ...     client.get("docs", "hello").content
        b'hello world'
    """

    def __init__(self, uri: Optional[str] = None, client_id: Optional[str] = None,
                 max_workers: Optional[int] = None, chunk_size: Optional[SizeLike] = None,
                 eviction_policy: str = "LRU", capacity_storage: SizeLike = DEFAULT_CACHE_CAPACITY,
                 log_output_path: Optional[str] = None, debug: bool = False,
                 verify: Optional[Union[bool, str]] = None, config: Optional[ClientConfig] = None,
                 session_factory: Optional[SessionFactory] = None,
                 encryption_key: Optional[bytes] = None, log_when: Optional[str] = None,
                 log_interval: int = 1, timeout: Union[None, float, Timeouts] = None,
                 deadline: Optional[float] = None, token: Optional[str] = None) -> None:
        check_rotation(log_when, log_interval)
        codec = codec_for(encryption_key)
        self.config = merge_config(config, max_workers=max_workers, chunk_size=chunk_size, verify=verify)
        if timeout is not None or deadline is not None:
            self.config = attrs.evolve(self.config, timeouts=_timeouts(self.config.timeouts, timeout, deadline))
        self.uri = MictlanXURI.parse(uri or os.environ.get(URI_ENV) or DEFAULT_URI)
        self.client_id = client_id or f"mictlanx-sync-{uuid.uuid4().hex[:12]}"
        pool = self.config.transfer.max_workers * 2 + 8
        token = token or self.uri.token or os.environ.get(TOKEN_ENV) or None
        routers = [
            Router(url, router_id=spec.router_id, timeouts=self.config.timeouts, retry=self.config.retry,
                   verify=self.config.verify, pool_maxsize=pool, session_factory=session_factory,
                   max_reply_size=self.config.max_reply_size, token=token)
            for spec, url in zip(self.uri.routers, self.uri.router_urls())
        ]
        # A client with its own console or file log gets its own logger; the others share one.
        own = debug or bool(log_output_path or os.environ.get(LOG_PATH_ENV))
        log = get_logger(f"mictlanx_sync.client.{self.client_id}" if own else "mictlanx_sync.client",
                         debug=debug, log_output_path=log_output_path, log_when=log_when,
                         log_interval=log_interval)
        self._core = ClientCore(config=self.config, client_id=self.client_id, routers=routers,
                                cache=Cache(parse_size(capacity_storage), eviction_policy), log=log)
        self._uploader = Uploader(self._core, codec)
        self._downloader = Downloader(self._core, ReadOptions(codec=codec))
        self._codec = codec

    def _writer(self, encrypt_with: Optional[bytes]) -> Uploader:
        """The uploader of one call: the client's, or one encrypting with ``encrypt_with``."""
        return self._uploader if encrypt_with is None else Uploader(self._core, codec_for(encrypt_with))

    def _reader(self, chunk_size: Optional[SizeLike] = None, max_retries: Optional[int] = None,
                max_parallel_gets: Optional[int] = None, decrypt_with: Optional[bytes] = None) -> Downloader:
        """The downloader of one call: the client's, or one with the seed's per-call settings."""
        if chunk_size is None and max_retries is None and max_parallel_gets is None and decrypt_with is None:
            return self._downloader
        codec: ChunkCodec = self._codec if decrypt_with is None else codec_for(decrypt_with)
        return Downloader(self._core, ReadOptions.from_call(chunk_size=chunk_size, max_retries=max_retries,
                                                            max_parallel_gets=max_parallel_gets, codec=codec))

    # ----------------------------------------------------------------------------------- plumbing
    @property
    def routers(self) -> List[Router]:
        """The low-level routers, in URI order."""
        return list(self._core.routers)

    @property
    def cache(self) -> Cache:
        """The object cache."""
        return self._core.cache

    def close(self) -> None:
        """Stop the thread pool and close every router session. Idempotent."""
        if self._core.closed:
            return
        self._core.close()
        release_logger(self._core.log)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.uri.build()!r}, client_id={self.client_id!r})"

    # ---------------------------------------------------------------------------------------- put
    def put(self, bucket_id: str, key: str, value: Any, tags: Optional[Mapping[str, str]] = None,
            chunk_size: Optional[SizeLike] = None, rf: int = 1, *,
            content_type: str = P.DEFAULT_CONTENT_TYPE, progress: ProgressArg = None,
            encrypt_with: Optional[bytes] = None, overwrite: bool = False,
            min_replicas: Optional[int] = None) -> PutResult:
        """Store ``value`` under ``bucket_id``/``key``.

        The key is looked up first (1 request). Putting the same content again writes nothing
        (``PutResult.already_stored``; different tags are updated, or the call fails saying they
        were not); putting different content raises ``AlreadyExistsError`` before any byte is
        written, unless ``overwrite=True``: the old object is then deleted and the new one written,
        and from the delete until the new chunk 0 is stored the key reads as absent (a failure
        there leaves it absent, never partial).

        Args:
            bucket_id: the bucket (letters, digits and single ``-``/``_`` separators).
            key: the object's name: any Unicode string of at most 1024 UTF-8 bytes without control
                characters (``/`` allowed); see :mod:`mictlanx_sync.names`.
            value: bytes, bytearray, memoryview, a binary file object or an iterator of bytes
                (a stream of unknown size is spooled to a temp file first).
            tags: user tags (str -> str); reserved names (``index``, ``num_chunks``...) are refused.
            chunk_size: bytes per chunk for this call.
            rf: replication factor (replicas per chunk).
            content_type: the content type stored with each chunk.
            progress: a callback ``(bytes_done, bytes_total)`` (called on worker threads), or
                True for a tqdm bar.
            encrypt_with: a 32-byte key for this call (else the client's ``encryption_key``):
                chunks are stored AES-256-GCM encrypted and the result's ``checksum`` is empty
                (no digest of the plaintext is stored or returned). An encrypted put never
                matches what is stored: over an existing key it needs ``overwrite=True``.
            overwrite: replace an object stored with other content (see above).
            min_replicas: fail (and remove what was stored) when a chunk gets fewer replicas;
                by default fewer than ``rf`` is only logged as a WARNING and reported in
                ``PutResult.chunk_replicas``.

        Returns:
            A :class:`PutResult` with the size, SHA-256, replicas and replicas per chunk.

        Raises:
            InvalidArgumentError: a bad id, tag, value or chunk size.
            AlreadyExistsError: the key exists with different content (delete it first).
            TransferError: a chunk could not be stored after retries, or got fewer than
                ``min_replicas`` replicas (names the chunks).
            ServerError: the same content is stored but the router failed to update its tags.
        """
        return self._put(bucket_id, key, value, tags, chunk_size, rf, content_type, progress, parallel=True,
                         encrypt_with=encrypt_with, overwrite=overwrite, min_replicas=min_replicas)

    def _put(self, bucket_id: str, key: str, value: Any, tags: Optional[Mapping[str, str]],
             chunk_size: Optional[SizeLike], rf: int, content_type: str, progress: ProgressArg,
             parallel: bool, encrypt_with: Optional[bytes] = None, overwrite: bool = False,
             min_replicas: Optional[int] = None) -> PutResult:
        """``put`` with its chunks sent on the pool (``parallel``) or on this thread."""
        name, key = key, N.key_for(key)
        bucket_id, key, user_tags = Uploader.check_put(bucket_id, key, tags, rf)
        user_tags.update(N.name_tags(name, key))
        writer = self._writer(encrypt_with)
        source = open_source(value)
        try:
            result = writer.put_source("put", bucket_id, key, source, user_tags, chunk_size, rf,
                                       content_type, progress, parallel=parallel, overwrite=overwrite,
                                       min_replicas=min_replicas)
        finally:
            source.close()
        return attrs.evolve(result, name=name)

    def put_file(self, bucket_id: str, key: str, path: Union[str, os.PathLike[str]],
                 tags: Optional[Mapping[str, str]] = None, chunk_size: Optional[SizeLike] = None,
                 rf: int = 1, *, content_type: str = P.DEFAULT_CONTENT_TYPE,
                 progress: ProgressArg = None, encrypt_with: Optional[bytes] = None,
                 overwrite: bool = False, min_replicas: Optional[int] = None) -> PutResult:
        """Store a file, reading chunks in place (bounded memory); adds ``fullname`` and
        ``extension`` tags unless given. See :meth:`put` for the arguments and errors."""
        return self._put_file(bucket_id, key, path, tags, chunk_size, rf, content_type, progress, parallel=True,
                              encrypt_with=encrypt_with, overwrite=overwrite, min_replicas=min_replicas)

    def _put_file(self, bucket_id: str, key: str, path: Union[str, os.PathLike[str]],
                  tags: Optional[Mapping[str, str]], chunk_size: Optional[SizeLike], rf: int, content_type: str,
                  progress: ProgressArg, parallel: bool, encrypt_with: Optional[bytes] = None,
                  overwrite: bool = False, min_replicas: Optional[int] = None) -> PutResult:
        """``put_file`` with its chunks sent on the pool (``parallel``) or on this thread."""
        object_name, key = key, N.key_for(key)
        bucket_id, key, user_tags = Uploader.check_put(bucket_id, key, tags, rf)
        user_tags.update(N.name_tags(object_name, key))
        writer = self._writer(encrypt_with)
        name = os.path.basename(os.fspath(path))
        user_tags.setdefault(P.TAG_FULLNAME, name)
        user_tags.setdefault(P.TAG_EXTENSION, os.path.splitext(name)[1].lstrip("."))
        source = FileSource.open(path)
        try:
            result = writer.put_source("put_file", bucket_id, key, source, user_tags, chunk_size, rf,
                                       content_type, progress, parallel=parallel, overwrite=overwrite,
                                       min_replicas=min_replicas)
        finally:
            source.close()
        return attrs.evolve(result, name=object_name)

    def put_chunks(self, bucket_id: str, key: str, chunks: Sequence[Union[bytes, bytearray, memoryview]],
                   tags: Optional[Mapping[str, str]] = None, rf: int = 1, *,
                   content_type: str = P.DEFAULT_CONTENT_TYPE, progress: ProgressArg = None,
                   overwrite: bool = False, min_replicas: Optional[int] = None) -> PutResult:
        """Store caller-made chunks as one object (chunk ``i`` is ``chunks[i]``); the full
        checksum is the SHA-256 of their concatenation. See :meth:`put`."""
        name, key = key, N.key_for(key)
        bucket_id, key, user_tags = Uploader.check_put(bucket_id, key, tags, rf)
        user_tags.update(N.name_tags(name, key))
        source = ListSource(chunks)
        result = self._uploader.put_source("put_chunks", bucket_id, key, source, user_tags, None, rf,
                                           content_type, progress, parallel=True, overwrite=overwrite,
                                           min_replicas=min_replicas)
        return attrs.evolve(result, name=name)

    # ---------------------------------------------------------------------------------------- get
    def get(self, bucket_id: str, key: str, *, progress: ProgressArg = None,
            use_cache: bool = True, chunk_size: Optional[SizeLike] = None, max_retries: Optional[int] = None,
            max_paralell_gets: Optional[int] = None, max_parallel_gets: Optional[int] = None,
            decrypt_with: Optional[bytes] = None) -> GetResult:
        """Fetch and verify a whole object into memory.

        Costs 1 request to list the chunks plus 1 per chunk; served from the cache when the
        cached copy's checksum still matches the router's metadata.

        Args:
            chunk_size: the seed's "request size hint", sent as ``Chunk-Size`` on each data GET
                (the stored layout decides the chunks).
            max_retries: retry rounds per chunk for this call (default ``retry.chunk_attempts``).
            max_paralell_gets: chunks fetched in parallel for this call, at most ``max_workers``
                (the seed's spelling; ``max_parallel_gets`` is the same).
            decrypt_with: the 32-byte key of an encrypted object (else the client's).

        Returns:
            A :class:`GetResult`: ``data`` (read-only memoryview), ``content`` (bytes), ``info``,
            ``metadatas`` (each chunk's metadata).

        Raises:
            NotFoundError: no such object.
            IntegrityError: the bytes do not match their SHA-256, or an encrypted chunk fails
                authentication (never returned as data).
            InvalidArgumentError: an encrypted object without a key, or a bad keyword value.
            TransferError: a chunk could not be fetched after retries.
        """
        reader = self._reader(chunk_size, max_retries, max_paralell_gets or max_parallel_gets, decrypt_with)
        result = reader.get(bucket_id, N.key_for(key), progress, use_cache, parallel=True)
        _check_named(result.info, key)
        return result

    def _get_one(self, bucket_id: str, name: str) -> GetResult:
        """``get`` of one item of ``get_many``: its chunks fetched on this worker's thread."""
        result = self._downloader.get(bucket_id, N.key_for(name), None, True, parallel=False)
        _check_named(result.info, name)
        return result

    def get_stream(self, bucket_id: str, key: str, *, decrypt_with: Optional[bytes] = None) -> Iterator[bytes]:
        """Yield the object's chunks in order, each verified against its SHA-256.

        At most ``window`` chunks are held at a time. The whole-object checksum is checked after
        the last chunk; a mismatch raises ``IntegrityError`` from the generator. Chunks of an
        encrypted object are each authenticated before they are yielded.
        """
        return self._reader(decrypt_with=decrypt_with).stream(bucket_id, N.key_for(key))

    def get_to_file(self, bucket_id: str, key: Optional[str] = None,
                    output_path: Optional[Union[str, os.PathLike[str]]] = None, fullname: Optional[str] = None, *,
                    progress: ProgressArg = None, ball_id: Optional[str] = None,
                    chunk_size: Optional[SizeLike] = None, max_retries: Optional[int] = None,
                    max_paralell_gets: Optional[int] = None, decrypt_with: Optional[bytes] = None,
                    overwrite: bool = False) -> SavedFile:
        """Fetch an object into a file, in bounded memory.

        Chunks are written at their offsets into a temp file in the target directory, the whole
        object is verified, then the file is renamed into place; nothing partial is left behind.
        An existing file is never replaced unless ``overwrite``: one with the object's SHA-256 is
        left as it is (``unchanged`` on the result), anything else raises before any chunk is fetched.

        Args:
            key: the object (the seed passes it as ``ball_id=``; give one of the two).
            output_path: a directory (the file name is ``fullname``, else the ``fullname`` tag,
                else ``{name}.{extension}``, else the name's last part, always a bare name) or a file
                path. A missing directory is created when the path ends with a separator or when
                ``fullname`` is given.
            fullname: the file name inside the ``output_path`` directory.
            chunk_size, max_retries, max_paralell_gets, decrypt_with: as in :meth:`get`.
            overwrite: replace an existing file whose content differs.

        Returns:
            The path written: a ``str`` (:class:`SavedFile`) whose ``unchanged`` is True when an
            identical file was already there.

        Raises:
            InvalidArgumentError: no key (or ``key`` and ``ball_id`` that differ), no output_path.
            LocalFileExistsError: the file exists with other content and ``overwrite`` is False.
            LocalIOError: the file cannot be written (disk full, permission denied); names the path.
            NotFoundError, IntegrityError, TransferError: as for :meth:`get`.
        """
        if ball_id is not None and key is not None and ball_id != key:
            raise InvalidArgumentError(f"key {key!r} and ball_id {ball_id!r} differ: give one of them")
        name = key if key is not None else ball_id
        if name is None or output_path is None:
            raise InvalidArgumentError("get_to_file needs the object (key= or ball_id=) and an output_path")
        reader = self._reader(chunk_size, max_retries, max_paralell_gets, decrypt_with)
        return reader.to_file(bucket_id, N.key_for(name), os.fspath(output_path), fullname, progress,
                              overwrite=overwrite)

    def get_range(self, bucket_id: str, key: str, start: int = 0, end: Optional[int] = None, *,
                  info: Optional[ObjectInfo] = None) -> bytes:
        """Bytes ``[start, end)`` of an object (Python slice bounds: negative values count from
        the end, ``end=None`` is the end), fetching only the chunks that cover them, each
        verified against its SHA-256 (the whole-object checksum cannot be checked on a part).

        Costs 1 request to list the chunks (none when ``info`` from :meth:`stat` is given) plus
        1 per covering chunk: a 100-byte read of a 1 GB object in 1 MB chunks reads 1 or 2 chunks.
        Encrypted objects are not supported here (read them whole with :meth:`get`).

        Raises:
            NotFoundError: no such object.
            ForbiddenError: the object is disabled.
            InvalidArgumentError: ``start``/``end`` are not integers, or the object is encrypted.
        """
        for what, value in (("start", start), ("end", end)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidArgumentError(f"{what} must be an integer, got {value!r}")
        if info is None:
            info = self.get_metadata(bucket_id, key)
        if info.is_disabled:
            raise ForbiddenError(f"object {bucket_id}@{info.name} is disabled", bucket_id=bucket_id,
                                 key=info.key, status=403)
        if P.TAG_ENCRYPTION in info.chunks[0].tags:
            raise InvalidArgumentError(f"{bucket_id}@{info.name} is encrypted: ranged reads need the "
                                       f"plaintext layout; read it whole with get()", bucket_id=bucket_id,
                                       key=info.key)
        layout = layout_from_metadata(info.bucket_id, info.key, info.chunks)
        begin, stop, _ = slice(start, end).indices(layout.size)
        with self._core.operation("get_range", bucket_id, info.key) as record:
            data = self._downloader.read_range(layout, begin, stop)
            record["bytes"] = len(data)
        return data

    def get_chunk(self, bucket_id: str, key: str, index: int) -> Tuple[Metadata, bytes]:
        """One chunk of an object and its metadata, verified against the chunk's SHA-256."""
        return self._downloader.chunk(bucket_id, N.key_for(key), index)

    # ---------------------------------------------------------------------------------- metadata
    def get_metadata(self, bucket_id: str, key: str) -> ObjectInfo:
        """An object's size, checksum, tags and chunk metadata (1 request); ``.name`` is its
        name and ``.key`` the key it is stored under.

        Raises:
            NotFoundError: no such object.
        """
        return self._stat(bucket_id, key, explain_missing=True)

    def _stat(self, bucket_id: str, name: str, explain_missing: bool) -> ObjectInfo:
        mapped = N.key_for(name)
        layout = self._downloader.layout(bucket_id, mapped, explain_missing=explain_missing)
        info = ObjectInfo.from_chunks(bucket_id, mapped, layout.chunks, layout.full_checksum)
        _check_named(info, name)
        return info

    stat = get_metadata

    def exists(self, bucket_id: str, key: str) -> bool:
        """Whether the object exists."""
        try:
            self._stat(bucket_id, key, explain_missing=False)
        except NotFoundError:
            return False
        return True

    def get_by_ball_id(self, bucket_id: str, ball_id: str) -> BallMetadata:
        """The router's raw chunk listing for a ball_id (duplicates across replicas included)."""
        P.check_id(bucket_id, "bucket_id")
        P.check_id(ball_id, "ball_id")
        return self._core.with_router(lambda r: r.get_by_ball_id(bucket_id, ball_id))

    def get_bucket_metadata(self, bucket_id: str, tags: Optional[Mapping[str, str]] = None, *,
                            prefix: Optional[str] = None) -> List[ObjectInfo]:
        """Every object of a bucket, grouped by ball_id and de-duplicated across replicas; with
        ``tags``, only those whose tags hold every ``name=value``; with ``prefix``, only those
        whose name starts with it (sorted by name; filtered by the client).

        Empty (0-byte) objects are not listed: routers leave size-0 balls out of bucket listings
        (PROTOCOL §5.9, as the reference router does). Reach them by key. The list's
        ``unavailable_peers`` and ``warning`` say which peers were unavailable: what they hold is
        missing from the listing."""
        if prefix is None:
            return list_bucket(self._core, bucket_id, tags=tags)
        return list(list_objects(self._core, bucket_id, prefix, tags=tags, include_empty=False).objects)

    def list_objects(self, bucket_id: str, prefix: str = "", delimiter: Optional[str] = None, *,
                     tags: Optional[Mapping[str, str]] = None) -> ObjectListing:
        """The objects whose names start with ``prefix``, sorted by name, and with a ``delimiter``
        (usually ``"/"``) the common prefixes ("directories") one level below it, like S3; with
        ``tags``, only objects whose tags hold every ``name=value``.

        Against our VSS empty objects are listed too; a reference router leaves them out.

        Example:
            >>> with Client(uri) as client:
            ...     for name in ("2024/a.csv", "2024/q1/b.csv", "2025/c.csv"):
            ...         _ = client.put("listing-doc", name, b"x")
            ...     page = client.list_objects("listing-doc", "2024/", delimiter="/")
            ...     [o.name for o in page.objects], page.prefixes
            (['2024/a.csv'], ('2024/q1/',))
        """
        return list_objects(self._core, bucket_id, prefix, delimiter, tags=tags)

    def find(self, bucket_id: str, **tags: str) -> List[ObjectInfo]:
        """The objects of a bucket whose tags hold every ``name=value`` given (the seed's query
        by tags): ``client.find("videos", kind="frame", owner="bob")``.

        Costs one bucket listing; the filter runs here (routers have no tag query).

        Raises:
            InvalidArgumentError: a value that is not a string.
        """
        return self.get_bucket_metadata(bucket_id, tags=tags)

    def update_tags(self, bucket_id: str, key: str, tags: Mapping[str, str]) -> ObjectInfo:
        """Merge ``tags`` into every chunk's tags (reserved names refused); returns the new info.

        Each chunk's update is sent once (chunk 0 last), never retried after a 5xx.

        Raises:
            ServerError: the router failed to update the tags (the public MictlanX router answers
                every update with a 500, PROTOCOL §11.5).
        """
        new_tags = check_user_tags(tags)
        name, key = key, N.key_for(key)
        with self._core.operation("update_tags", bucket_id, key):
            layout = self._downloader.layout(bucket_id, key)
            _check_named(ObjectInfo.from_chunks(bucket_id, key, layout.chunks, layout.full_checksum), name)
            try:
                updated = update_chunk_tags(self._core, bucket_id, key, layout.chunks, new_tags)
            finally:
                self._core.cache.invalidate((bucket_id, key))
            return ObjectInfo.from_chunks(bucket_id, key, tuple(updated), layout.full_checksum)

    def disable(self, bucket_id: str, key: str) -> None:
        """Disable every chunk of an object; reads then fail with ``ForbiddenError``."""
        key = N.key_for(key)
        with self._core.operation("disable", bucket_id, key):
            layout = self._downloader.layout(bucket_id, key)
            for meta in layout.chunks:
                self._core.with_router(functools.partial(_disable_on, bucket_id=bucket_id, key=meta.key))
            self._core.cache.invalidate((bucket_id, key))

    # ------------------------------------------------------------------------------------ delete
    def delete(self, bucket_id: str, key: str) -> int:
        """Delete every chunk of an object through every router; returns the replicas deleted
        (0 when the object did not exist)."""
        key = N.key_for(key)
        with self._core.operation("delete", bucket_id, key) as record:
            self._core.cache.invalidate((bucket_id, key))
            P.check_id(bucket_id, "bucket_id")
            P.check_id(key, "key")
            # Every ball of the object as listed (complete or not, duplicates folded), as the
            # reference client does (PROTOCOL §7.6); a bare ball is deleted by its own key.
            try:
                listing = self._core.with_router(lambda r: r.get_by_ball_id(bucket_id, key))
                layout_keys = sorted({c.key for c in listing.chunks})
            except NotFoundError:
                layout_keys = []
            if not layout_keys and self._downloader.bare_ball(bucket_id, key) is not None:
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
            return sum(self._core.on_every_router(delete_all))

    def delete_by_ball_id(self, bucket_id: str, ball_id: str) -> int:
        """Delete every ball with this ball_id through every router; returns the count."""
        P.check_id(bucket_id, "bucket_id")
        P.check_id(ball_id, "ball_id")
        self._core.cache.invalidate((bucket_id, ball_id))
        return sum(self._core.on_every_router(lambda r: r.delete_by_ball_id(bucket_id, ball_id).n_deletes))

    def delete_many(self, bucket_id: str, keys: Iterable[str]) -> List[ItemResult[int]]:
        """Delete many objects over the shared pool, one object per worker; one result (the
        replicas deleted) or error per item."""
        return self._run_many([(key, functools.partial(self.delete, bucket_id, key)) for key in keys])

    def delete_bucket(self, bucket_id: str) -> int:
        """Delete every listed object of a bucket; returns the number of objects deleted.

        Empty objects are not listed (see :meth:`get_bucket_metadata`): delete them by key."""
        objects = self.get_bucket_metadata(bucket_id)
        results = self._run_many([(o.key, functools.partial(self.delete, bucket_id, o.key)) for o in objects])
        return sum(1 for r in results if r.ok)

    # -------------------------------------------------------------------------------------- many
    def put_many(self, bucket_id: str, items: Union[Mapping[str, Any], Iterable[Tuple[str, Any]]],
                 tags: Optional[Mapping[str, str]] = None, chunk_size: Optional[SizeLike] = None,
                 rf: int = 1, *, progress: ProgressArg = None, overwrite: bool = False,
                 min_replicas: Optional[int] = None) -> List[ItemResult[PutResult]]:
        """Store many objects over the shared pool, one object per worker; one result or error
        per item, never all-or-nothing.

        A value that is a path (``os.PathLike``, e.g. ``pathlib.Path``) is stored as
        :meth:`put_file` stores it (read in place, ``fullname``/``extension`` tags); any other
        value as :meth:`put` stores it. ``progress`` is applied to each object, as in :meth:`put`
        (a callback gets each object's ``(bytes_done, bytes_total)``; True draws a bar per object).
        ``overwrite``/``min_replicas`` as in :meth:`put`.
        """
        pairs = list(items.items() if isinstance(items, Mapping) else items)
        calls: List[Tuple[str, Callable[[], PutResult]]] = []
        for key, value in pairs:
            put = self._put_file if isinstance(value, os.PathLike) else self._put
            calls.append((key, functools.partial(put, bucket_id, key, value, tags, chunk_size, rf,
                                                 P.DEFAULT_CONTENT_TYPE, progress, parallel=False,
                                                 overwrite=overwrite, min_replicas=min_replicas)))
        return self._run_many(calls)

    def get_many(self, bucket_id: str, keys: Iterable[str]) -> List[ItemResult[GetResult]]:
        """Fetch many objects over the shared pool, one object per worker; one result or error
        per item."""
        return self._run_many([
            (key, functools.partial(self._get_one, bucket_id, key))
            for key in keys])

    def _run_many(self, calls: List[Tuple[str, Callable[[], R]]]) -> List[ItemResult[R]]:
        """Run one leaf task per item on the pool; one result or error per item, in order."""
        self._core.check_open()
        try:
            futures = [self._core.executor.submit(call) for _, call in calls]
        except RuntimeError:  # closed by another thread since the check above
            self._core.closed = True
            self._core.check_open()
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

