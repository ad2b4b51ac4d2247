"""Look before writing: what a key already holds, and the one overwrite rule.

A real MictlanX router never compares content at step 1 (PROTOCOL §11.2): it places different
bytes under an existing key on another peer (replicas then diverge) and adds one more replica of
the same bytes each time they are put again. So the SDK decides, identically on every router,
from one chunk listing (``/chunks``) fetched before the first byte is written:

* nothing listed: write;
* the same object (same full checksum, chunk count, chunk sizes, chunk checksums and content
  type): write nothing (no replica is added); different user tags are updated (or the put fails
  saying they were not);
* leftovers of an unfinished put of this very content (no chunk 0 yet): write the chunks missing;
* anything else: ``AlreadyExistsError`` before any byte is written, or, with ``overwrite=True``,
  delete what is there (chunk 0 first) and write the new object.
"""

from __future__ import annotations

import functools
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import attrs

from . import _protocol as P
from ._core import ClientCore
from .errors import AlreadyExistsError, IntegrityError, NotFoundError, ServerError
from .models import Metadata
from .router import Router
from .transfer.chunking import ChunkSpan, ObjectLayout, layout_from_metadata, object_chunks

__all__ = ["Existing", "Plan", "look", "plan_put", "update_chunk_tags", "delete_keys"]


@attrs.frozen(kw_only=True)
class Existing:
    """What a key holds: its listed chunk entries (one per replica) and, when they form a
    complete object, its layout (the newest version)."""

    listed: Tuple[Metadata, ...]
    layout: Optional[ObjectLayout]

    def replicas_of(self, chunk_key: str, checksum: str) -> int:
        """How many listed replicas of ``chunk_key`` hold ``checksum``."""
        return sum(1 for m in self.listed if m.key == chunk_key and m.checksum == checksum)


@attrs.frozen(kw_only=True)
class Plan:
    """What a put does. ``kind``: ``"write"`` (store the chunks not in ``present``),
    ``"same"`` (already stored; update ``tags`` if any) or ``"replace"`` (delete ``delete``,
    chunk 0 first, then write)."""

    kind: str
    present: Dict[int, int] = attrs.field(factory=dict)  # chunk index -> replicas already there
    tags: Dict[str, str] = attrs.field(factory=dict)
    delete: Tuple[str, ...] = ()


def look(core: ClientCore, bucket_id: str, key: str) -> Existing:
    """One ``/chunks`` request: the key's listed chunks (a NotFound is the common answer)."""
    try:
        listing = core.with_router(lambda r: r.get_by_ball_id(bucket_id, key))
    except NotFoundError:
        return Existing(listed=(), layout=None)
    chunks = tuple(object_chunks(listing.chunks, key))
    if not chunks:
        return Existing(listed=(), layout=None)
    try:
        layout: Optional[ObjectLayout] = layout_from_metadata(bucket_id, key, chunks)
    except (NotFoundError, IntegrityError):
        layout = None  # incomplete: a put in progress, or the leftovers of a failed one
    return Existing(listed=chunks, layout=layout)


def _same_object(layout: ObjectLayout, full_checksum: str, chunk_sums: Sequence[str],
                 spans: Sequence[ChunkSpan], content_type: str) -> bool:
    return (layout.full_checksum == full_checksum and len(layout.chunks) == len(spans)
            and all(meta.size == span.size and meta.checksum == checksum and meta.content_type == content_type
                    for meta, span, checksum in zip(layout.chunks, spans, chunk_sums)))


def _resumable(existing: Existing, key: str, full_checksum: str, chunk_sums: Sequence[str]) -> Optional[Dict[int, int]]:
    """The chunks of an unfinished put of this very content already stored (index -> replicas),
    or None when some listed chunk belongs to other content."""
    present: Dict[int, int] = {}
    for meta in existing.listed:
        try:
            index = int(meta.tags.get(P.TAG_INDEX, ""))
        except ValueError:
            return None
        expected = {P.TAG_FULL_CHECKSUM: full_checksum, P.TAG_NUM_CHUNKS: str(len(chunk_sums)),
                    P.TAG_INDEX: str(index)}
        if not (0 <= index < len(chunk_sums) and meta.key == P.chunk_key(key, index)
                and meta.holds_chunk(chunk_sums[index], expected)):
            return None
        present[index] = present.get(index, 0) + 1
    present.pop(0, None)  # chunk 0 is always written last, by this put
    return present


