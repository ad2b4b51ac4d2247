"""A test double of the public MictlanX router (``jub-ecosystem/mictlanx-service``).

:class:`PublicRouterApp` is our VSS router app with the handlers whose behaviour differs on the
real router replaced by that behaviour (PROTOCOL §11, issue 10), served in front of real VSS
peers on a real socket:

1. step 2 answers **200** ``{"peer_ids": [], ..., "size": <the task's size>}`` when every replica
   refused or failed (checksum mismatch, short body, peer error); nothing is relayed as an error
   (§11.1);
2. step 1 never compares content: it places the bytes on live peers that do not hold the key yet
   (``replication_factor`` = how many *new* replicas), and answers 404 with ``detail.code = 666``
   only when every live peer already holds the key (§11.2, §11.8);
3. ``GET .../metadata/{key}`` for a missing key answers **500** ``{"detail": "404: No available
   peers"}`` (§11.4);
4. ``POST /api/v4/u/buckets/{bucket}/{key}`` (update) answers **500** with a plain-text body
   (§11.5);
5. the chunk listing has one entry per replica and its top-level ``checksum`` is the oldest
   version's (§11.6, as our router already does); the bucket listing appends the de-duplicated set
   again after each peer (§11.7); 404 details are plain strings; a data GET without ``Peer-Id``
   alternates between the replicas holding the key and honours ``Peer-Id`` (§11.3).

Both this double and :class:`FaultyRouterApp` (our own router, unchanged) accept one test hook:
``refuse`` holds chunk keys whose step-2 bodies every replica "refuses". Our router then answers
as it does when no replica stored the data (502); the double answers as the public router does
(200, ``peer_ids: []``).
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any, Iterator, List, Optional, Set, Tuple

from mictlanx_sync import _protocol as P
from mictlanx_sync.errors import MictlanXError
from mictlanx_sync.models import PutMetadataResponse, RouterPutChunkedResponse
from mictlanx_sync.vss._wsgi import HTTPError, Request, Response, json_response
from mictlanx_sync.vss.registry import PeerState
from mictlanx_sync.vss.router_app import GroupTask, RouterApp, RouterConfig, nanoid

__all__ = ["FaultyRouterApp", "PublicRouterApp"]


class FaultyRouterApp(RouterApp):
    """Our VSS router with the ``refuse`` hook (chunk keys whose step 2 every replica refuses)."""

    def __init__(self, config: RouterConfig) -> None:
        super().__init__(config)
        self.refuse: Set[str] = set()

    def _refused(self, request: Request, task: GroupTask) -> bool:
        if task.metadata.key not in self.refuse:
            return False
        for _ in request.iter_body():  # read the body, as the replicas would have
            pass
        return True

    def put_chunked(self, request: Request) -> Response:
        """Step 2; a refused key answers as our router does when no replica stored it (502)."""
        task = self._peek_task(request.params["task_id"])
        if task is not None and self._refused(request, task):
            self._take_task(task.group_id)
            where = P.combined_key(task.metadata.bucket_id, task.metadata.key)
            raise HTTPError(502, {"msg": f"No replica stored {where}: refused by the test hook", "code": 502})
        return super().put_chunked(request)

    def _peek_task(self, group_id: str) -> Optional[GroupTask]:
        with self._tasks_lock:
            return self._tasks.get(group_id)


class PublicRouterApp(FaultyRouterApp):
    """The public router's observable behaviour (module docstring), over our router's plumbing."""

    def __init__(self, config: RouterConfig) -> None:
        super().__init__(config)
        self._turn = itertools.count()
        self._turn_lock = threading.Lock()

    # --- helpers ----------------------------------------------------------------------------
    def _holds(self, peer: PeerState, bucket_id: str, key: str) -> bool:
        try:
            peer.client.get_metadata(bucket_id, key)
            return True
        except MictlanXError:
            return False

    def _holders(self, bucket_id: str, key: str) -> List[PeerState]:
        live = self.registry.live()
        held = self.registry.map(lambda p: self._holds(p, bucket_id, key), live)
        return [peer for peer, holds in zip(live, held) if holds]

    # --- 2. step 1 never compares content -----------------------------------------------------
    def put_metadata(self, request: Request) -> Response:
        """Place the new bytes on live peers lacking the key; 404/666 only when all hold it."""
        dto, raw = self._dto(request)
        bucket_id = request.params["bucket_id"]
        rf = dto.replication_factor if raw.get("replication_factor") is not None else self.config.default_rf
        holders = {p.peer_id for p in self._holders(bucket_id, dto.key)}
        lacking = [p for p in self.registry.live() if p.peer_id not in holders]
        if not lacking:
            raise HTTPError(404, {"msg": "No available peers.", "suggestion": "Add more peers or delete replicas.",
                                  "bucket_id": bucket_id, "key": dto.key, "replicas": sorted(holders),
                                  "code": P.CODE_MAX_AVAILABILITY})
        if dto.bucket_id != bucket_id:
            raise HTTPError(400, f"Bucket ID mismatch: {bucket_id} != {dto.bucket_id}")
        metadata = dto.to_metadata()
        group_id = nanoid()
        chosen = lacking[:max(1, rf)]
        for peer in chosen:
            try:
                peer.client.put_metadata_model(metadata, task_id=group_id, update=request.flag(P.H_UPDATE))
            except MictlanXError as exc:
                raise HTTPError(500, str(exc)) from None
        with self._tasks_lock:
            self._tasks[group_id] = GroupTask(group_id=group_id, metadata=metadata,
                                              replicas=tuple(p.peer_id for p in chosen),
                                              expires=float("inf"))
        reply = PutMetadataResponse(key=dto.key, service_time=0.01, tasks_ids=(group_id,), bucket_id=bucket_id,
                                    replicas=tuple(p.peer_id for p in chosen), extra={})
        return json_response(reply.to_json())

    # --- 1. a failed step 2 is answered 200 ---------------------------------------------------
    def put_chunked(self, request: Request) -> Response:
        """Relay to the task's replicas; every failure is swallowed: 200, ``peer_ids`` of those that stored."""
        try:
            task = self._take_task(request.params["task_id"])
        except HTTPError as exc:
            raise HTTPError(500, f"{exc.status}: {exc.detail}") from None
        meta = task.metadata
        stored: List[str] = []
        if not self._refused(request, task):
            try:
                stored = self._upload(task, request.iter_body())
            except HTTPError:
                stored = []  # logged and skipped by the public router
        reply = RouterPutChunkedResponse(peer_ids=tuple(stored), combined_key=P.combined_key(meta.bucket_id, meta.key),
                                         bucket_id=meta.bucket_id, key=meta.key, size=meta.size)
        return json_response(reply.to_json())

    # --- 3. a missing key's metadata is a 500 ---------------------------------------------------
    def get_metadata(self, request: Request) -> Response:
        """Metadata of a key; a missing one is 500 ``{"detail": "404: No available peers"}``."""
        try:
            return super().get_metadata(request)
        except HTTPError as exc:
            if exc.status == 404:
                raise HTTPError(500, "404: No available peers") from None
            raise

    # --- 4. update is broken --------------------------------------------------------------------
    def update_metadata(self, request: Request) -> Response:
        """Always 500 with a plain-text body (an AttributeError inside the public router)."""
        request.read_body()
        body = b"Internal Server Error"
        return Response(500, (("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))), (body,))

    # --- 5. listings and reads --------------------------------------------------------------------
    def list_bucket(self, request: Request) -> Response:
        """The de-duplicated set appended again after each peer (entries repeat with 2+ peers)."""
        reply = super().list_bucket(request)
        body = _json_body(reply)
        answered = body.get("peer_ids") or body.get("peers_ids") or []
        balls = list(body.get("balls", []))
        repeated: List[Any] = []
        for _ in answered:
            repeated += balls
        return json_response({"bucket_id": body.get("bucket_id"), "peers_ids": answered, "balls": repeated})

    def _open_stream(self, bucket_id: str, key: str, pinned: Optional[str] = None,
                     skip: Optional[Set[str]] = None) -> Tuple[PeerState, Any, int, str]:
        """Without ``Peer-Id``, take the replicas holding the key in turn (reads alternate)."""
        if pinned is None and not skip:
            holders = self._holders(bucket_id, key)
            if holders:
                with self._turn_lock:
                    turn = next(self._turn)
                pinned = holders[turn % len(holders)].peer_id
        return super()._open_stream(bucket_id, key, pinned=pinned, skip=skip)

    def _relay(self, bucket_id: str, key: str, first: Tuple[PeerState, Any, int, str]) -> Iterator[bytes]:
        """No fail-over mid-stream: the public router relays one replica."""
        peer, stream, size, _ = first
        try:
            sent = 0
            for piece in stream:
                piece = piece[:size - sent]
                sent += len(piece)
                if piece:
                    yield piece
                if sent >= size:
                    return
        finally:
            stream.close()


def _json_body(reply: Response) -> Any:
    return json.loads(b"".join(reply.body))
