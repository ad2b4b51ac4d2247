"""Shared plumbing of the low-level :class:`~mictlanx_sync.peer.Peer` and
:class:`~mictlanx_sync.router.Router`: endpoints both serve, with the same path and shape."""

from __future__ import annotations

import os
from typing import (
    Any,
    BinaryIO,
    Iterable,
    Iterator,
    Mapping,
    Optional,
    Type,
    TypeVar,
    Union,
    cast,
)

from . import _protocol as P
from . import errors
from ._address import Address
from ._http import DEFAULT_MAX_REPLY, HTTPClient, Reply, SessionFactory
from .config import RetryConfig, Timeouts
from .models import DeletedByBallIdResponse, GetMetadataResponse, HealthResponse
from .transfer.sink import FileSink
from .units import SizeLike, parse_size

__all__ = ["Body", "ByteStream", "as_body", "as_multipart_body"]

Body = Union[bytes, bytearray, memoryview, BinaryIO, Iterable[bytes]]
T = TypeVar("T")

DEFAULT_PIECE = 1024 * 1024


class ByteStream:
    """The body of a data GET as an iterator of byte pieces; never the whole body in memory.

    Use it as a context manager or iterate it to the end; either releases the connection.
    ``headers`` holds the reply headers.
    """

    def __init__(self, reply: Reply, piece_size: int) -> None:
        self._reply = reply
        self.headers = reply.headers
        self._pieces = reply.iter_bytes(piece_size)

    def __iter__(self) -> Iterator[bytes]:
        return self._pieces

    def __next__(self) -> bytes:
        return next(self._pieces)

    def close(self) -> None:
        """Release the connection."""
        self._reply.close()

    def __enter__(self) -> ByteStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse(model: Type[T], data: Any, what: str) -> T:
    """Parse a reply into a model; a malformed reply is a ServerError."""
    try:
        return model.from_json(data)  # type: ignore[attr-defined,no-any-return]
    except errors.InvalidArgumentError as exc:
        raise errors.ServerError(f"{what} answered a malformed reply: {exc.message}") from exc


