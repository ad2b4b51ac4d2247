"""Landing an object in a local file (``get_to_file``): the target's name and path, the same-file
check, and a temp file beside the target that is renamed into place only when every byte checked
out (removed otherwise); local failures are :class:`LocalIOError` naming the caller's path."""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
from typing import TYPE_CHECKING, Callable, Iterator, List, Optional, Tuple, Union

from . import _protocol as P
from . import names as N
from ._getcrypt import decode_all, decoder, plain_spans
from .errors import (
    InvalidArgumentError,
    LocalFileExistsError,
    LocalIOError,
    MictlanXError,
    NetworkError,
    ProtocolError,
    TransferError,
)
from .results import SavedFile
from .transfer.chunking import ObjectLayout
from .transfer.codec import ChunkCodec
from .transfer.manager import CancelToken
from .transfer.progress import Progress, ProgressArg
from .transfer.sink import FileSink

if TYPE_CHECKING:
    from ._get import Downloader

__all__ = ["save", "target_path"]

_MAX_FILE_NAME = 255  # bytes: NAME_MAX on Linux, macOS and the usual file systems


def save(reader: Downloader, bucket_id: str, key: str, output_path: str, fullname: Optional[str],
         progress: ProgressArg, overwrite: bool) -> SavedFile:
    """Fetch an object into a temp file beside the target, verify it, rename it into place
    (:meth:`Downloader.to_file <mictlanx_sync._get.Downloader.to_file>` documents the rules)."""
    core = reader.core
    with core.operation("get_to_file", bucket_id, key) as record:
        layout, first, _ = reader.layout_ahead(bucket_id, key)
        target, directory = target_path(layout, output_path, fullname)
        if _same_file(target, layout, overwrite):
            core.log.info("get_to_file %s@%s: %s already holds this object (same SHA-256); "
                          "nothing fetched", bucket_id, key, target)
            return SavedFile(target, unchanged=True)
        if directory is not None:
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError as exc:
                raise _local_error("cannot create directory", directory, exc, bucket_id, key) from exc
        codec = decoder(layout, reader.options.codec)
        fill: Callable[[FileSink, Progress], None]
        if codec is None:
            size, fill = layout.size, functools.partial(_fetch, reader, layout, first)
        else:
            spans = plain_spans(layout, codec)
            size, fill = sum(length for _, length in spans), functools.partial(_decrypt, reader, layout, codec, spans)
        _land(target, layout, size, progress, fill)
        record["bytes"] = size
        return SavedFile(target)


def _fetch(reader: Downloader, layout: ObjectLayout, first: Optional[bytearray], sink: FileSink,
           meter: Progress) -> None:
    """Fetch a plain object's chunks into ``sink`` (chunk 0 is ``first`` when it was read beside
    the listing), hashing them in order; then verify the whole and repair bad chunks in place."""
    digest = hashlib.sha256()

    def fetch(index: int, cancel: CancelToken) -> bytearray:
        span = layout.spans[index]
        if index == 0 and first is not None:
            buffer = first  # read beside the listing, already verified
        else:
            buffer = bytearray(span.size)
            reader.fetch_chunk(layout, index, memoryview(buffer), cancel, verify=False)
        _write(sink, buffer, span.offset, layout)
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

    reader.run_chunks(layout, len(layout.spans), fetch, hash_in_order, parallel=True, what="get_to_file")
    reader.verify_whole(layout, digest.hexdigest(), chunk, store, rehash)


def _decrypt(reader: Downloader, layout: ObjectLayout, codec: ChunkCodec, spans: List[Tuple[int, int]],
             sink: FileSink, meter: Progress) -> None:
    """Decrypt an encrypted object's chunks into ``sink``, each at its plaintext offset."""
    decode_all(reader, layout, codec, spans, lambda offset, plain: _write(sink, plain, offset, layout), meter,
               True, "get_to_file")


def _land(target: str, layout: ObjectLayout, size: int, progress: ProgressArg,
          fill: Callable[[FileSink, Progress], None]) -> None:
    """Open a temp file of ``size`` bytes beside ``target``, let ``fill(sink, meter)`` write it,
    and rename it into place; on any failure it is removed and the target left as it was."""
    sink = _open_sink(target, size, layout.bucket_id, layout.key)
    meter = Progress(size, progress, description=f"get {layout.key}")
    try:
        with _local_io(target, layout.bucket_id, layout.key):
            fill(sink, meter)
            sink.commit()
    except BaseException:
        sink.abort()
        raise
    finally:
        meter.close()


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


def _write(sink: FileSink, data: Union[bytes, bytearray, memoryview], offset: int, layout: ObjectLayout) -> None:
    """``sink.write``; a local failure (disk full) is a :class:`LocalIOError` naming the target,
    a cancelled transfer a :class:`NetworkError`."""
    try:
        written = sink.write(data, offset)
    except OSError as exc:
        raise _local_error("cannot write", sink.target, exc, layout.bucket_id, layout.key) from exc
    if not written:
        raise NetworkError("transfer cancelled", bucket_id=layout.bucket_id, key=layout.key)


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
