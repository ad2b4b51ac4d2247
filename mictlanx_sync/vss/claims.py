"""One writer per key: the table of keys that an upload in progress has claimed.

A peer (per task) and a router (per group task) claim ``(bucket_id, key)`` at step 1 and release
it when the upload ends (committed, refused or abandoned). A second step 1 for a claimed key joins
the claim when it announces the same content (:func:`content_identity`) and is refused otherwise,
so two writers of different bytes can never both be in flight for one key.

Example:
    >>> claims = KeyClaims()
    >>> claims.claim(("b", "k"), ("aa", 1, "", "", ""), "task-1")
    >>> claims.claim(("b", "k"), ("aa", 1, "", "", ""), "task-2")   # same content: joins
    >>> try:
    ...     claims.claim(("b", "k"), ("bb", 1, "", "", ""), "task-3")
    ... except ClaimConflict:
    ...     print("refused")
    refused
    >>> claims.release(("b", "k"), "task-1"); claims.release(("b", "k"), "task-2")
    >>> claims.current(("b", "k")) is None
    True
"""

from __future__ import annotations

import threading
from typing import Dict, List, Optional, Set, Tuple

from .. import _protocol as P
from ..models import Metadata

__all__ = ["Identity", "Slot", "content_identity", "ClaimConflict", "KeyClaims"]

Identity = Tuple[str, int, str, str, str]
Slot = Tuple[str, str]


def content_identity(meta: Metadata) -> Identity:
    """What makes two uploads of one key "the same content": checksum, size and the chunk's
    place in its object (``full_checksum``, ``num_chunks``, ``index`` tags), as
    :meth:`Metadata.holds_chunk` compares them. A hex checksum compares case-insensitively."""
    checksum = meta.checksum.lower() if P.is_hex_checksum(meta.checksum) else meta.checksum
    return (checksum, meta.size, meta.tags.get(P.TAG_FULL_CHECKSUM, ""),
            meta.tags.get(P.TAG_NUM_CHUNKS, ""), meta.tags.get(P.TAG_INDEX, ""))


class ClaimConflict(Exception):
    """The key is claimed by an upload of different content."""

    def __init__(self, slot: Slot, held: Identity) -> None:
        super().__init__(f"{P.combined_key(*slot)}: an upload of different content is in progress")
        self.slot = slot
        self.held = held


class KeyClaims:
    """Thread-safe table ``(bucket_id, key) -> (content identity, holders)``.

    Thread safety: every method may be called from many threads (one short lock).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: Dict[Slot, Tuple[Identity, Set[str]]] = {}

    def claim(self, slot: Slot, identity: Identity, holder: str) -> None:
        """Add ``holder`` to the claim on ``slot`` (creating it when the key is free).

        Raises:
            ClaimConflict: the key is claimed for different content.
        """
        with self._lock:
            held = self._claims.get(slot)
            if held is None:
                self._claims[slot] = (identity, {holder})
            elif held[0] != identity:
                raise ClaimConflict(slot, held[0])
            else:
                held[1].add(holder)

    def release(self, slot: Slot, holder: str) -> None:
        """Remove ``holder`` from the claim on ``slot``; the key is free once no holder is left."""
        with self._lock:
            held = self._claims.get(slot)
            if held is None:
                return
            held[1].discard(holder)
            if not held[1]:
                del self._claims[slot]

    def current(self, slot: Slot) -> Optional[Identity]:
        """The identity ``slot`` is claimed for, or None when it is free."""
        with self._lock:
            held = self._claims.get(slot)
            return None if held is None else held[0]

    def holders(self, slot: Slot) -> List[str]:
        """The holders of the claim on ``slot`` (empty when it is free)."""
        with self._lock:
            held = self._claims.get(slot)
            return [] if held is None else sorted(held[1])

    def clear(self) -> None:
        """Free every key."""
        with self._lock:
            self._claims.clear()
