"""The one place that knows MictlanX API v4 paths, header names, codes and reserved tags.

Both the SDK (``peer``, ``router``) and the local VSS (``vss``) build and match URLs from the
templates below, so a path is spelled exactly once.
"""

from __future__ import annotations

import re
from typing import Dict, Mapping, Optional, Pattern, Tuple
from urllib.parse import quote

from .errors import InvalidArgumentError

API = "/api/v4"

# --- paths (templates use {name} placeholders, one path segment each) ---------------------------
HEALTH = "/health"
# peer and router
BUCKET_METADATA = API + "/buckets/{bucket_id}/metadata"  # POST: step 1; GET: bucket listing
METADATA = API + "/buckets/{bucket_id}/metadata/{key}"
DATA = API + "/buckets/{bucket_id}/{key}"  # GET data, DELETE by key
PUT_DATA = API + "/buckets/data/{task_id}"
PUT_CHUNKED = API + "/buckets/data/{task_id}/chunked"
DELETE_BY_BALL_ID = API + "/buckets/{bucket_id}/bid/{ball_id}"
DISABLE = API + "/buckets/{bucket_id}/{key}/disable"
SIZE = API + "/buckets/{bucket_id}/{key}/size"
# peer only
GROUP = API + "/buckets/{bucket_id}/metadata/{ball_id}/group"
STATS = API + "/stats"
STATS_UFS = API + "/stats/ufs"
TASKS = API + "/tasks"
BALLS_LEN = API + "/balls/len"
XBALLS = API + "/xballs"
XBALLS_SIZE = API + "/xballs/size"
# router only
XPEERS = API + "/xpeers"
PEERS = API + "/peers"
PEER = API + "/peers/{peer_id}"
PEERS_STATS = API + "/peers/stats"
CHUNKS = API + "/buckets/{bucket_id}/metadata/{ball_id}/chunks"
UPDATE_METADATA = API + "/u/buckets/{bucket_id}/{key}"
MERGE = API + "/buckets/{bucket_id}/{ball_id}/merge"
# local VSS router only (not in the reference)
ADMIN_REPAIR = API + "/admin/repair"  # POST: one repair pass (vss/repair.py)

# --- headers --------------------------------------------------------------------------------------
H_TASK_ID = "Task-Id"
H_UPDATE = "Update"
H_CHUNK_SIZE = "Chunk-Size"
H_FORCE_GET = "Force-Get"
H_FORCE = "Force"
H_PEER_ID = "Peer-Id"
H_N_DELETES = "n-deletes"
# Step 1 with ``If-None-Match: *`` (local VSS router only): 412 when any live peer holds the key,
# checked by the router before any task is opened; a router that checked says so in the reply's
# ``extra`` (``{"precondition": "if-none-match"}``). A real MictlanX router ignores the header and
# answers ``extra={}``: the SDK then looks before it writes (mictlanx_sync/_existing.py).
H_IF_NONE_MATCH = "If-None-Match"
EXTRA_PRECONDITION = "precondition"
PRECONDITION_IF_NONE_MATCH = "if-none-match"
# Opt-in access control of the local VSS (``Authorization: Bearer <token>``); a real MictlanX
# router ignores the header.
H_AUTHORIZATION = "Authorization"
H_WWW_AUTHENTICATE = "WWW-Authenticate"  # on a 401
BEARER = "Bearer"


def bearer(token: str) -> str:
    """The ``Authorization`` value carrying ``token``.

    >>> bearer("s3cret")
    'Bearer s3cret'
    """
    return f"{BEARER} {token}"

# --- query parameters -----------------------------------------------------------------------------
# ``DELETE DATA?checksum=<sha256>``: our VSS deletes only when the stored checksum matches (409 and
# nothing deleted otherwise). A real MictlanX router ignores the parameter (a plain delete there).
Q_IF_CHECKSUM = "checksum"
# Bucket listing: also list 0-byte balls (our VSS only; a reference router ignores it and skips them).
Q_INCLUDE_EMPTY = "include_empty"

# --- codes, fields and tags ---------------------------------------------------------------------
CODE_MAX_AVAILABILITY = 666
MULTIPART_FIELD = "data"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
TAG_INDEX = "index"
TAG_NUM_CHUNKS = "num_chunks"
TAG_CHUNK_SIZE = "chunk_size"
TAG_GROUP_ID = "group_id"
TAG_FULL_CHECKSUM = "full_checksum"
TAG_UPDATED_AT = "updated_at"
TAG_FULLNAME = "fullname"
TAG_EXTENSION = "extension"
# End-to-end encrypted objects (transfer/codec.py): the scheme, and a random id per put that each
# chunk's associated data binds (it also tells versions apart, as full_checksum does otherwise).
TAG_ENCRYPTION = "encryption"
TAG_ENCRYPTION_VERSION = "encryption_version"
# The exact object name when it is not a valid key itself (``names.key_for`` maps it to the key).
TAG_NAME = "object_name"
RESERVED_TAGS = frozenset({TAG_INDEX, TAG_NUM_CHUNKS, TAG_CHUNK_SIZE, TAG_GROUP_ID, TAG_FULL_CHECKSUM,
                           TAG_ENCRYPTION, TAG_ENCRYPTION_VERSION, TAG_NAME})
# Internal to the local VSS: the router writes a ball's replication factor here at step 1 (so
# ``vss/repair.py`` knows it) and removes the tag from every reply; a client's value is replaced.
TAG_RF = "vss_rf"
MAX_ID_LENGTH = 512


