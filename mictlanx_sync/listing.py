"""Bucket listings: the router's balls grouped into objects, de-duplicated across replicas."""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional

from . import _protocol as P
from ._core import ClientCore
from ._diagnose import ObjectList, explain, peer_health
from .errors import IntegrityError, InvalidArgumentError, NotFoundError, ServerError
from .models import Metadata
from .results import ObjectInfo
from .transfer.chunking import layout_from_metadata

__all__ = ["list_bucket", "check_tag_query", "matches_tags"]


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


def list_bucket(core: ClientCore, bucket_id: str, *, tags: Optional[Mapping[str, str]] = None) -> ObjectList:
    """Every complete object of a bucket, grouped by ball_id and de-duplicated across replicas.

    Objects still being written, or partly written or deleted, are left out; so are empty
    objects, which routers leave out of bucket listings (PROTOCOL §5.9). With ``tags``, only the
    objects whose tags hold every ``name=value`` (filtered here: routers have no tag query). The
    result's ``unavailable_peers``/``warning`` say which peers were unavailable (it may be short).
    """
    P.check_id(bucket_id, "bucket_id")
    query = check_tag_query(tags)
    try:
        listing = core.with_router(lambda r: r.get_bucket_metadata(bucket_id))
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
