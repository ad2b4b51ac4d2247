"""Object names people use (``report.pdf``, ``2024/cat.jpg``, ``日本``) <-> MictlanX keys.

Pure functions, no I/O. MictlanX keys are limited to letters, digits and single ``-``/``_``
between them (PROTOCOL §1.1). A *name* is any Unicode string of at most :data:`MAX_NAME_BYTES`
UTF-8 bytes without control characters (``/`` is allowed, as in S3):

* a name that is already a valid key is stored under itself, exactly as before (objects stay
  readable by other MictlanX clients by the same key);
* any other name is mapped to ``{slug}-{hash}``: a readable ASCII slug of the name (at most
  :data:`MAX_SLUG_LENGTH` characters, ``/`` shown as ``_``) and the first
  :data:`HASH_CHARS` hex digits (128 bits) of the SHA-256 of the name's exact UTF-8 bytes. The
  mapping is deterministic, so no lookup table is needed, and two names share a key only if
  their hashes collide (about 2**-64 after 2**32 names). The exact name travels in the reserved
  tag :data:`~mictlanx_sync._protocol.TAG_NAME`, so listings can show it.

A mapped key is itself a valid key, so mapping is idempotent: ``key_for(key_for(n)) ==
key_for(n)``. Names are compared by their exact code points: ``"é"`` written precomposed (NFC)
and decomposed (NFD) are two names.

>>> key_for("report-2024")
'report-2024'
>>> key_for("report.pdf")
'report-pdf-6466e450a16b77b865c5829d6b6c56d9'
>>> key_for("2024/cat.jpg")[:13]
'2024_cat-jpg-'
>>> name_of("report-pdf-6466e450a16b77b865c5829d6b6c56d9", {"object_name": "report.pdf"})
'report.pdf'
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Mapping, Optional

from . import _protocol as P
from .errors import InvalidArgumentError

__all__ = [
    "MAX_NAME_BYTES",
    "HASH_CHARS",
    "MAX_SLUG_LENGTH",
    "MAX_MAPPED_KEY_LENGTH",
    "name_problem",
    "check_name",
    "is_key",
    "key_for",
    "slug",
    "name_of",
    "name_tags",
]

#: The longest name, in UTF-8 bytes (S3's limit).
MAX_NAME_BYTES = 1024
#: Hex digits of SHA-256 kept in a mapped key (128 bits).
HASH_CHARS = 32
#: The longest readable slug in a mapped key.
MAX_SLUG_LENGTH = 96
#: The longest mapped key: slug, ``-``, hash.
MAX_MAPPED_KEY_LENGTH = MAX_SLUG_LENGTH + 1 + HASH_CHARS
# A mapped key leaves room for any chunk suffix ``_{i}`` (i up to 20 digits) within the id limit.
assert MAX_MAPPED_KEY_LENGTH + 21 <= P.MAX_ID_LENGTH

_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")


def name_problem(name: object, what: str = "name") -> Optional[str]:
    """Why ``name`` cannot be an object name, or None when it can.

    >>> name_problem("a/b.txt") is None
    True
    >>> name_problem("a" + chr(0) + "b")
    "name 'a\\\\x00b' contains a control character (U+0000)"
    """
    if not isinstance(name, str):
        return f"{what} must be a string, not {type(name).__name__}"
    if not name:
        return f"{what} must not be empty"
    for char in name:
        category = unicodedata.category(char)
        if category == "Cc":
            return f"{what} {name[:80]!r} contains a control character (U+{ord(char):04X})"
        if category == "Cs":
            return f"{what} {name[:80]!r} contains a lone surrogate (U+{ord(char):04X}), which is not UTF-8"
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        return f"{what} is {size} bytes long in UTF-8; the limit is {MAX_NAME_BYTES}"
    return None


def check_name(name: object, what: str = "name") -> str:
    """Return ``name`` if it can be an object name.

    Raises:
        InvalidArgumentError: not a string, empty, longer than :data:`MAX_NAME_BYTES` in UTF-8, or
            containing a control character (NUL, newline, ...) or a lone surrogate.
    """
    problem = name_problem(name, what)
    if problem is not None:
        raise InvalidArgumentError(problem)
    assert isinstance(name, str)
    return name


def is_key(name: str) -> bool:
    """Whether ``name`` is already a valid MictlanX key (and so is stored under itself)."""
    return P.id_problem(name) is None


def slug(name: str) -> str:
    """A readable ASCII slug of ``name`` (possibly empty): accents dropped, ``/`` shown as ``_``,
    every other run of non-alphanumerics as ``-``, at most :data:`MAX_SLUG_LENGTH` characters.

    >>> slug("Café/menu 2024.pdf"), slug("日本"), slug("../a//b")
    ('Cafe_menu-2024-pdf', '', 'a_b')
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    out = _SEPARATORS.sub(lambda m: "_" if "/" in m.group(0) else "-", ascii_name)
    out = out[:MAX_SLUG_LENGTH + 1].strip("-_")[:MAX_SLUG_LENGTH]
    return out.rstrip("-_")


def key_for(name: object) -> str:
    """The MictlanX key that stores the object ``name``: ``name`` itself when it is a valid key,
    else ``{slug}-{hash}`` (or just the hash when the slug is empty).

    Raises:
        InvalidArgumentError: ``name`` cannot be a name (see :func:`check_name`).
    """
    checked = check_name(name)
    if is_key(checked):
        return checked
    digest = hashlib.sha256(checked.encode("utf-8")).hexdigest()[:HASH_CHARS]
    readable = slug(checked)
    return f"{readable}-{digest}" if readable else digest


def name_of(key: str, tags: Mapping[str, str]) -> str:
    """The user's name of the object stored under ``key`` with these chunk tags: the
    :data:`~mictlanx_sync._protocol.TAG_NAME` tag when it maps back to ``key``, else ``key``."""
    name = tags.get(P.TAG_NAME)
    if name and name_problem(name) is None and key_for(name) == key:
        return name
    return key


def name_tags(name: str, key: str) -> Mapping[str, str]:
    """The reserved tags that record ``name`` on the chunks of ``key``: the name tag when the
    name is not the key itself, else none."""
    return {} if name == key else {P.TAG_NAME: name}
