"""Where upload bytes come from: a buffer, a file (read with ``os.pread``), or caller-made chunks.
Streams of unknown size are spooled to a temporary file first, in bounded memory, because every
chunk's metadata must carry the whole object's SHA-256 before the first chunk is sent."""

from __future__ import annotations

import bisect
import hashlib
import io
import os
import stat
import tempfile
from typing import Any, BinaryIO, Iterable, List, Optional, Sequence, Tuple, Union

from ..errors import InvalidArgumentError, LocalIOError
from .chunking import ChunkSpan, plan_chunks
from .manager import TransferManager

__all__ = ["Source", "BufferSource", "FileSource", "ListSource", "open_source", "checksums"]

SPOOL_PIECE = 8 * 1024 * 1024  # bytes read at a time from a stream being spooled
Buffer = Union[bytes, bytearray, memoryview]


def _readable_in_place(status: os.stat_result) -> bool:
    """Whether a file's bytes can be read in place with ``pread``: a regular file whose size the
    kernel knows. Anything else (a pipe, a device, a /proc or /sys file that reports size 0) is
    read through and spooled."""
    return stat.S_ISREG(status.st_mode) and status.st_size > 0


def byte_view(data: Buffer) -> memoryview:
    """A flat, one-byte-per-item view of ``data``: any buffer (an ``array('i')``, a 2-D view)
    counts by bytes; a strided view (``view[::2]``) is copied into its bytes, in order."""
    view = memoryview(data)
    if not view.contiguous:
        view = memoryview(view.tobytes())
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


class Source:
    """Bytes to upload. Thread safety: ``read`` may be called from many threads at once."""

    size: int

    def read(self, offset: int, size: int) -> Buffer:
        """``size`` bytes at ``offset``."""
        raise NotImplementedError

    def spans(self, chunk_size: int) -> List[ChunkSpan]:
        """How this source is split into chunks."""
        return plan_chunks(self.size, chunk_size)

    def close(self) -> None:
        """Release what the source holds (files it opened or spooled)."""


class BufferSource(Source):
    """An in-memory buffer; chunks are zero-copy memoryview slices."""

    def __init__(self, data: Buffer) -> None:
        self._view = byte_view(data)
        self.size = len(self._view)

    def read(self, offset: int, size: int) -> memoryview:
        return self._view[offset:offset + size]


class FileSource(Source):
    """A regular file, read with ``os.pread`` so many threads can read different chunks at once.

    Args:
        fd: an open file descriptor.
        size: the number of bytes to upload, from ``start``.
        start: the first byte.
        owned_path: a file to delete on close (a spooled stream), if any.
    """

    def __init__(self, fd: int, size: int, start: int = 0, owned_path: Optional[str] = None,
                 close_fd: bool = False) -> None:
        self._fd = fd
        self.size = size
        self._start = start
        self._owned_path = owned_path
        self._close_fd = close_fd or owned_path is not None

    @classmethod
    def open(cls, path: Union[str, os.PathLike[str]]) -> FileSource:
        """Open a file by path (closed by :meth:`close`): a regular file is read in place."""
        try:
            fd = os.open(os.fspath(path), os.O_RDONLY)
        except FileNotFoundError as exc:
            raise InvalidArgumentError(f"no such file: {os.fspath(path)!r}") from exc
        except IsADirectoryError as exc:
            raise InvalidArgumentError(f"is a directory, not a file: {os.fspath(path)!r}") from exc
        except OSError as exc:  # permission denied, a symlink loop...: the user's path, typed
            raise LocalIOError(f"cannot read {os.fspath(path)!r}: {exc.strerror or exc}", path=os.fspath(path),
                               cause=exc) from exc
        status = os.fstat(fd)
        if stat.S_ISDIR(status.st_mode):  # Linux opens a directory read-only without complaint
            os.close(fd)
            raise InvalidArgumentError(f"is a directory, not a file: {os.fspath(path)!r}")
        if _readable_in_place(status):
            return cls(fd, status.st_size, close_fd=True)
        with os.fdopen(fd, "rb") as stream:
            return _spool(_file_pieces(stream), None)

    def read(self, offset: int, size: int) -> bytes:
        data = os.pread(self._fd, size, self._start + offset)
        if len(data) != size:
            raise InvalidArgumentError(
                f"file changed while uploading: expected {size} bytes at offset {offset}, read {len(data)}")
        return data

    def close(self) -> None:
        if self._close_fd:
            os.close(self._fd)
            self._close_fd = False
        if self._owned_path is not None:
            try:
                os.unlink(self._owned_path)
            except FileNotFoundError:
                pass
            self._owned_path = None


