"""Undoing an interrupted put: which chunks a put stored, and removing them, bounded in time.

A put that fails with a :class:`~mictlanx_sync.errors.MictlanXError` removes the chunks it stored
(``Uploader.remove_chunks``). This module covers the rest: ``KeyboardInterrupt`` (Ctrl-C) and any
other ``BaseException`` in the middle of a put. The chunks already stored are removed within
:data:`CLEANUP_SECONDS`; a second Ctrl-C abandons the cleanup and raises ``KeyboardInterrupt``
with a message naming the key to remove by hand.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Set, Tuple

from . import _protocol as P
from . import deadline as deadlines
from ._core import ClientCore
from .errors import AlreadyExistsError, MictlanXError, NotFoundError
from .router import Router

__all__ = ["PutTracker", "delete_own_chunks", "undo_interrupted_put", "CLEANUP_SECONDS"]

CLEANUP_SECONDS = 30.0
"""The longest an interrupted put spends removing its chunks before it gives up and says so."""


class PutTracker:
    """The chunks one put stored (``created``), and those whose fate is unknown (``uncertain``:
    their request was cut short, so the server may or may not have stored them).

    Thread safety: ``chunk`` may be used from many worker threads at once.
    """

    def __init__(self) -> None:
        self.created: List[str] = []
        self.uncertain: List[str] = []
        self._running = 0
        self._idle = threading.Condition()

    @contextlib.contextmanager
    def chunk(self, chunk_key: str) -> Iterator[Callable[[bool], None]]:
        """Track one chunk's upload; call the yielded function with whether it stored the chunk.

        A chunk whose upload raised before reporting is recorded as ``uncertain``.
        """
        reported: List[bool] = []
        with self._idle:
            self._running += 1
        try:
            yield reported.append
        finally:
            with self._idle:
                if reported:
                    if reported[0]:
                        self.created.append(chunk_key)
                else:
                    self.uncertain.append(chunk_key)
                self._running -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no upload is running (the transfer was cancelled; running ones finish their
        request). Returns whether that happened within ``timeout`` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout)


def _stored_by(router: Router, *, bucket_id: str, chunk_key: str, stamp: str) -> bool:
    """Whether the chunk stored under ``chunk_key`` carries this put's own ``updated_at`` stamp."""
    try:
        meta = router.get_metadata(bucket_id, chunk_key).metadata
    except NotFoundError:
        return False
    return meta.tags.get(P.TAG_UPDATED_AT) == stamp


def delete_own_chunks(router: Router, *, bucket_id: str, ball_id: str, chunks: List[Tuple[str, str]]) -> int:
    """Delete the chunks ``(chunk key, checksum)`` of a failed put that still hold its checksum on
    every listed replica (another writer's chunk under the same key is kept). One listing
    (``/chunks``) says what is stored, since a real MictlanX router ignores the conditional
    ``?checksum=``; the deletes are conditional too (our VSS enforces it). Returns the count."""
    try:
        listed = router.get_by_ball_id(bucket_id, ball_id).chunks
    except NotFoundError:
        return 0
    stored: Dict[str, Set[str]] = {}
    for meta in listed:
        stored.setdefault(meta.key, set()).add(meta.checksum)
    deleted = 0
    for chunk_key, checksum in chunks:
        if stored.get(chunk_key) != {checksum}:
            continue
        try:
            deleted += router.delete(bucket_id, chunk_key, checksum=checksum).n_deletes
        except (NotFoundError, AlreadyExistsError):  # gone, or replaced between the two calls
            continue
    return deleted


def undo_interrupted_put(core: ClientCore, bucket_id: str, key: str, tracker: PutTracker,
                         checksums: Mapping[str, str], stamp: Optional[str], cause: BaseException,
                         timeout: float = CLEANUP_SECONDS) -> None:
    """Remove the chunks an interrupted put stored, within ``timeout`` seconds.

    ``stamp`` is the ``updated_at`` tag this put generated (None when the caller gave its own):
    an ``uncertain`` chunk is removed only when the stored one carries it, so a chunk that was
    there before this put is never removed. Chunks are removed as a failed put's are
    (:func:`delete_own_chunks`: only while they still hold this put's checksum, from ``checksums``).

    Raises:
        KeyboardInterrupt: a second Ctrl-C abandoned the cleanup; the message names the key.
    """
    deadline = time.monotonic() + timeout
    manual = (f"remove what is left with `mictlanx-sync rm {bucket_id} {key}` "
              f"(or Client.delete({bucket_id!r}, {key!r}))")
    left: List[str] = []
    doomed: List[str] = []
    try:  # the announcement is inside: a second Ctrl-C right after it still abandons cleanly
        core.log.warning("put of %s@%s interrupted (%s): removing the chunks it stored (Ctrl-C again to "
                         "abandon)", bucket_id, key, type(cause).__name__)
        tracker.wait_idle(max(0.0, deadline - time.monotonic()))
        doomed.extend(tracker.created)
        for chunk_key in list(tracker.uncertain):
            if stamp is None or time.monotonic() > deadline:
                continue
            try:
                if core.with_router(functools.partial(_stored_by, bucket_id=bucket_id, chunk_key=chunk_key,
                                                      stamp=stamp)):
                    doomed.append(chunk_key)
            except MictlanXError:
                left.append(chunk_key)
        remaining = deadline - time.monotonic()
        if doomed and remaining <= 0:
            left.extend(doomed)
        elif doomed:
            try:
                with deadlines.fresh(remaining):
                    core.on_every_router(functools.partial(
                        delete_own_chunks, bucket_id=bucket_id, ball_id=key,
                        chunks=[(chunk_key, checksums[chunk_key]) for chunk_key in doomed]))
            except MictlanXError:
                left.extend(doomed)
    except KeyboardInterrupt:
        message = f"put of {bucket_id}@{key} interrupted; cleanup abandoned, chunks may remain: {manual}"
        core.log.warning(message)
        raise KeyboardInterrupt(message) from cause
    if left:
        message = f"put of {bucket_id}@{key} interrupted; {len(left)} chunk(s) could not be removed: {manual}"
        core.log.warning(message)
        if hasattr(cause, "add_note"):  # Python 3.11+
            cause.add_note(message)
    else:
        core.log.warning("put of %s@%s interrupted: removed the %d chunk(s) it stored", bucket_id, key,
                         len(doomed))
