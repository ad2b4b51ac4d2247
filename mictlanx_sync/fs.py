"""An fsspec filesystem over MictlanX: ``pandas.read_csv("mictlanx://bucket/data/2024.csv")``.

Needs the ``fsspec`` extra (``pip install 'mictlanx-sync[fsspec]'``); the filesystem is registered
under the protocol ``mictlanx`` through the ``fsspec.specs`` entry point, so ``fsspec.open``,
pandas, dask or xarray find it by URL alone.

Paths are ``bucket/name``: the first segment is the bucket, the rest is the object's name (any
name, see :mod:`mictlanx_sync.names`). "Directories" are name prefixes ending in ``/``, as in
S3: they exist while an object is below them, and ``mkdir``/``makedirs`` are no-ops.

The routers come from the storage option ``uri=`` (a ``mictlanx://router@host:port/?...`` URI),
else from ``$MICTLANX_URI``; the other storage options are :class:`~mictlanx_sync.Client`
arguments (``max_workers``, ``chunk_size``, ...), or ``client=`` an existing Client.

Reads are ranged: ``cat_file(path, start, end)`` and files opened ``"rb"`` fetch only the chunks
that cover the bytes asked for (a seek into a 1 GB object costs one chunk, not the object); the
read-ahead block is ``max_workers`` chunks, fetched in parallel. Files opened ``"wb"`` are
spooled to a temp file and stored on close with the Client's parallel put.

Limitations (MictlanX's): objects are immutable, so overwriting is delete-then-put (not atomic)
and append mode is refused; names cannot end in ``/``; a reference router leaves empty objects
out of listings (our VSS lists them).

Listings are cached per filesystem instance for ``listings_ttl`` seconds (default 10), and
dropped for a bucket as soon as this instance writes or deletes in it (or on
``invalidate_cache()``), as s3fs does; a name missing from the cached listing is still looked up
directly, so objects stored by others are found.

Thread safety: as the underlying Client (any number of threads); one open file per thread.
"""

from __future__ import annotations

import datetime
import os
import tempfile
import threading
import time
from typing import IO, Any, Dict, List, Optional, Tuple, Union

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem  # type: ignore[import-untyped]

from .client import Client
from .errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from .listing import split_names
from .results import ObjectInfo

__all__ = ["MictlanXFileSystem", "MictlanXFile"]

_CLIENT_OPTIONS = ("client_id", "max_workers", "chunk_size", "eviction_policy", "capacity_storage",
                   "log_output_path", "debug", "verify", "config", "session_factory")


class MictlanXFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """fsspec filesystem of MictlanX buckets: paths ``bucket/name``, protocol ``mictlanx``.

    Args:
        uri: ``mictlanx://`` URI of the routers; defaults to ``$MICTLANX_URI``, then the local VSS.
        client: an existing :class:`~mictlanx_sync.Client` to use instead of making one.
        **storage_options: :class:`~mictlanx_sync.Client` arguments (``max_workers``,
            ``chunk_size``...) and fsspec's own (``skip_instance_cache``...).

    Example:
        >>> import fsspec
        >>> fs = fsspec.filesystem("mictlanx", uri=uri)  # uri: e.g. from vss.serve()
        >>> fs.pipe_file("fs-doc/2024/hello.txt", b"hello world")
        >>> fs.cat_file("fs-doc/2024/hello.txt", start=6), fs.ls("fs-doc", detail=False)
        (b'world', ['fs-doc/2024'])
    """

    protocol = ("mictlanx",)
    root_marker = ""

    def __init__(self, uri: Optional[str] = None, client: Optional[Client] = None,
                 listings_ttl: float = 10.0, **storage_options: Any) -> None:
        client_kwargs = {k: storage_options.pop(k) for k in _CLIENT_OPTIONS if k in storage_options}
        super().__init__(uri=uri, listings_ttl=listings_ttl, **storage_options)
        self.client = client if client is not None else Client(uri, **client_kwargs)
        self.listings_ttl = listings_ttl
        self._listings: Dict[str, Tuple[float, Dict[str, ObjectInfo]]] = {}
        self._listings_lock = threading.Lock()

    # ------------------------------------------------------------------------------- listings
    def _bucket(self, bucket: str) -> Dict[str, ObjectInfo]:
        """Every object of ``bucket`` by name, from the cache while it is fresh."""
        now = time.monotonic()
        with self._listings_lock:
            cached = self._listings.get(bucket)
        if cached is not None and now - cached[0] < self.listings_ttl:
            return cached[1]
        objects = {info.name: info for info in self.client.list_objects(bucket).objects}
        with self._listings_lock:
            self._listings[bucket] = (now, objects)
        return objects

    def invalidate_cache(self, path: Optional[str] = None) -> None:
        """Forget the cached listing of ``path``'s bucket (of every bucket when ``path`` is None)."""
        with self._listings_lock:
            if path is None:
                self._listings.clear()
            else:
                self._listings.pop(self.split_path(path)[0], None)
        super().invalidate_cache(path)

    # ----------------------------------------------------------------------------------- paths
    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        if path.startswith("mictlanx://"):
            path = path[len("mictlanx://"):]
        return path.lstrip("/").rstrip("/")

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> Dict[str, Any]:
        return {}  # the URL's host part is the bucket; routers come from uri= or $MICTLANX_URI

    def split_path(self, path: str) -> Tuple[str, str]:
        """``(bucket, name)`` of a path; the name is ``""`` for a bare bucket."""
        bucket, _, name = self._strip_protocol(path).partition("/")
        return bucket, name

    # --------------------------------------------------------------------------------- entries
    @staticmethod
    def _file_entry(bucket: str, info: ObjectInfo) -> Dict[str, Any]:
        return {"name": f"{bucket}/{info.name}", "size": info.size, "type": "file", "key": info.key,
                "checksum": info.checksum, "num_chunks": info.num_chunks, "updated_at": info.updated_at,
                "content_type": info.content_type, "tags": dict(info.tags)}

    @staticmethod
    def _dir_entry(path: str) -> Dict[str, Any]:
        return {"name": path.rstrip("/"), "size": 0, "type": "directory"}

    def _stat(self, bucket: str, name: str) -> Optional[ObjectInfo]:
        try:
            return self.client.stat(bucket, name)
        except NotFoundError:
            return None

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> Union[List[str], List[Dict[str, Any]]]:
        """The files and "directories" one level below ``path`` (or the file itself).

        Raises:
            FileNotFoundError: nothing is at or below ``path``.
        """
        bucket, name = self.split_path(path)
        if not bucket:
            raise FileNotFoundError("MictlanX has no bucket listing: give a bucket, e.g. mictlanx://bucket/")
        objects = self._bucket(bucket)
        files, prefixes = split_names(objects, name + "/" if name else "", "/")
        entries = [self._dir_entry(f"{bucket}/{p}") for p in prefixes]
        entries += [self._file_entry(bucket, objects[f]) for f in files]
        if not entries and name:
            info = self._stat(bucket, name)
            if info is None:
                raise FileNotFoundError(path)
            entries = [self._file_entry(bucket, info)]
        entries.sort(key=lambda e: str(e["name"]))
        return entries if detail else [str(e["name"]) for e in entries]

    def info(self, path: str, **kwargs: Any) -> Dict[str, Any]:
        """A file's size, stored key, checksum and tags, or a directory entry.

        Raises:
            FileNotFoundError: no object has this name or a name below it.
        """
        bucket, name = self.split_path(path)
        if not bucket:
            return self._dir_entry("")
        if not name:
            return self._dir_entry(bucket)
        objects = self._bucket(bucket)
        if name in objects:
            return self._file_entry(bucket, objects[name])
        if any(other.startswith(name + "/") for other in objects):
            return self._dir_entry(f"{bucket}/{name}")
        try:
            info = self._stat(bucket, name)  # stored since the listing, or not listed (empty)
        except InvalidArgumentError as exc:
            raise FileNotFoundError(f"{path}: {exc}") from exc
        if info is not None:
            return self._file_entry(bucket, info)
        raise FileNotFoundError(path)

    def modified(self, path: str) -> datetime.datetime:
        """When the object was stored (its ``updated_at`` tag), in UTC."""
        stamp = int(self.info(path).get("updated_at", 0))
        return datetime.datetime.fromtimestamp(stamp / 1e9, tz=datetime.timezone.utc)

    def created(self, path: str) -> datetime.datetime:
        """Objects are immutable: the same as :meth:`modified`."""
        return self.modified(path)

    # ----------------------------------------------------------------------------------- reads
    def _object(self, path: str) -> Tuple[str, str]:
        bucket, name = self.split_path(path)
        if not bucket or not name:
            raise IsADirectoryError(path)
        return bucket, name

    def cat_file(self, path: str, start: Optional[int] = None, end: Optional[int] = None,
                 **kwargs: Any) -> bytes:
        """An object's bytes, or bytes ``[start, end)`` fetching only the covering chunks."""
        bucket, name = self._object(path)
        try:
            if start is None and end is None:
                return self.client.get(bucket, name).content
            return self.client.get_range(bucket, name, start or 0, end)
        except NotFoundError as exc:
            raise FileNotFoundError(path) from exc

    def get_file(self, rpath: str, lpath: str, callback: Any = None, outfile: Optional[IO[bytes]] = None,
                 **kwargs: Any) -> None:
        """Download one object to a local file (verified, renamed into place when complete)."""
        if self.isdir(rpath):
            os.makedirs(lpath, exist_ok=True)
            return
        bucket, name = self._object(rpath)
        try:
            if outfile is not None:
                for piece in self.client.get_stream(bucket, name):
                    outfile.write(piece)
                return
            os.makedirs(os.path.dirname(os.path.abspath(lpath)), exist_ok=True)
            self.client.get_to_file(bucket, name, lpath, overwrite=True)  # fsspec replaces local files
        except NotFoundError as exc:
            raise FileNotFoundError(rpath) from exc

    # ---------------------------------------------------------------------------------- writes
    def _store(self, path: str, value: Any, *, mode: str = "overwrite", local_path: Optional[str] = None) -> None:
        """Put ``value`` (bytes or a seekable file) at ``path``; an existing object is replaced
        (delete, then put) unless ``mode`` is ``"create"``."""
        bucket, name = self._object(path)
        if mode == "create" and self._stat(bucket, name) is not None:
            raise FileExistsError(path)

        def put() -> None:
            if local_path is not None:
                self.client.put_file(bucket, name, local_path)
            else:
                if hasattr(value, "seek"):
                    value.seek(0)
                self.client.put(bucket, name, value)

        try:
            put()
        except AlreadyExistsError:
            if mode == "create":
                raise FileExistsError(path) from None
            self.client.delete(bucket, name)
            put()
        self.invalidate_cache(path)

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        """Store ``value`` at ``path`` (``mode="create"``: FileExistsError if it exists)."""
        self._store(path, value, mode=mode)

    def put_file(self, lpath: str, rpath: str, callback: Any = None, mode: str = "overwrite",
                 **kwargs: Any) -> None:
        """Upload a local file (chunks read in place, in parallel); a directory is a no-op."""
        if os.path.isdir(lpath):
            return
        self._store(rpath, None, mode=mode, local_path=lpath)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Copy an object through a temp file (MictlanX has no server-side copy); a directory is
        a no-op."""
        if self._is_prefix(path1):
            return
        bucket, name = self._object(path1)
        with tempfile.TemporaryFile() as spool:
            try:
                for piece in self.client.get_stream(bucket, name):
                    spool.write(piece)
            except NotFoundError as exc:
                raise FileNotFoundError(path1) from exc
            self._store(path2, spool)

    def _is_prefix(self, path: str) -> bool:
        """Whether ``path`` is a "directory" in the (cached) listing and not an object."""
        bucket, name = self.split_path(path)
        if not bucket or not name:
            return True
        objects = self._bucket(bucket)
        return name not in objects and any(other.startswith(name + "/") for other in objects)

    def _rm(self, path: str) -> None:
        if not self._is_prefix(path):
            bucket, name = self.split_path(path)
            self.client.delete(bucket, name)
        self.invalidate_cache(path)

    def rm(self, path: Union[str, List[str]], recursive: bool = False, maxdepth: Optional[int] = None) -> None:
        """Delete objects (with ``recursive``, everything below a "directory"), in parallel."""
        paths = self.expand_path(path, recursive=recursive, maxdepth=maxdepth)
        by_bucket: Dict[str, List[str]] = {}
        for one in paths:
            if not self._is_prefix(one):
                bucket, name = self.split_path(one)
                by_bucket.setdefault(bucket, []).append(name)
        try:
            for bucket, names in by_bucket.items():
                for result in self.client.delete_many(bucket, names):
                    if result.error is not None:
                        raise result.error
        finally:
            self.invalidate_cache()

    def rm_file(self, path: str) -> None:
        """Delete one object (a "directory" or a missing object is a no-op)."""
        self._rm(path)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """No-op: directories are name prefixes and exist while an object is below them."""

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """No-op (see :meth:`mkdir`)."""

    def rmdir(self, path: str) -> None:
        """No-op (see :meth:`mkdir`)."""

    # ------------------------------------------------------------------------------------ open
    def _open(self, path: str, mode: str = "rb", block_size: Optional[int] = None, autocommit: bool = True,
              cache_options: Optional[Dict[str, Any]] = None, **kwargs: Any) -> MictlanXFile:
        if mode == "ab":
            raise NotImplementedError("append mode: MictlanX objects are immutable (rewrite the object)")
        if mode == "xb" and self.exists(path):
            raise FileExistsError(path)
        return MictlanXFile(self, path, mode, block_size=block_size, autocommit=autocommit,
                            cache_options=cache_options, **kwargs)


class MictlanXFile(AbstractBufferedFile):  # type: ignore[misc]
    """A MictlanX object opened through :class:`MictlanXFileSystem`.

    Reading: random access through the chunk map; each cache miss reads one block (by default
    ``max_workers`` chunks, fetched in parallel), only the chunks covering it. Writing: bytes are
    spooled to a temp file and stored on close (or on ``commit`` in a transaction).
    """

    fs: MictlanXFileSystem

    def __init__(self, fs: MictlanXFileSystem, path: str, mode: str = "rb",
                 block_size: Union[int, str, None] = None, **kwargs: Any) -> None:
        self._object_info: Optional[ObjectInfo] = None
        self._spool: Optional[IO[bytes]] = None
        size = None
        if mode == "rb":
            bucket, name = fs._object(path)
            try:
                self._object_info = fs.client.stat(bucket, name)
            except NotFoundError as exc:
                raise FileNotFoundError(path) from exc
            size = self._object_info.size
            if block_size in (None, "default"):
                chunk = max((c.size for c in self._object_info.chunks), default=0) or (1 << 20)
                block_size = chunk * fs.client.config.transfer.max_workers
        super().__init__(fs, path, mode, block_size=block_size, size=size, **kwargs)
        if self._object_info is not None:
            self.details = MictlanXFileSystem._file_entry(fs.split_path(path)[0], self._object_info)

    def _fetch_range(self, start: int, end: int) -> bytes:
        bucket, name = self.fs.split_path(self.path)
        return self.fs.client.get_range(bucket, name, start, end, info=self._object_info)

    def _initiate_upload(self) -> None:
        self._spool = tempfile.TemporaryFile()

    def _upload_chunk(self, final: bool = False) -> bool:
        assert self._spool is not None
        self._spool.write(self.buffer.getbuffer())
        if final and self.autocommit:
            self.commit()
        return True

    def commit(self) -> None:
        """Store the spooled bytes as the object."""
        if self._spool is None:
            return
        try:
            self.fs._store(self.path, self._spool, mode="create" if self.mode == "xb" else "overwrite")
        finally:
            self.discard()

    def discard(self) -> None:
        """Throw the spooled bytes away."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None
