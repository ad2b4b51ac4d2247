"""A streaming ``multipart/form-data`` parser.

:func:`iter_field` yields the bytes of one named part piece by piece, never holding the whole body:
it keeps at most one input piece plus the length of the boundary delimiter in memory.
Truncated or malformed bodies raise :class:`MultipartError`.

Example:
    >>> body = b'--xx\\r\\nContent-Disposition: form-data; name="data"\\r\\n\\r\\nhello\\r\\n--xx--\\r\\n'
    >>> b"".join(iter_field([body[:7], body[7:]], b"xx", "data"))
    b'hello'
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator, Optional

__all__ = ["MultipartError", "boundary_from_content_type", "iter_field"]

MAX_HEADER_BYTES = 16 << 10


class MultipartError(ValueError):
    """The multipart body is malformed, truncated or lacks the wanted part."""


_BOUNDARY_RE = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_NAME_RE = re.compile(r'(?:^|;)\s*name=(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))', re.IGNORECASE)


def boundary_from_content_type(content_type: Optional[str]) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type.

    Raises:
        MultipartError: the content type is not multipart/form-data or has no valid boundary.
    """
    if not content_type or not content_type.lower().lstrip().startswith("multipart/form-data"):
        raise MultipartError(f"expected Content-Type multipart/form-data, got {content_type!r}")
    match = _BOUNDARY_RE.search(content_type)
    if match is None:
        raise MultipartError("multipart/form-data Content-Type without a boundary")
    boundary = (match.group(1) or match.group(2)).encode("latin-1")
    if not 1 <= len(boundary) <= 200:
        raise MultipartError("invalid multipart boundary length")
    return boundary


def _part_name(headers: bytes) -> Optional[str]:
    for line in headers.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-disposition":
            match = _NAME_RE.search(value.decode("latin-1"))
            if match is not None:
                return match.group(1) if match.group(1) is not None else match.group(2)
    return None


class _Scanner:
    """Input buffer over an iterator of pieces."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = iter(pieces)
        self.buf = bytearray()
        self.eof = False

    def more(self) -> bool:
        """Append the next piece; False at the end of the input."""
        if self.eof:
            return False
        for piece in self._pieces:
            if piece:
                self.buf += piece
                return True
        self.eof = True
        return False


def iter_field(pieces: Iterable[bytes], boundary: bytes, field: str) -> Iterator[bytes]:
    """Yield the content of the first part named ``field``, piece by piece.

    The rest of the body is consumed and checked (it must end with the closing delimiter).

    Args:
        pieces: the raw request body in pieces of any size.
        boundary: the multipart boundary (without the leading ``--``).
        field: the part name to extract.

    Raises:
        MultipartError: the body is truncated, malformed, or has no part named ``field``.
    """
    scan = _Scanner(pieces)
    dash = b"--" + boundary
    delimiter = b"\r\n" + dash
    # Preamble: the body starts with "--boundary" (or has a preamble before "\r\n--boundary").
    while True:
        if scan.buf.startswith(dash):
            del scan.buf[:len(dash)]
            break
        index = scan.buf.find(delimiter)
        if index >= 0:
            del scan.buf[:index + len(delimiter)]
            break
        if len(scan.buf) > MAX_HEADER_BYTES:
            raise MultipartError("multipart body does not start with its boundary")
        if not scan.more():
            raise MultipartError("truncated multipart body: no boundary found")
    found = False
    while True:
        # After a delimiter: "--" closes the body, "\r\n" starts a part (transport padding allowed).
        while len(scan.buf) < 2 and scan.more():
            pass
        if scan.buf[:2] == b"--":
            break
        end = scan.buf.find(b"\r\n")
        while end < 0:
            if len(scan.buf) > 1024 or not scan.more():
                raise MultipartError("truncated or malformed multipart delimiter line")
            end = scan.buf.find(b"\r\n")
        if scan.buf[:end].strip(b" \t"):
            raise MultipartError("malformed multipart delimiter line")
        del scan.buf[:end + 2]
        # Part headers, up to a blank line.
        while True:
            if scan.buf.startswith(b"\r\n"):
                headers = b""
                del scan.buf[:2]
                break
            end = scan.buf.find(b"\r\n\r\n")
            if end >= 0:
                headers = bytes(scan.buf[:end])
                del scan.buf[:end + 4]
                break
            if len(scan.buf) > MAX_HEADER_BYTES:
                raise MultipartError("multipart part headers are too large")
            if not scan.more():
                raise MultipartError("truncated multipart body inside part headers")
        wanted = not found and _part_name(headers) == field
        found = found or wanted
        # Part content, up to the next delimiter.
        keep = len(delimiter) - 1
        while True:
            index = scan.buf.find(delimiter)
            if index >= 0:
                if wanted and index:
                    yield bytes(scan.buf[:index])
                del scan.buf[:index + len(delimiter)]
                break
            if len(scan.buf) > keep:
                cut = len(scan.buf) - keep
                if wanted:
                    yield bytes(scan.buf[:cut])
                del scan.buf[:cut]
            if not scan.more():
                raise MultipartError("truncated multipart body: the closing boundary is missing")
    if not found:
        raise MultipartError(f"multipart body has no part named {field!r}")