class _Service:
    """Endpoints common to a peer and a router. Thread safety: safe to share across threads."""

    def __init__(self, address: Address, *, timeouts: Optional[Timeouts] = None,
                 retry: Optional[RetryConfig] = None, verify: Union[bool, str] = True,
                 pool_maxsize: int = 10, session_factory: Optional[SessionFactory] = None,
                 max_reply_size: int = DEFAULT_MAX_REPLY, token: Optional[str] = None) -> None:
        self._http = HTTPClient(address.base_url, timeouts=timeouts, retry=retry, verify=verify,
                                pool_maxsize=pool_maxsize, session_factory=session_factory,
                                max_reply_size=max_reply_size, token=token)
        self.ip_addr = address.ip_addr
        self.port = address.port
        self.protocol = address.protocol
        self.api_version = address.api_version

    @property
    def base_url(self) -> str:
        """The base URL, ``http://host:port``."""
        return self._http.base_url

    def _send(self, method: str, template: str, path_params: Optional[Mapping[str, str]] = None,
              **kwargs: Any) -> Reply:
        """Send a request to ``template`` filled with ``path_params``; errors name the bucket/key."""
        params = dict(path_params or {})
        kwargs.setdefault("bucket_id", params.get("bucket_id"))
        kwargs.setdefault("key", params.get("key", params.get("ball_id")))
        return self._http.send(method, P.path(template, **params), **kwargs)

    def _json(self, method: str, template: str, model: Type[T],
              path_params: Optional[Mapping[str, str]] = None, **kwargs: Any) -> T:
        """Send a request and parse its JSON reply into ``model``."""
        with self._send(method, template, path_params, **kwargs) as reply:
            return _parse(model, reply.json(), f"{method} {self.base_url}{P.path(template, **(path_params or {}))}")

    def health(self) -> HealthResponse:
        """``GET /health``.

        Raises:
            NetworkError: the server is not reachable.
        """
        with self._http.send("GET", P.HEALTH) as reply:
            try:
                body = reply.json()
            except errors.ServerError:
                body = {}
        return _parse(HealthResponse, body if isinstance(body, dict) else {}, "health")

    def get_metadata(self, bucket_id: str, key: str) -> GetMetadataResponse:
        """Metadata of one key.

        Raises:
            NotFoundError: the key is unknown (also when a real router wraps the 404 in a 500).
        """
        return self._json("GET", P.METADATA, GetMetadataResponse, {"bucket_id": bucket_id, "key": key})

    def _get_data(self, bucket_id: str, key: str, chunk_size: SizeLike, force: bool,
                  peer_id: Optional[str] = None) -> Reply:
        headers = {P.H_CHUNK_SIZE: str(chunk_size), P.H_FORCE_GET: "1" if force else "0"}
        if peer_id:
            headers[P.H_PEER_ID] = peer_id
        return self._send("GET", P.DATA, {"bucket_id": bucket_id, "key": key}, headers=headers, stream=True)

    def get_streaming(self, bucket_id: str, key: str, *, chunk_size: SizeLike = "1MB",
                      force: bool = False) -> ByteStream:
        """The data of one key as a stream of byte pieces of at most ``chunk_size`` bytes.

        Raises:
            NotFoundError: the key is unknown.
            ForbiddenError: the ball is disabled.
        """
        piece_size = parse_size(chunk_size) or DEFAULT_PIECE  # refuse a bad size before sending
        reply = self._get_data(bucket_id, key, chunk_size, force)
        return ByteStream(reply, piece_size)

    def get_into(self, bucket_id: str, key: str, buffer: memoryview, *, force: bool = False,
                 peer_id: Optional[str] = None, chunk_size: SizeLike = "1MB") -> int:
        """Read the data of one key into ``buffer``, which must be exactly its size.

        Args:
            peer_id: sent as ``Peer-Id``: a router then reads from that replica.
            chunk_size: sent as ``Chunk-Size``: the piece size the router relays the body in.

        Raises:
            IntegrityError: the server sent fewer or more bytes than ``len(buffer)``.
        """
        reply = self._get_data(bucket_id, key, chunk_size, force, peer_id)
        return reply.readinto_exact(buffer)

    def get_bounded(self, bucket_id: str, key: str, limit: int) -> Optional[bytearray]:
        """The data of one key if it is at most ``limit`` bytes, else None (the reply is closed
        as soon as it is known to be longer: from its Content-Length, or while reading a body
        sent without one).

        Raises:
            NotFoundError: the key is unknown.
            ForbiddenError: the ball is disabled.
        """
        reply = self._get_data(bucket_id, key, "1MB", False)
        length = reply.headers.get("Content-Length", "")
        if length.isdigit():
            if int(length) > limit:
                reply.close()
                return None
            buffer = bytearray(int(length))
            reply.readinto_exact(memoryview(buffer))
            return buffer
        data = bytearray()
        for piece in reply.iter_bytes(64 << 10):
            data += piece
            if len(data) > limit:
                reply.close()
                return None
        return data

    def get(self, bucket_id: str, key: str) -> bytes:
        """The whole data of one (small) key, as bytes."""
        with self._get_data(bucket_id, key, "1MB", False) as reply:
            return reply.content

    def get_to_file(self, bucket_id: str, key: str, path: Union[str, os.PathLike[str]], *,
                    chunk_size: SizeLike = "1MB") -> str:
        """Stream the data of one key into ``path`` (written to a temp file, then renamed).

        Returns:
            The path written.
        """
        sink = FileSink(os.fspath(path), 0)
        offset = 0
        try:
            with self.get_streaming(bucket_id, key, chunk_size=chunk_size) as stream:
                for piece in stream:
                    sink.write(piece, offset)
                    offset += len(piece)
            return sink.commit()
        except BaseException:
            sink.abort()
            raise

    def disable(self, bucket_id: str, key: str) -> None:
        """Disable a key: later data GETs answer 403."""
        self._send("POST", P.DISABLE, {"bucket_id": bucket_id, "key": key}).close()

    def delete_by_ball_id(self, bucket_id: str, ball_id: str, *,
                          force: bool = True) -> DeletedByBallIdResponse:
        """Delete every ball whose metadata ``ball_id`` matches."""
        with self._send("DELETE", P.DELETE_BY_BALL_ID, {"bucket_id": bucket_id, "ball_id": ball_id},
                        headers={P.H_FORCE: "1" if force else "0"}) as reply:
            return self._deleted_by_ball_id(reply, ball_id)

    def _deleted_by_ball_id(self, reply: Reply, ball_id: str) -> DeletedByBallIdResponse:
        count = n_deletes_header(reply)
        if count is not None:
            return DeletedByBallIdResponse(n_deletes=count, ball_id=ball_id)
        return _parse(DeletedByBallIdResponse, reply.json(), "delete by ball_id")

    def close(self) -> None:
        """Release the session's connections."""
        self._http.close()

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"


class SizedPieces:
    """An iterator of byte pieces whose total size is known: requests sends it with a
    Content-Length (no chunked framing), piece by piece, without joining the pieces."""

    def __init__(self, pieces: Iterable[bytes], size: int) -> None:
        self._pieces = pieces
        self._size = size

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._pieces)


def as_body(value: Body, size: Optional[int] = None) -> Union[bytes, memoryview, BinaryIO, Iterable[bytes]]:
    """Normalise an upload body for requests: buffers as is, files as is, other iterables of
    bytes-like pieces as they are: with chunked transfer encoding, or with a Content-Length when
    ``size`` (their total) is known."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        view = memoryview(value)
        # requests takes len() as Content-Length: it must count bytes, not items.
        return view if view.format == "B" and view.ndim == 1 else view.cast("B")
    if hasattr(value, "read"):
        return cast(BinaryIO, value)
    pieces = value
    return SizedPieces(pieces, size) if size is not None else (piece for piece in pieces)


def as_multipart_body(value: Body) -> Union[bytes, memoryview, BinaryIO]:
    """Normalise an upload body for a multipart part: requests encodes the whole form in memory,
    so an iterator of pieces is joined (a buffer or a file object is passed as is)."""
    body = as_body(value)
    if isinstance(body, (bytes, memoryview)) or hasattr(body, "read"):
        return cast(Union[bytes, memoryview, BinaryIO], body)
    return b"".join(body)


def n_deletes_header(reply: Reply) -> Optional[int]:
    """The ``n-deletes`` reply header as an int, or None when it is missing or not an integer."""
    header = reply.headers.get(P.H_N_DELETES)
    if header is None:
        return None
    try:
        return int(header.strip())
    except ValueError:
        return None

