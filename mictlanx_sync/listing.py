"""Bucket listings: the router's balls grouped into objects, de-duplicated across replicas."""

from __future__ import annotations

from typing import Dict, List

from . import _protocol as P
from ._core import ClientCore
from .errors import IntegrityError, NotFoundError
from .models import Metadata
from .results import ObjectInfo
from .transfer.chunking import layout_from_metadata

__all__ = ["list_bucket"]


def list_bucket(core: ClientCore, bucket_id: str) -> List[ObjectInfo]:
    """Every complete object of a bucket, grouped by ball_id and de-duplicated across replicas.

    Objects still being written, or partly written or deleted, are left out; so are empty
    objects, which routers leave out of bucket listings (PROTOCOL §5.9).
    """
    P.check_id(bucket_id, "bucket_id")
    listing = core.with_router(lambda r: r.get_bucket_metadata(bucket_id))
    groups: Dict[str, List[Metadata]] = {}
    for ball in listing.balls:
        groups.setdefault(ball.ball_id or ball.key, []).append(ball)
    objects = []
    for ball_id, balls in sorted(groups.items()):
        try:
            layout = layout_from_metadata(bucket_id, ball_id, balls)
        except (IntegrityError, NotFoundError):
            continue  # an object still being written, or partly written or deleted
        objects.append(ObjectInfo.from_chunks(bucket_id, ball_id, layout.chunks, layout.full_checksum))
    return objects