class ListSource(Source):
    """Caller-made chunks: one chunk per item, in order."""

    def __init__(self, chunks: Sequence[Buffer]) -> None:
        if not chunks:
            raise InvalidArgumentError("put_chunks needs at least one chunk")
        self._chunks = [byte_view(c) for c in chunks]
        self._offsets: List[int] = []
        offset = 0
        for chunk in self._chunks:
            self._offsets.append(offset)
            offset += len(chunk)
        self.size = offset

    def spans(self, chunk_size: int) -> List[ChunkSpan]:
        return [ChunkSpan(index=i, offset=o, size=len(c))
                for i, (o, c) in enumerate(zip(self._offsets, self._chunks))]

    def read(self, offset: int, size: int) -> memoryview:
        # Empty chunks share their offset with the next chunk: the size tells them apart.
        index = bisect.bisect_left(self._offsets, offset)
        while index < len(self._chunks) and self._offsets[index] == offset:
            if len(self._chunks[index]) == size:
                return self._chunks[index]
            index += 1
        raise InvalidArgumentError(f"no chunk of {size} bytes at offset {offset}")


def checksums(source: Source, spans: Sequence[ChunkSpan], manager: TransferManager[Any]) -> Tuple[str, List[str]]:
    """The whole object's SHA-256 and each chunk's, in one pass over the source.

    The manager's workers read and hash the chunks while the calling thread feeds them, in order,
    to the whole object's digest: two cores hash at once (hashlib releases the GIL), and the
    upload that follows sends each chunk with the checksum computed here, so a file that changes
    in between is refused by the server instead of stored under a stale ``full_checksum``.
    """
    if len(spans) == 1:  # one chunk: its SHA-256 is the object's
        whole = hashlib.sha256(source.read(spans[0].offset, spans[0].size)).hexdigest()
        return whole, [whole]
    digest = hashlib.sha256()
    chunk_sums = [""] * len(spans)

    def hash_chunk(index: int, _cancel: Any) -> Buffer:
        data = source.read(spans[index].offset, spans[index].size)
        chunk_sums[index] = hashlib.sha256(data).hexdigest()
        return data

    def feed(_index: int, data: Buffer) -> None:
        digest.update(data)

    manager.run(len(spans), hash_chunk, feed, what="checksum")
    return digest.hexdigest(), chunk_sums


def _spool(pieces: Iterable[Any], directory: Optional[str]) -> FileSource:
    fd, path = tempfile.mkstemp(prefix=".mictlanx-spool-", dir=directory)
    size = 0
    try:
        for piece in pieces:
            if not isinstance(piece, (bytes, bytearray, memoryview)):
                raise InvalidArgumentError(f"an iterator value must yield bytes, got {type(piece).__name__}")
            view = memoryview(piece)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            size += len(piece)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    return FileSource(fd, size, owned_path=path)


def _reads_its_descriptor(value: Any) -> bool:
    """True when ``value.read()`` returns exactly the bytes of ``value.fileno()`` (a plain binary
    file), so the descriptor can be read in place. Decompressing readers (gzip, bz2, lzma),
    archive members and other wrappers return other bytes than their descriptor holds: they
    are read through ``read()``."""
    if isinstance(value, io.FileIO):
        return True
    return type(value) in (io.BufferedReader, io.BufferedRandom) and isinstance(value.raw, io.FileIO)


def _file_pieces(stream: BinaryIO) -> Iterable[bytes]:
    while True:
        piece = stream.read(SPOOL_PIECE)
        if isinstance(piece, str):
            raise InvalidArgumentError("value is a text file: open it in binary mode ('rb')")
        if not piece:
            return
        yield piece


def open_source(value: Any, spool_dir: Optional[str] = None) -> Source:
    """Wrap an upload value: bytes-like, a binary file object or an iterator of bytes.

    A seekable file with a descriptor is read in place from its current position; any other
    stream is spooled to a temporary file (so its size and checksum are known up front).

    Raises:
        InvalidArgumentError: the value is of an unsupported type (str, int, a text file...).
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return BufferSource(value)
    if isinstance(value, str):
        raise InvalidArgumentError("value must be bytes, not str: encode it first (value.encode())")
    if hasattr(value, "read"):
        if isinstance(value, io.TextIOBase):
            raise InvalidArgumentError("value is a text file: open it in binary mode ('rb')")
        if _reads_its_descriptor(value):
            try:
                fd = value.fileno()
                status = os.fstat(fd)
                if _readable_in_place(status):
                    position = value.tell()
                    return FileSource(fd, max(0, status.st_size - position), start=position)
            except (OSError, ValueError):
                pass
        return _spool(_file_pieces(value), spool_dir)
    if isinstance(value, Iterable):
        return _spool(value, spool_dir)
    raise InvalidArgumentError(
        f"value must be bytes, a binary file or an iterator of bytes, not {type(value).__name__}")
