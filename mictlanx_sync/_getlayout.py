"""Finding an object's chunks before a read: the ``/chunks`` listing (or a bare ball), a note when
replicas disagree, and chunk 0 requested beside the listing so that a small object costs one round trip."""

from __future__ import annotations

import contextvars
import hashlib
import time
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import Optional, Tuple

from . import _protocol as P
from ._core import ClientCore
from ._diagnose import explain
from .errors import MictlanXError, NotFoundError
from .models import Metadata
from .transfer.chunking import ObjectLayout, layout_from_metadata, object_chunks

__all__ = ["LOOKAHEAD_LIMIT", "bare_ball", "find_layout", "find_layout_ahead"]

# A get reads chunk 0 beside the chunk listing when chunk 0 is at most this many bytes (a longer
# reply is closed unread): small objects then cost one round trip, and large ones save one too.
LOOKAHEAD_LIMIT = 1 << 20


def find_layout(core: ClientCore, bucket_id: str, key: str, *, attempts: Optional[int],
                explain_missing: bool = True) -> ObjectLayout:
    """List an object's chunks once (``/chunks``, ``attempts`` retry rounds); a bare ball is a
    one-chunk object.

    A missing object's ``NotFoundError`` says, with ``explain_missing`` (1 more request),
    when peers were unavailable or the URI does not point at a router."""
    P.check_id(bucket_id, "bucket_id")
    P.check_id(key, "key")
    try:
        listing = core.with_router(lambda r: r.get_by_ball_id(bucket_id, key), attempts=attempts)
        chunks = object_chunks(listing.chunks, key)
        if chunks:
            return _noted(core, layout_from_metadata(bucket_id, key, chunks))
    except NotFoundError:
        pass
    single = bare_ball(core, bucket_id, key)
    if single is None:
        # Say when peers were unavailable, or when the URI is not a router's (1 request).
        missing = NotFoundError(f"object {bucket_id}@{key} not found", bucket_id=bucket_id, key=key)
        raise explain(core, missing) if explain_missing else missing
    return layout_from_metadata(bucket_id, key, [single])


def _noted(core: ClientCore, layout: ObjectLayout) -> ObjectLayout:
    """Log when the replicas of an object disagree (PROTOCOL §11.2-11.3): the read returns the
    newest version only, each chunk read from a replica that holds it."""
    if layout.diverged:
        first = layout.chunks[0]
        core.log.warning(
            "event=diverged bucket_id=%s key=%s versions=%d chosen_updated_at=%s chosen_full_checksum=%s "
            "msg=replicas hold different versions; reading the newest, pinned to replicas that hold it",
            layout.bucket_id, layout.key, layout.versions, first.tags.get(P.TAG_UPDATED_AT, ""),
            layout.full_checksum)
    return layout


def find_layout_ahead(core: ClientCore, bucket_id: str, key: str, *,
                      attempts: Optional[int]) -> Tuple[ObjectLayout, Optional[bytearray], str]:
    """:func:`find_layout`, with chunk 0 requested at the same time (one round trip, not two).

    Chunk 0's data GET goes out on the look-ahead pool while this thread lists the chunks.
    Its bytes are used only when the listing confirms them: the listed chunk 0 is
    ``{key}_0`` and the bytes have its size and its SHA-256, so a chunk 0 of another version
    (an overwrite racing this read, a diverged replica) is never used. Otherwise they are
    dropped and chunk 0 is fetched as any other chunk. A missing object raises
    ``NotFoundError`` as :func:`find_layout` does (the look-ahead is the one wasted request).
    Encrypted objects ignore the bytes.

    Returns:
        The layout, chunk 0's verified bytes (or None) and their SHA-256 (or ``""``).
    """
    P.check_id(bucket_id, "bucket_id")
    P.check_id(key, "key")
    chunk_key = P.chunk_key(key, 0)
    ahead: Optional[Future[Optional[bytearray]]]
    try:  # in a copy of this context: the operation's deadline goes along
        ahead = core.lookahead.submit(contextvars.copy_context().run, _read_ahead, core, bucket_id, chunk_key)
    except RuntimeError:  # shut down: the client is closed (``find_layout`` says so)
        ahead = None
    started = time.monotonic()
    try:
        layout = find_layout(core, bucket_id, key, attempts=attempts)
    except BaseException:
        if ahead is not None:
            ahead.cancel()
        raise
    if ahead is None:
        return layout, None, ""
    # Both requests left together; if chunk 0 lags far behind the listing (its router is
    # unreachable, say), stop waiting and read chunk 0 the regular way, with failover.
    patience = 0.05 + 2 * (time.monotonic() - started)
    try:
        data = ahead.result(timeout=patience)
    except (MictlanXError, CancelledError, FutureTimeoutError):
        ahead.cancel()
        return layout, None, ""
    first = layout.chunks[0]
    if data is None or first.key != chunk_key or len(data) != layout.spans[0].size:
        return layout, None, ""
    digest = hashlib.sha256(data).hexdigest()
    if digest != first.checksum:
        return layout, None, ""
    return layout, data, digest


def _read_ahead(core: ClientCore, bucket_id: str, chunk_key: str) -> Optional[bytearray]:
    """One attempt at a chunk's data on the first candidate router; None on any error (the
    regular path, with its failover and retries, reads it then)."""
    candidates = core.balancer.candidates()
    if not candidates or core.closed:
        return None
    try:
        return candidates[0].get_bounded(bucket_id, chunk_key, LOOKAHEAD_LIMIT)
    except MictlanXError:
        return None


def bare_ball(core: ClientCore, bucket_id: str, key: str) -> Optional[Metadata]:
    """The ball stored under ``key`` itself, when it is an object of its own: not when it is
    a chunk of another object (the key ``a_0`` names chunk 0 of ``a``, whose ``group_id`` tag
    is ``a``), so that reading or deleting ``a_0`` never reaches into ``a``."""
    try:
        meta = core.with_router(lambda r: r.get_metadata(bucket_id, key)).metadata
    except NotFoundError:
        return None
    return meta if meta.tags.get(P.TAG_GROUP_ID, key) == key else None
