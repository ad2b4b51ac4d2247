"""What the high-level :class:`~mictlanx_sync.Client` returns: plain attrs records."""

from __future__ import annotations

from typing import Dict, Generic, Optional, Sequence, Tuple, TypeVar

import attrs

from . import _protocol as P
from . import names as N
from .errors import MictlanXError
from .models import Metadata
from .transfer.codec import AES_256_GCM, AESGCMCodec

__all__ = ["ObjectInfo", "PutResult", "GetResult", "ItemResult", "SavedFile", "ObjectListing"]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class ObjectInfo:
    """One logical object: its size, full checksum, tags and chunk metadata (in index order).

    ``name`` is the user's name of the object; ``key`` the MictlanX key it is stored under (what
    another MictlanX client would use). They differ only for names that are not valid keys
    (see :mod:`mictlanx_sync.names`)."""

    bucket_id: str
    key: str
    size: int
    checksum: str
    num_chunks: int
    tags: Dict[str, str]
    content_type: str
    updated_at: int
    chunks: Tuple[Metadata, ...]
    is_disabled: bool = False
    name: str = attrs.field(default=attrs.Factory(lambda self: self.key, takes_self=True))

    @classmethod
    def from_chunks(cls, bucket_id: str, key: str, chunks: Sequence[Metadata], checksum: str) -> ObjectInfo:
        """Build from chunk metadata in index order; tags come from chunk 0 minus system tags.

        The size is the object's as its owner sees it: for an end-to-end encrypted object, the
        plaintext's (each stored chunk minus its nonce and tag); the chunks keep their stored sizes.
        """
        first = chunks[0]
        overhead = AESGCMCodec.overhead if first.tags.get(P.TAG_ENCRYPTION) == AES_256_GCM else 0
        tags = {k: v for k, v in first.tags.items() if k not in P.RESERVED_TAGS}
        try:
            updated_at = int(first.tags.get(P.TAG_UPDATED_AT, "0") or 0)
        except ValueError:
            updated_at = 0
        return cls(bucket_id=bucket_id, key=key, size=sum(max(c.size - overhead, 0) for c in chunks),
                   checksum=checksum,
                   num_chunks=len(chunks), tags=tags, content_type=first.content_type,
                   updated_at=updated_at, chunks=tuple(chunks),
                   is_disabled=any(c.is_disabled for c in chunks), name=N.name_of(key, first.tags))


@attrs.frozen(kw_only=True)
class PutResult:
    """A stored object: where, how big, its SHA-256, its chunks and the peers that hold them.

    ``replicas`` lists every peer holding a chunk; ``chunk_replicas[i]`` is how many replicas
    chunk ``i`` got (fewer than the ``rf`` asked is logged as a WARNING; ``min_replicas=`` makes
    it an error). ``already_stored`` is True when the same content was already stored under the
    key and nothing was written (no replica added); ``tags_updated`` says whether the tags of
    that stored object were changed to the ones given (``replicas`` is then empty: a listing
    names no peers). ``name`` is the user's name, ``key`` the MictlanX key it is stored under.
    """

    bucket_id: str
    key: str
    size: int
    checksum: str
    num_chunks: int
    replicas: Tuple[str, ...]
    seconds: float
    chunk_replicas: Tuple[int, ...] = ()
    already_stored: bool = False
    tags_updated: bool = False
    name: str = attrs.field(default=attrs.Factory(lambda self: self.key, takes_self=True))

    @property
    def min_chunk_replicas(self) -> int:
        """The fewest replicas any chunk got (0 for a result without chunk counts)."""
        return min(self.chunk_replicas, default=0)


@attrs.frozen(kw_only=True)
class GetResult:
    """A fetched, verified object.

    ``data`` is a read-only memoryview (no copy); ``content`` copies it into bytes.
    """

    data: memoryview
    info: ObjectInfo

    @property
    def content(self) -> bytes:
        """The object as bytes (a copy)."""
        return self.data.tobytes()

    @property
    def metadata(self) -> Tuple[Metadata, ...]:
        """Each chunk's metadata, in index order."""
        return self.info.chunks

    @property
    def metadatas(self) -> Tuple[Metadata, ...]:
        """The seed's name for :attr:`metadata`: each chunk's metadata, in index order."""
        return self.info.chunks


@attrs.frozen(kw_only=True)
class ItemResult(Generic[T]):
    """One item of ``put_many``/``get_many``: its key and either a value or an error."""

    key: str
    value: Optional[T] = None
    error: Optional[MictlanXError] = None

    @property
    def ok(self) -> bool:
        """Whether the item succeeded."""
        return self.error is None


class SavedFile(str):
    """The path ``get_to_file`` wrote: a ``str``, plus ``unchanged``, True when a file with the
    same SHA-256 was already there and nothing was fetched or written.

    Example:
        >>> path = SavedFile("/tmp/a.txt", unchanged=True)
        >>> path == "/tmp/a.txt", path.unchanged
        (True, True)
    """

    unchanged: bool

    def __new__(cls, path: str, unchanged: bool = False) -> SavedFile:
        """A saved path and whether it was left unchanged."""
        saved = super().__new__(cls, path)
        saved.unchanged = unchanged
        return saved

    def __reduce__(self) -> Tuple[object, ...]:
        return (SavedFile, (str(self), self.unchanged))


@attrs.frozen(kw_only=True)
class ObjectListing:
    """One page of ``Client.list_objects``: the objects whose names start with ``prefix`` and,
    with a ``delimiter``, the common prefixes that stand for the "directories" below it (as S3's
    ``CommonPrefixes``). Both sorted by name. ``unavailable_peers``/``warning`` as for
    ``get_bucket_metadata``: a listing made without some peers may be short."""

    bucket_id: str
    prefix: str
    delimiter: Optional[str]
    objects: Tuple[ObjectInfo, ...]
    prefixes: Tuple[str, ...]
    unavailable_peers: Tuple[str, ...] = ()
    warning: str = ""
