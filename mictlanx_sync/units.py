"""Size strings <-> bytes, with the reference's decimal units.

``"256kb"`` is 256000 and ``"1MB"`` is 1000000 (decimal, as humanfriendly parses them); only the
``KiB``/``MiB``/``GiB``/``TiB`` spellings are binary.
"""

from __future__ import annotations

import re
from typing import Union

from .errors import InvalidArgumentError

__all__ = ["parse_size", "format_size", "SizeLike"]

SizeLike = Union[int, str]

_DECIMAL = {"": 1, "b": 1, "byte": 1, "bytes": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6,
            "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12}
_BINARY = {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([A-Za-z]*)\s*$")


def parse_size(value: SizeLike) -> int:
    """Turn a size (an int of bytes or a string such as ``"256kb"``) into a number of bytes.

    Args:
        value: a non-negative int, or a number followed by an optional unit (``b``, ``kb``,
            ``mb``, ``gb``, ``tb`` decimal; ``KiB``, ``MiB``, ``GiB``, ``TiB`` binary).

    Returns:
        The size in bytes.

    Raises:
        InvalidArgumentError: the value is negative, empty, not a number or has an unknown unit.

    >>> parse_size("256kb"), parse_size("1MB"), parse_size("1MiB"), parse_size(42)
    (256000, 1000000, 1048576, 42)
    """
    if isinstance(value, bool):
        raise InvalidArgumentError(f"size must be an int or a size string, not {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise InvalidArgumentError(f"size must not be negative: {value}")
        return value
    if not isinstance(value, str):
        raise InvalidArgumentError(f"size must be an int or a size string, not {type(value).__name__}")
    match = _SIZE_RE.match(value)
    if match is None:
        raise InvalidArgumentError(f"invalid size {value!r}: expected a number and a unit, like '256kb'")
    number, unit = match.group(1), match.group(2).lower()
    factor = _BINARY.get(unit, _DECIMAL.get(unit))
    if factor is None:
        raise InvalidArgumentError(f"invalid size {value!r}: unknown unit {match.group(2)!r}")
    whole, _, fraction = number.partition(".")
    # Integer arithmetic on the digits: exact (rounded half up) and no float overflow.
    scale = 10 ** len(fraction)
    numerator = (int(whole or "0") * scale + int(fraction or "0")) * factor
    return int((2 * numerator + scale) // (2 * scale))


def format_size(num_bytes: int, *, binary: bool = False) -> str:
    """Format a byte count the way the reference router does (``"1.23 MB"``).

    Args:
        num_bytes: the size in bytes (non-negative).
        binary: use KiB/MiB/GiB (powers of 1024) instead of KB/MB/GB.

    Returns:
        A human-readable string; ``parse_size`` reads it back to within rounding.

    >>> format_size(1234567), format_size(512), format_size(1048576, binary=True)
    ('1.23 MB', '512 bytes', '1 MiB')
    """
    if num_bytes < 0:
        raise InvalidArgumentError(f"size must not be negative: {num_bytes}")
    base = 1024 if binary else 1000
    units = ["KiB", "MiB", "GiB", "TiB"] if binary else ["KB", "MB", "GB", "TB"]
    if num_bytes < base:
        return f"{num_bytes} bytes"
    value = float(num_bytes) / base
    index = 0
    while value >= base and index < len(units) - 1:
        value /= base
        index += 1
    unit = units[index]
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}"