def path(template: str, **params: str) -> str:
    """Fill a path template, percent-quoting each value as a single path segment.

    >>> path(DATA, bucket_id="b1", key="k_0")
    '/api/v4/buckets/b1/k_0'
    """
    return template.format(**{name: value if type(value) is str and _UNQUOTED.fullmatch(value)
                              else quote(str(value), safe="") for name, value in params.items()})


# What ``quote(value, safe="")`` leaves as it is (RFC 3986 unreserved characters): such a value
# (every valid id) is its own quoting, without the call.
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~-]*")


def compile_template(template: str) -> Pattern[str]:
    """A regex matching a path template; each placeholder matches one non-empty segment."""
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile("^" + pattern + "$")


def chunk_key(key: str, index: int) -> str:
    """The storage key of chunk ``index`` of the logical object ``key`` (``"{key}_{index}"``)."""
    return f"{key}_{index}"


_HEX_CHECKSUM = re.compile(r"^[0-9a-fA-F]{64}$")


def is_hex_checksum(value: str) -> bool:
    """Whether ``value`` looks like a hex SHA-256 (64 hex digits, any case)."""
    return bool(_HEX_CHECKSUM.match(value))


def combined_key(bucket_id: str, key: str) -> str:
    """``"{bucket_id}@{key}"``, as used in replies and logs."""
    return f"{bucket_id}@{key}"


_KEEP = re.compile(r"[^A-Za-z0-9_-]")
_RUNS = re.compile(r"[-_]{2,}")
_VALID = re.compile(r"^[A-Za-z0-9]+([-_][A-Za-z0-9]+)*$")


def sanitize_str(value: str) -> str:
    """The reference ``sanitize_str`` rule (PROTOCOL §1.1).

    >>> sanitize_str("my.file"), sanitize_str("a__b"), sanitize_str("-abc-"), sanitize_str("key_")
    ('myfile', 'a-b', 'abc', '')
    """
    kept = _KEEP.sub("", value)
    kept = _RUNS.sub("-", kept)
    if kept.startswith("-"):
        kept = kept[1:]
    if kept.endswith("-"):
        kept = kept[:-1]
    return kept if _VALID.match(kept) else ""


def id_problem(value: object, what: str = "id") -> Optional[str]:
    """Why ``value`` is not a valid bucket id/key/ball id, or None when it is valid.

    A valid id is a non-empty string of at most ``MAX_ID_LENGTH`` characters that the
    sanitization rule leaves unchanged.
    """
    if type(value) is str and 0 < len(value) <= MAX_ID_LENGTH and _VALID.fullmatch(value):
        return None  # the common case in one match: what sanitize_str leaves unchanged
    if not isinstance(value, str):
        return f"{what} must be a string, not {type(value).__name__}"
    if not value:
        return f"{what} must not be empty"
    if len(value) > MAX_ID_LENGTH:
        return f"{what} is {len(value)} characters long; the limit is {MAX_ID_LENGTH}"
    if sanitize_str(value) == value:
        return None
    bad = sorted(set(_KEEP.findall(value)))
    if bad:
        return f"{what} {value[:80]!r} contains characters that are not allowed: {''.join(bad)!r} " \
               f"(use letters, digits and single '-' or '_' between them)"
    return f"{what} {value[:80]!r} must start and end with a letter or digit and not repeat '-' or '_'"


def check_id(value: object, what: str = "id") -> str:
    """Return ``value`` if it is a valid id, else raise ``InvalidArgumentError`` naming the problem."""
    problem = id_problem(value, what)
    if problem is not None:
        raise InvalidArgumentError(problem)
    assert isinstance(value, str)
    return value


_CONTENT_TYPE_RE = re.compile(r"[\x20-\x7e]{0,255}")


def content_type_problem(value: object) -> Optional[str]:
    """Why ``value`` cannot be a content type (it travels back as an HTTP header), or None.

    >>> content_type_problem("text/plain; charset=utf-8") is None
    True
    >>> content_type_problem(5)
    'content_type must be a string, not int'
    >>> content_type_problem("text/html" + chr(13) + chr(10) + "Set-Cookie: x=1") is not None
    True
    """
    if not isinstance(value, str):
        return f"content_type must be a string, not {type(value).__name__}"
    if not _CONTENT_TYPE_RE.fullmatch(value):
        return f"content_type must be at most 255 printable ASCII characters, got {value[:60]!r}"
    return None


def check_content_type(value: object) -> str:
    """``value`` if it can be a content type.

    Raises:
        InvalidArgumentError: it is not a string of at most 255 printable ASCII characters.
    """
    problem = content_type_problem(value)
    if problem is not None:
        raise InvalidArgumentError(problem)
    return str(value)


def check_tags(tags: Optional[Mapping[str, str]], *, allow_reserved: bool = False) -> Dict[str, str]:
    """Validate a tag map: string keys and values, no reserved names unless allowed.

    Raises:
        InvalidArgumentError: a key or value is not a string, or a reserved name is used.
    """
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidArgumentError(f"tags must be a mapping of str to str, not {type(tags).__name__}")
    out: Dict[str, str] = {}
    for name, value in tags.items():
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"tag names must be non-empty strings, got {name!r}")
        if not isinstance(value, str):
            raise InvalidArgumentError(f"tag {name!r} must have a string value, got {type(value).__name__}")
        if not allow_reserved and name in RESERVED_TAGS:
            raise InvalidArgumentError(f"tag name {name!r} is reserved (reserved: {sorted(RESERVED_TAGS)})")
        out[name] = value
    return out


def split_router_prefix(path_info: str, prefixes: Tuple[str, ...] = ("/mictlanx",)) -> str:
    """Strip an optional reverse-proxy prefix (the reference router's ``root_path``)."""
    for prefix in prefixes:
        if path_info.startswith(prefix + "/"):
            return path_info[len(prefix):]
    return path_info
