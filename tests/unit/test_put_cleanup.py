"""A failed put's cleanup deletes only its own chunks (issue 11 item 1), also on a real MictlanX
router, which ignores the conditional ``?checksum=`` (so `responses` plays that router: our VSS
enforces the parameter and cannot show the ignoring behaviour)."""

from __future__ import annotations

from typing import Any, Dict

import responses

from mictlanx_sync import Router
from mictlanx_sync import _protocol as P
from mictlanx_sync._put import _delete_own

BASE = "http://router.test:60666"
MINE, THEIRS = "aa" * 32, "bb" * 32


def _metadata(checksum: str) -> Dict[str, Any]:
    return {"service_time": 1, "peer_id": "peer-0", "local_peer_id": "peer-0",
            "metadata": {"key": "obj_1", "size": 5, "checksum": checksum, "tags": {},
                         "content_type": "application/octet-stream", "producer_id": "c",
                         "ball_id": "obj", "bucket_id": "b", "is_disabled": False}}


def _mock(rsps: responses.RequestsMock, stored: str) -> None:
    rsps.add(responses.GET, BASE + P.path(P.METADATA, bucket_id="b", key="obj_1"), json=_metadata(stored))
    rsps.add(responses.DELETE, BASE + P.path(P.DATA, bucket_id="b", key="obj_1"),
             json={"n_deletes": 1, "key": "obj_1"})


def _deletes(rsps: responses.RequestsMock) -> list:
    return [c.request for c in rsps.calls if c.request.method == "DELETE"]


def test_cleanup_keeps_a_chunk_another_writer_stored():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps, Router(BASE) as router:
        _mock(rsps, stored=THEIRS)
        assert _delete_own(router, bucket_id="b", key="obj_1", checksum=MINE) is None
        assert _deletes(rsps) == []


def test_cleanup_deletes_its_own_chunk_conditionally():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps, Router(BASE) as router:
        _mock(rsps, stored=MINE)
        reply = _delete_own(router, bucket_id="b", key="obj_1", checksum=MINE)
        assert reply is not None and reply.n_deletes == 1
        (delete,) = _deletes(rsps)
        assert f"{P.Q_IF_CHECKSUM}={MINE}" in delete.url


def test_cleanup_treats_a_refused_conditional_delete_as_not_ours():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps, Router(BASE) as router:
        rsps.add(responses.GET, BASE + P.path(P.METADATA, bucket_id="b", key="obj_1"), json=_metadata(MINE))
        rsps.add(responses.DELETE, BASE + P.path(P.DATA, bucket_id="b", key="obj_1"), status=409,
                 json={"detail": {"msg": "holds other content", "code": 409}})
        assert _delete_own(router, bucket_id="b", key="obj_1", checksum=MINE) is None
