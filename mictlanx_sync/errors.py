"""One exception tree, rooted at :class:`MictlanXError`.

Leaves are chosen by what the caller does next:

* :class:`InvalidArgumentError` (also a :class:`ValueError`): fix the call.
* :class:`InvalidURIError`: fix the ``mictlanx://`` URI.
* :class:`NotFoundError`: the bucket/key does not exist.
* :class:`AlreadyExistsError` / :class:`MaxAvailabilityReachedError`: the key is already stored.
* :class:`NetworkError` (:class:`ConnectFailedError`, :class:`RequestTimeoutError`): retry later
  or elsewhere.
* :class:`ServerError` (:class:`BadRequestError`, :class:`ForbiddenError`): the server refused;
  :class:`ProtocolError`: its reply broke the protocol or a client limit.
* :class:`IntegrityError`: bytes did not match their checksum or size; never returned as data.
* :class:`TransferError`: a multi-chunk transfer failed; names the chunks and the first cause.
* :class:`LocalIOError` (also an ``OSError``): a local file could not be read or written (disk
  full, permission denied...); names the user's path. :class:`LocalFileExistsError` (also a
  ``FileExistsError``): ``get_to_file`` refused to replace an existing file (pass ``overwrite=True``).

Every error pickles (so it crosses process pools) and says which bucket/key it concerns.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple, Type

__all__ = [
    "MictlanXError",
    "InvalidArgumentError",
    "InvalidURIError",
    "NotFoundError",
    "AlreadyExistsError",
    "MaxAvailabilityReachedError",
    "PreconditionFailedError",
    "NetworkError",
    "ConnectFailedError",
    "RequestTimeoutError",
    "ServerError",
    "BadRequestError",
    "ForbiddenError",
    "ProtocolError",
    "IntegrityError",
    "TransferError",
    "LocalIOError",
    "LocalFileExistsError",
]


def _rebuild(cls: Type[MictlanXError], args: Tuple[Any, ...], state: dict[str, Any]) -> MictlanXError:
    """Recreate an error from its pickled parts (used by ``__reduce__``)."""
    err: MictlanXError = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class MictlanXError(Exception):
    """Root of every error raised by mictlanx-sync.

    Args:
        message: what happened, in one sentence.
        bucket_id: the bucket concerned, when there is one.
        key: the key concerned, when there is one.
        status: the HTTP status of the reply that caused the error, when there is one.
        detail: the server's ``detail`` (string, object or list), when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        bucket_id: Optional[str] = None,
        key: Optional[str] = None,
        status: Optional[int] = None,
        detail: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.bucket_id = bucket_id
        self.key = key
        self.status = status
        self.detail = detail

    def __str__(self) -> str:
        where = ""
        if self.bucket_id is not None or self.key is not None:
            where = f" [{self.bucket_id or ''}@{self.key or ''}]"
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.message}{where}{status}"

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild, (self.__class__, self.args, dict(self.__dict__)))


class InvalidArgumentError(MictlanXError, ValueError):
    """An argument is invalid (a bad id, size, tag or value); nothing was sent."""


class InvalidURIError(InvalidArgumentError):
    """A ``mictlanx://`` URI could not be parsed; the message names the bad part."""


class NotFoundError(MictlanXError):
    """The bucket/key (or task, or ball) does not exist."""


class AlreadyExistsError(MictlanXError):
    """The key already exists where it was to be written (HTTP 409)."""


class MaxAvailabilityReachedError(AlreadyExistsError):
    """Every live peer already holds the key, or no peer can take it (404 with code 666)."""


class PreconditionFailedError(AlreadyExistsError):
    """A write conditional on the key being new (``If-None-Match: *``) found it stored (HTTP 412)."""


class NetworkError(MictlanXError):
    """The server could not be reached or the connection broke (reset, protocol error)."""


class ConnectFailedError(NetworkError):
    """A TCP connection to the server could not be opened."""


class RequestTimeoutError(NetworkError):
    """The server did not answer within the configured timeout."""


class ServerError(MictlanXError):
    """The server answered with an error status that no narrower class describes."""


class BadRequestError(ServerError):
    """The server refused the request as invalid (400, 413, 422 and similar)."""


class ForbiddenError(ServerError):
    """The server refused access (403), for example to a disabled object."""


class ProtocolError(ServerError):
    """The server's reply broke the protocol or a limit of this client: a redirect, a reply larger
    than ``max_reply_size``, or metadata that cannot be true (negative or absurd sizes, a chunk
    count that does not fit the sizes, an unusable file name). Nothing of it was used."""


class IntegrityError(MictlanXError):
    """Bytes did not match their declared SHA-256 or size; they are never returned as data."""


class TransferError(MictlanXError):
    """A chunked transfer failed.

    Args:
        message: what failed.
        failed_indices: the chunk indices that failed (the rest were cancelled or succeeded).
        cause: the first error that made the transfer fail.
    """

    def __init__(
        self,
        message: str,
        *,
        failed_indices: Sequence[int] = (),
        cause: Optional[BaseException] = None,
        bucket_id: Optional[str] = None,
        key: Optional[str] = None,
    ) -> None:
        super().__init__(message, bucket_id=bucket_id, key=key)
        self.failed_indices = tuple(failed_indices)
        self.cause = cause

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}; failed chunks {list(self.failed_indices)}; first cause: {self.cause!r}"


class LocalIOError(MictlanXError, OSError):
    """A local file could not be read or written: disk full, permission denied, a file in the way.

    Also an ``OSError`` (``errno``, ``strerror`` and ``filename`` are set, ``filename`` being the
    path the caller gave, never a hidden temp file), so ``except OSError`` keeps working.

    Args:
        message: what failed, naming the path.
        path: the caller's path.
        cause: the ``OSError`` behind it, when there is one.
    """

    def __init__(self, message: str, *, path: Optional[str] = None, cause: Optional[OSError] = None,
                 bucket_id: Optional[str] = None, key: Optional[str] = None, status: Optional[int] = None,
                 detail: Any = None) -> None:
        super().__init__(message, bucket_id=bucket_id, key=key, status=status, detail=detail)
        self.errno = cause.errno if cause is not None else None
        self.strerror = cause.strerror if cause is not None else None
        self.filename = path

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild_local, (self.__class__, self.args, dict(self.__dict__),
                                 (self.errno, self.strerror, self.filename)))


def _rebuild_local(cls: Type[LocalIOError], args: Tuple[Any, ...], state: dict[str, Any],
                   os_fields: Tuple[Any, Any, Any]) -> MictlanXError:
    """Recreate a :class:`LocalIOError` with its ``OSError`` fields (used by ``__reduce__``)."""
    err = _rebuild(cls, args, state)
    assert isinstance(err, LocalIOError)
    err.errno, err.strerror, err.filename = os_fields
    return err


class LocalFileExistsError(LocalIOError, FileExistsError):
    """``get_to_file`` would replace an existing local file with different content; nothing was
    fetched. Pass ``overwrite=True`` (CLI: ``--force``) to replace it."""