def plan_put(existing: Existing, bucket_id: str, key: str, full_checksum: str,
             chunk_sums: Optional[Sequence[str]], spans: Sequence[ChunkSpan], user_tags: Mapping[str, str],
             overwrite: bool, content_type: str) -> Plan:
    """Apply the overwrite rule (module docstring). Without ``chunk_sums`` (an encrypted put: its
    bytes are known only once encrypted, with fresh nonces) nothing stored counts as the same.
    The same bytes with another content type are other content (a content type is not a tag: it
    cannot be updated in place).

    Raises:
        AlreadyExistsError: other content is stored under the key and ``overwrite`` is False.
    """
    if not existing.listed:
        return Plan(kind="write")
    layout = existing.layout
    if chunk_sums is None:
        if not overwrite:
            raise AlreadyExistsError(f"{bucket_id}@{key} already exists (an encrypted put never matches what is "
                                     f"stored); delete it first or put with overwrite=True (--force on the "
                                     f"command line)",
                                     bucket_id=bucket_id, key=key)
    elif layout is not None and _same_object(layout, full_checksum, chunk_sums, spans, content_type):
        stored = layout.chunks[0].tags
        changed = {name: value for name, value in user_tags.items()
                   if name != P.TAG_UPDATED_AT and stored.get(name) != value}
        if not overwrite or not changed:
            return Plan(kind="same", tags=changed)
    if layout is None and not overwrite and chunk_sums is not None:
        present = _resumable(existing, key, full_checksum, chunk_sums)
        if present is not None:
            return Plan(kind="write", present=present)
    if not overwrite:
        what = "different content" if layout is not None else \
            "an unfinished object of different content (a put in progress or a failed one's leftovers)"
        raise AlreadyExistsError(f"{bucket_id}@{key} already exists with {what}; delete it first or put "
                                 f"with overwrite=True (--force on the command line)", bucket_id=bucket_id, key=key)
    keys = sorted({m.key for m in existing.listed},
                  key=lambda k: (k != P.chunk_key(key, 0) and k != key, k))  # chunk 0 (or the bare ball) first
    return Plan(kind="replace", delete=tuple(keys))


def _delete_on(router: Router, *, bucket_id: str, key: str) -> int:
    return router.delete(bucket_id, key).n_deletes


def delete_keys(core: ClientCore, bucket_id: str, keys: Sequence[str]) -> int:
    """Delete ``keys`` in order through every router (a key already gone counts as done)."""
    deleted = 0
    for chunk_key in keys:
        deleted += sum(core.on_every_router(functools.partial(_delete_on, bucket_id=bucket_id, key=chunk_key)))
    return deleted


def _update_on(router: Router, *, bucket_id: str, metadata: Metadata) -> None:
    router.update_metadata(bucket_id, metadata.key, metadata)


def update_chunk_tags(core: ClientCore, bucket_id: str, key: str, chunks: Sequence[Metadata],
                      new_tags: Mapping[str, str]) -> Tuple[Metadata, ...]:
    """Merge ``new_tags`` into every chunk's tags, chunk 0 last (readers take tags from chunk 0).

    Each update is sent once: a router that answers 5xx may have applied part of it, and the
    public router answers every update with a 500 (PROTOCOL §11.5), so it is never repeated.

    Raises:
        ServerError: the router failed to update the tags (the message says which were changed).
    """
    updated = [attrs.evolve(meta, tags={**meta.tags, **new_tags}, bucket_id=bucket_id) for meta in chunks]
    order = list(range(1, len(updated))) + [0]
    done: List[str] = []
    for index in order:
        meta = updated[index]
        try:
            core.with_router(functools.partial(_update_on, bucket_id=bucket_id, metadata=meta),
                             retry_server_errors=False)
        except ServerError as exc:
            if exc.status is not None and exc.status < 500:
                raise
            partly = f"; chunks {done} were updated, the others (chunk 0 included) not" if done else \
                "; no tag was changed"
            raise ServerError(f"the router failed to update the tags of {bucket_id}@{key} "
                              f"({meta.key}): {exc.message}{partly}", bucket_id=bucket_id, key=key,
                              status=exc.status, detail=exc.detail) from exc
        done.append(meta.key)
    return tuple(updated)
