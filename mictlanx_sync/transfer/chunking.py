"""The one chunker: how an object is split into indexed chunks, and how stored chunk metadata
is turned back into an object layout (sizes and offsets by index)."""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import attrs

from .. import _protocol as P
from ..config import MAX_OBJECT_SIZE
from ..errors import IntegrityError, NotFoundError, ProtocolError
from ..models import Metadata

__all__ = ["ChunkSpan", "ObjectLayout", "plan_chunks", "object_chunks", "layout_from_metadata", "check_size"]


@attrs.frozen(kw_only=True)
class ChunkSpan:
    """Chunk ``index`` covers bytes ``[offset, offset + size)`` of the object."""

    index: int
    offset: int
    size: int


def plan_chunks(total_size: int, chunk_size: int) -> List[ChunkSpan]:
    """Split ``total_size`` bytes into chunks of ``chunk_size`` (the last one shorter).

    ``num_chunks = ceil(total / chunk_size)`` (the reference's file rule); an empty object is one
    empty chunk, so it can be stored and read back like any other.

    >>> [(c.index, c.offset, c.size) for c in plan_chunks(25001, 10000)]
    [(0, 0, 10000), (1, 10000, 10000), (2, 20000, 5001)]
    """
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if total_size == 0:
        return [ChunkSpan(index=0, offset=0, size=0)]
    return [ChunkSpan(index=i, offset=offset, size=min(chunk_size, total_size - offset))
            for i, offset in enumerate(range(0, total_size, chunk_size))]


@attrs.frozen(kw_only=True)
class ObjectLayout:
    """A stored object: its chunks' metadata in index order, their spans and the full checksum."""

    bucket_id: str
    key: str
    chunks: Tuple[Metadata, ...]
    spans: Tuple[ChunkSpan, ...]
    full_checksum: str
    versions: int = 1

    @property
    def diverged(self) -> bool:
        """Whether the listing held more than one version of the object (replicas of a key
        written with different bytes, as a real MictlanX router allows): reads must then pin a
        replica holding the chosen version."""
        return self.versions > 1

    @property
    def size(self) -> int:
        """Total bytes."""
        return sum(span.size for span in self.spans)


def check_size(meta: Metadata) -> int:
    """A stored ball's size, refused when no server could truthfully claim it.

    Raises:
        ProtocolError: the size is negative or above ``MAX_OBJECT_SIZE`` (1 PiB).
    """
    if not 0 <= meta.size <= MAX_OBJECT_SIZE:
        raise ProtocolError(f"the server claims a size of {meta.size} bytes for {meta.key!r}; sizes must "
                            f"be between 0 and {MAX_OBJECT_SIZE}", bucket_id=meta.bucket_id or None,
                            key=meta.key)
    return meta.size


def _int_tag(meta: Metadata, name: str) -> int:
    try:
        return int(meta.tags[name])
    except (KeyError, ValueError) as exc:
        raise IntegrityError(f"chunk {meta.key!r} has no valid {name!r} tag ({meta.tags.get(name)!r})",
                             bucket_id=meta.bucket_id, key=meta.key) from exc


def object_chunks(listed: Sequence[Metadata], key: str) -> List[Metadata]:
    """The entries of a ``/chunks`` listing of ``key`` that belong to the object ``key``: its bare
    ball or its chunks (``group_id`` tag), not balls of another object sharing the ball_id."""
    return [c for c in listed if c.key == key or c.tags.get(P.TAG_GROUP_ID, key) == key]


def layout_from_metadata(bucket_id: str, key: str, chunks: Sequence[Metadata]) -> ObjectLayout:
    """Turn a chunk listing (possibly with duplicates from several replicas) into a layout.

    A ball without chunk tags (written by something other than a chunking client) is read as a
    one-chunk object.

    When replicas disagree (several versions of the object are listed), the newest chunk 0 (by
    its ``updated_at`` tag) names the version read, and ``versions`` counts the versions seen.

    Raises:
        NotFoundError: chunk 0 is missing (an object being written, or a failed put).
        IntegrityError: other indices are missing or out of range, or chunk-0 tags are invalid.
    """
    if len(chunks) >= 1 and all(P.TAG_NUM_CHUNKS not in c.tags for c in chunks):
        only = max(chunks, key=_stamp)
        check_size(only)
        return ObjectLayout(bucket_id=bucket_id, key=key, chunks=(only,),
                            spans=(ChunkSpan(index=0, offset=0, size=only.size),),
                            full_checksum=only.tags.get(P.TAG_FULL_CHECKSUM, only.checksum),
                            versions=len({c.checksum for c in chunks}))
    by_index: Dict[int, List[Metadata]] = {}
    for meta in chunks:
        by_index.setdefault(_int_tag(meta, P.TAG_INDEX), []).append(meta)
    if 0 not in by_index:
        # Chunk 0 is written last: without it the object is incomplete, hence not (yet) there.
        raise NotFoundError(f"object {bucket_id}@{key} not found (incomplete: no chunk 0)",
                            bucket_id=bucket_id, key=key)
    first = max(by_index[0], key=_stamp)
    num_chunks = _int_tag(first, P.TAG_NUM_CHUNKS)
    full_checksum = first.tags.get(P.TAG_FULL_CHECKSUM, "")
    version = _version(first)
    if num_chunks <= 0:
        raise IntegrityError(f"invalid num_chunks {num_chunks}", bucket_id=bucket_id, key=key)
    # Chunk 0 names the version; chunks left by another version of the key (a failed or racing
    # put) carry another full_checksum (encrypted objects: another encryption_version) and are ignored.
    chosen: Dict[int, Metadata] = {0: first}
    for index, metas in by_index.items():
        same = [m for m in metas if _version(m) == version]
        if index and index < num_chunks and same:
            chosen[index] = max(same, key=_stamp)
    if len(chosen) < num_chunks:
        # Never enumerate num_chunks itself: a hostile tag may claim 10**9 chunks.
        missing: List[int] = []
        index = 0
        while len(missing) < 10 and index < num_chunks:
            if index not in chosen:
                missing.append(index)
            index += 1
        raise IntegrityError(f"chunks {missing} of {num_chunks} are missing ({num_chunks - len(chosen)} in all)",
                             bucket_id=bucket_id, key=key)
    ordered = tuple(chosen[i] for i in range(num_chunks))
    spans = []
    offset = 0
    for index, meta in enumerate(ordered):
        size = check_size(meta)
        spans.append(ChunkSpan(index=index, offset=offset, size=size))
        offset += size
    if offset > MAX_OBJECT_SIZE:
        raise ProtocolError(f"the server claims {offset} bytes for {bucket_id}@{key}, above {MAX_OBJECT_SIZE}",
                            bucket_id=bucket_id, key=key)
    versions = len({_version(m) for m in by_index[0]})
    if versions == 1 and any(len({m.checksum for m in metas}) > 1
                             for index, metas in by_index.items() if index < num_chunks):
        versions = 2  # the same object id listed with different bytes for one chunk
    return ObjectLayout(bucket_id=bucket_id, key=key, chunks=ordered, spans=tuple(spans),
                        full_checksum=full_checksum, versions=versions)


def _version(meta: Metadata) -> str:
    """What tells one put of a key from another: its full_checksum, or (encrypted objects, which
    store no plaintext digest) its random encryption_version."""
    return meta.tags.get(P.TAG_FULL_CHECKSUM) or meta.tags.get(P.TAG_ENCRYPTION_VERSION, "")


def _stamp(meta: Metadata) -> int:
    try:
        return int(meta.tags.get(P.TAG_UPDATED_AT, "-1") or -1)
    except ValueError:
        return -1
