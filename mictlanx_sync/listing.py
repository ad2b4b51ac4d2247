"""Bucket listings: the router's balls grouped into objects, de-duplicated across replicas."""

from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from . import _protocol as P
from ._core import ClientCore
from ._diagnose import ObjectList, explain, peer_health
from .errors import IntegrityError, InvalidArgumentError, NotFoundError, ServerError
from .models import Metadata
from .results import ObjectInfo, ObjectListing
from .transfer.chunking import layout_from_metadata

__all__ = ["list_bucket", "check_tag_query", "matches_tags", "list_objects", "split_names"]


def check_tag_query(tags: Optional[Mapping[str, str]]) -> Dict[str, str]:
    """A tag query as a dict of str -> str.

    Raises:
        InvalidArgumentError: not a mapping of non-empty strings to strings.
    """
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidArgumentError(f"tags must be a mapping of name -> value, not {type(tags).__name__}")
    for name, value in tags.items():
        if not isinstance(name, str) or not name or not isinstance(value, str):
            raise InvalidArgumentError(f"tag query {name!r}={value!r}: names and values must be strings "
                                       f"(names non-empty)")
    return dict(tags)


def matches_tags(info: ObjectInfo, query: Mapping[str, str]) -> bool:
    """Whether an object's tags (chunk 0's, system tags included) hold every ``name=value``."""
    tags = info.chunks[0].tags
    return all(tags.get(name) == value for name, value in query.items())


def list_bucket(core: ClientCore, bucket_id: str, *, tags: Optional[Mapping[str, str]] = None,
                include_empty: bool = False) -> ObjectList:
    """Every complete object of a bucket, grouped by ball_id and de-duplicated across replicas.

    Objects still being written, or partly written or deleted, are left out; so are empty
    objects, which routers leave out of bucket listings (PROTOCOL §5.9), unless
    ``include_empty`` asks a router that can (our VSS) to list them. With ``tags``, only the
    objects whose tags hold every ``name=value`` (filtered here: routers have no tag query). The
    result's ``unavailable_peers``/``warning`` say which peers were unavailable (it may be short).
    """
    P.check_id(bucket_id, "bucket_id")
    query = check_tag_query(tags)
    try:
        listing = core.with_router(lambda r: r.get_bucket_metadata(bucket_id, include_empty=include_empty))
    except (ServerError, NotFoundError) as exc:
        explain(core, exc)  # unavailable peers, or a URI that is not a router's, in the message
        raise
    health = peer_health(core)  # 1 request: a listing made without some peers says so
    if health is not None and health.not_router:
        health = None  # it listed the bucket, so it is a router, one without GET /peers: nothing known
    if health is not None and health.unavailable:
        core.log.warning("listing of %s: %s", bucket_id, health.warning)
    groups: Dict[str, List[Metadata]] = {}
    for ball in listing.balls:
        groups.setdefault(ball.ball_id or ball.key, []).append(ball)
    objects = []
    for ball_id, balls in sorted(groups.items()):
        try:
            layout = layout_from_metadata(bucket_id, ball_id, balls)
        except (IntegrityError, NotFoundError):
            continue  # an object still being written, or partly written or deleted
        info = ObjectInfo.from_chunks(bucket_id, ball_id, layout.chunks, layout.full_checksum)
        if matches_tags(info, query):
            objects.append(info)
    return ObjectList(objects, health)


def _check_prefix(prefix: object, what: str = "prefix") -> str:
    if not isinstance(prefix, str):
        raise InvalidArgumentError(f"{what} must be a string, not {type(prefix).__name__}")
    return prefix


def split_names(names: Iterable[str], prefix: str = "", delimiter: Optional[str] = None
                ) -> Tuple[List[str], List[str]]:
    """S3's ListObjects rule on plain names: the names under ``prefix`` that have no
    ``delimiter`` after it, and the distinct common prefixes (up to and including the first
    ``delimiter`` after ``prefix``) of the others. Both sorted.

    >>> split_names(["a.csv", "x/1.csv", "x/y/2.csv", "xz"], "x", "/")
    (['xz'], ['x/'])
    >>> split_names(["a.csv", "x/1.csv", "x/y/2.csv"], "x/", "/")
    (['x/1.csv'], ['x/y/'])
    """
    found: List[str] = []
    prefixes = set()
    for name in names:
        if not name.startswith(prefix):
            continue
        cut = name.find(delimiter, len(prefix)) if delimiter else -1
        if cut < 0:
            found.append(name)
        else:
            prefixes.add(name[:cut + len(delimiter or "")])
    return sorted(found), sorted(prefixes)


def list_objects(core: ClientCore, bucket_id: str, prefix: str = "", delimiter: Optional[str] = None,
                 *, tags: Optional[Mapping[str, str]] = None, include_empty: bool = True) -> ObjectListing:
    """The objects of a bucket whose names start with ``prefix``, sorted by name; with a
    ``delimiter`` (usually ``"/"``), names with the delimiter after the prefix are folded into
    common prefixes, like S3's ``CommonPrefixes``. Prefixes match the user's names (not the
    stored keys) and are applied by the client over the router's bucket listing.

    Raises:
        InvalidArgumentError: a bad bucket id, or a prefix or delimiter that is not a string
            (an empty delimiter is refused too).
    """
    _check_prefix(prefix)
    if delimiter is not None and (not isinstance(delimiter, str) or not delimiter):
        raise InvalidArgumentError(f"delimiter must be a non-empty string or None, got {delimiter!r}")
    listed = list_bucket(core, bucket_id, tags=tags, include_empty=include_empty)
    by_name = {info.name: info for info in listed}
    found, prefixes = split_names(by_name, prefix, delimiter)
    return ObjectListing(bucket_id=bucket_id, prefix=prefix, delimiter=delimiter,
                         objects=tuple(by_name[name] for name in found), prefixes=tuple(prefixes),
                         unavailable_peers=listed.unavailable_peers, warning=listed.warning)
