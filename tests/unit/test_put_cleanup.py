"""A failed put's cleanup deletes only its own chunks (issue 11 item 1), also on a real MictlanX
router, which ignores the conditional ``?checksum=`` (so `responses` plays that router: our VSS
enforces the parameter and cannot show the ignoring behaviour)."""

from __future__ import annotations

from typing import Any, Dict, List

import responses

from mictlanx_sync import Router
from mictlanx_sync import _protocol as P
from mictlanx_sync._undo import delete_own_chunks as _delete_own

BASE = "http://router.test:60666"
MINE, THEIRS = "aa" * 32, "bb" * 32


def _chunk(key: str, checksum: str) -> Dict[str, Any]:
    return {"key": key, "size": 5, "checksum": checksum, "tags": {"index": key[-1], "num_chunks": "3"},
            "content_type": "application/octet-stream", "producer_id": "c", "ball_id": "obj",
            "bucket_id": "b", "is_disabled": False}


def _listing(*chunks: Dict[str, Any]) -> Dict[str, Any]:
    return {"bucket_id": "b", "ball_id": "obj", "size": "15 B", "size_bytes": 15, "checksum": "",
            "chunks": list(chunks)}


def _mock(rsps: responses.RequestsMock, *chunks: Dict[str, Any]) -> None:
    rsps.add(responses.GET, BASE + P.path(P.CHUNKS, bucket_id="b", ball_id="obj"), json=_listing(*chunks))
    for i in range(3):
        rsps.add(responses.DELETE, BASE + P.path(P.DATA, bucket_id="b", key=f"obj_{i}"),
                 json={"n_deletes": 1, "key": f"obj_{i}"})


def _deleted(rsps: responses.RequestsMock) -> List[str]:
    return [c.request.url for c in rsps.calls if c.request.method == "DELETE"]


OURS = [("obj_1", MINE), ("obj_2", MINE)]


def test_cleanup_keeps_chunks_another_writer_stored():
    """The router ignores ?checksum (a real MictlanX one): only the listing keeps obj_1 safe, and a
    chunk whose replicas disagree is left alone too."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps, Router(BASE) as router:
        _mock(rsps, _chunk("obj_1", THEIRS), _chunk("obj_2", MINE), _chunk("obj_2", THEIRS))
        assert _delete_own(router, bucket_id="b", ball_id="obj", chunks=OURS) == 0
        assert _deleted(rsps) == []


def test_cleanup_deletes_its_own_chunks_conditionally():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps, Router(BASE) as router:
        _mock(rsps, _chunk("obj_1", MINE), _chunk("obj_1", MINE), _chunk("obj_2", THEIRS))
        assert _delete_own(router, bucket_id="b", ball_id="obj", chunks=OURS) == 1
        (url,) = _deleted(rsps)
        assert "/obj_1?" in url and f"{P.Q_IF_CHECKSUM}={MINE}" in url
        assert len([c for c in rsps.calls if c.request.method == "GET"]) == 1  # one listing, not one GET each


def test_cleanup_treats_a_refused_conditional_delete_as_not_ours():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps, Router(BASE) as router:
        rsps.add(responses.GET, BASE + P.path(P.CHUNKS, bucket_id="b", ball_id="obj"),
                 json=_listing(_chunk("obj_1", MINE)))
        rsps.add(responses.DELETE, BASE + P.path(P.DATA, bucket_id="b", key="obj_1"), status=409,
                 json={"detail": {"msg": "holds other content", "code": 409}})
        assert _delete_own(router, bucket_id="b", ball_id="obj", chunks=OURS) == 0


def test_cleanup_of_nothing_listed_sends_no_delete():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps, Router(BASE) as router:
        rsps.add(responses.GET, BASE + P.path(P.CHUNKS, bucket_id="b", ball_id="obj"), status=404,
                 json={"detail": "not found"})
        assert _delete_own(router, bucket_id="b", ball_id="obj", chunks=OURS) == 0
        assert _deleted(rsps) == []
