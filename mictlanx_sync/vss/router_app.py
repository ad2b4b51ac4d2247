"""The WSGI app of a router (PROTOCOL §5, the §9 must-have set, plus ``/merge`` and ``/health``).

Every call to a storage peer goes through :class:`mictlanx_sync.peer.Peer`.

Example:
    >>> app = create_router_app(RouterConfig(probe_on_start=False))
    >>> callable(app)
    True
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterator, List, Mapping, Optional, Set, Tuple

import attrs

from .. import _protocol as P
from ..errors import (
    AlreadyExistsError,
    BadRequestError,
    ForbiddenError,
    IntegrityError,
    InvalidArgumentError,
    MictlanXError,
    NetworkError,
    NotFoundError,
)
from ..models import (
    BallMetadata,
    DeletedByBallIdResponse,
    DeletedByKeyResponse,
    GetMetadataResponse,
    GetRouterBucketMetadataResponse,
    Metadata,
    PeerPayload,
    PeerPutChunkedResponse,
    PutMetadataRequest,
    PutMetadataResponse,
    RouterPutChunkedResponse,
)
from ..units import format_size
from . import _wsgi
from ._wsgi import App, HTTPError, Request, Response, empty_response, json_response, route
from .claims import ClaimConflict, KeyClaims, content_identity
from .fanout import Aborted, ReplicaStream, fan_out
from .multipart import MultipartError, boundary_from_content_type, iter_field
from .registry import PeerRegistry, PeerState, ProbeConfig
from .repair import RepairConfig, Repairer
from .storage import GIB

__all__ = ["RouterConfig", "RouterApp", "create_router_app"]

_LOG = logging.getLogger("mictlanx_sync.vss.router")
_NANOID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
PIECE = 1 << 20


def nanoid(size: int = 21) -> str:
    """A nanoid-like id: ``size`` random characters from ``[A-Za-z0-9_-]``."""
    return "".join(secrets.choice(_NANOID_ALPHABET) for _ in range(size))


@attrs.frozen(kw_only=True)
class RouterConfig:
    """Configuration of a router.

    Attributes:
        router_id: this router's id.
        peers: peers registered at start.
        default_rf: replication factor when the step-1 body has none.
        max_body_size: the largest upload accepted, in bytes.
        task_ttl: seconds an unused group task stays valid.
        probe: liveness probing and peer-call timeouts.
        probe_on_start: probe the configured peers when the app is built.
        queue_depth: pieces buffered per replica during a fan-out.
        workers: threads for concurrent peer calls.
        peer_token: the bearer token sent to the peers (peers started with ``--token``).
        repair: when under-replicated balls are repaired (see :mod:`.repair`).
    """

    router_id: str = "mictlanx-router-0"
    peers: Tuple[PeerPayload, ...] = ()
    default_rf: int = 1
    max_body_size: int = GIB
    task_ttl: float = 600.0
    probe: ProbeConfig = ProbeConfig()
    probe_on_start: bool = True
    queue_depth: int = 4
    workers: int = 32
    peer_token: Optional[str] = attrs.field(default=None, repr=False)
    repair: RepairConfig = RepairConfig()


@attrs.frozen(kw_only=True)
class GroupTask:
    """A router task: the ball announced at step 1 and the replicas that opened a task for it."""

    group_id: str
    metadata: Metadata
    replicas: Tuple[str, ...]
    expires: float


def _translate(exc: BaseException) -> Optional[HTTPError]:
    if isinstance(exc, MultipartError):
        return HTTPError(400, f"invalid multipart body: {exc}")
    return None


def _check_id(value: str, what: str) -> None:
    problem = P.id_problem(value, what)
    if problem is not None:
        raise HTTPError(400, {"msg": problem, "code": 400})


def _public(meta: Metadata) -> Metadata:
    """``meta`` as clients see it: without the router's internal rf tag."""
    if P.TAG_RF not in meta.tags:
        return meta
    return attrs.evolve(meta, tags={k: v for k, v in meta.tags.items() if k != P.TAG_RF})


def _updated_at(meta: Metadata) -> int:
    try:
        return int(meta.tags.get(P.TAG_UPDATED_AT, "-1"))
    except ValueError:
        return -1


class RouterApp(App):
    """A router: peer registry, placement, group tasks, fan-out and reads with fallback.

    Thread safety: safe to serve from many threads.
    """

    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self._pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="router")
        self.registry = PeerRegistry(config.probe, self._pool, token=config.peer_token)
        self.registry.add(config.peers, probe=config.probe_on_start)
        self._tasks: Dict[str, GroupTask] = {}
        self._tasks_lock = threading.Lock()
        self._uploading: Dict[Tuple[str, str], int] = {}  # keys in step 2 here -> how many
        self.repairer = Repairer(self.registry, config.repair, busy=self._busy)
        self.registry.on_return = self.repairer.peer_returned
        self._claims = KeyClaims()  # one writer per key: group tasks from step 1 to end of step 2
        routes = [
            route("GET", P.HEALTH, self.health),
            route("POST", P.XPEERS, self.add_peers),
            route("GET", P.PEERS, self.get_peers),
            route("POST", P.PEERS, self.add_peer),
            route("DELETE", P.PEER, self.remove_peer),
            route("DELETE", P.XPEERS, self.remove_peers),
            route("GET", P.PEERS_STATS, self.peers_stats),
            route("GET", P.SIZE, self.size),
            route("GET", P.BUCKET_METADATA, self.list_bucket),
            route("GET", P.METADATA, self.get_metadata),
            route("POST", P.UPDATE_METADATA, self.update_metadata),
            route("POST", P.BUCKET_METADATA, self.put_metadata),
            route("POST", P.PUT_DATA, self.put_data),
            route("POST", P.PUT_CHUNKED, self.put_chunked),
            route("POST", P.DISABLE, self.disable),
            route("GET", P.MERGE, self.merge),
            route("GET", P.DATA, self.get_data),
            route("GET", P.CHUNKS, self.chunks),
            route("DELETE", P.DATA, self.delete),
            route("DELETE", P.DELETE_BY_BALL_ID, self.delete_by_ball_id),
            route("POST", P.ADMIN_REPAIR, self.repair),
        ]
        super().__init__(routes, max_body_size=config.max_body_size + (64 << 10), strip_prefix=True,
                         translate=_translate, logger=_LOG, on_close=self._close)
        self.repairer.start()

    def _close(self) -> None:
        self.repairer.close()
        self.registry.close()
        self._pool.shutdown(wait=False)

    # --- repair -----------------------------------------------------------------------------
    def _busy(self, bucket_id: str, key: str) -> bool:
        """Whether ``key`` has a step 1 pending or a step 2 running through this router."""
        with self._tasks_lock:
            if self._uploading.get((bucket_id, key)):
                return True
            return any(t.metadata.bucket_id == bucket_id and t.metadata.key == key
                       for t in self._tasks.values())

    def repair(self, request: Request) -> Response:
        """``POST /api/v4/admin/repair``: run one repair pass now; its report as JSON."""
        return json_response(self.repairer.run_once().to_json())

    # --- peers ------------------------------------------------------------------------------
    def health(self, request: Request) -> Response:
        """``GET /health``: ``{"status": "ok", "available_peers": N}``."""
        return json_response({"status": "ok", "available_peers": len(self.registry.live())})

    @staticmethod
    def _payload(item: Any, loc: Tuple[Any, ...]) -> PeerPayload:
        try:
            return PeerPayload.from_json(item)
        except MictlanXError as exc:
            raise _wsgi.validation_error(exc.message, loc, item) from None

    def add_peers(self, request: Request) -> Response:
        """``POST /xpeers``: register a list of peers (204)."""
        body = request.json()
        if not isinstance(body, list):
            raise _wsgi.validation_error("Input should be a valid list", ("body",), body)
        payloads = [self._payload(item, ("body", i)) for i, item in enumerate(body)]
        self.registry.add(payloads)
        return empty_response(204)

    def add_peer(self, request: Request) -> Response:
        """``POST /peers``: register one peer (204)."""
        self.registry.add([self._payload(request.json(), ("body",))])
        return empty_response(204)

    def remove_peer(self, request: Request) -> Response:
        """``DELETE /peers/{peer_id}`` (204 whether or not it exists)."""
        self.registry.remove([request.params["peer_id"]])
        return empty_response(204)

    def remove_peers(self, request: Request) -> Response:
        """``DELETE /xpeers`` with a JSON array of peer ids in the body (204)."""
        raw = request.read_body()
        ids: Any = []
        if raw.strip():
            ids = request_json(raw)
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise _wsgi.validation_error("Input should be a valid list of strings", ("body",), ids)
        self.registry.remove(ids)
        return empty_response(204)

    def get_peers(self, request: Request) -> Response:
        """``GET /peers``: ``{"available": [...], "unavailable": [...]}``."""
        live = {p.peer_id for p in self.registry.live()}
        peers = self.registry.all()
        return json_response({
            "available": [p.info().to_json() for p in peers if p.peer_id in live],
            "unavailable": [p.info().to_json() for p in peers if p.peer_id not in live],
        })

    def peers_stats(self, request: Request) -> Response:
        """``GET /peers/stats``: peer id -> ``PeerStatsResponse`` (7 keys); ``{}`` with no live peer."""
        start = request.query_int("start", 0) or 0
        end = request.query_int("end", 100)

        def one(peer: PeerState) -> Optional[Tuple[str, Dict[str, Any]]]:
            try:
                return peer.peer_id, peer.client.get_stats(start, end).to_json()
            except MictlanXError as exc:
                self._failed(peer, exc)
                return None

        results = self.registry.map(one, self.registry.live())
        return json_response(dict(r for r in results if r is not None))

    def _failed(self, peer: PeerState, exc: BaseException) -> None:
        if isinstance(exc, NetworkError):
            self.registry.mark_dead(peer.peer_id)
        _LOG.debug("peer %s failed: %s", peer.peer_id, exc)

    # --- step 1 -----------------------------------------------------------------------------
    def _dto(self, request: Request) -> Tuple[PutMetadataRequest, Dict[str, Any]]:
        body = request.json()
        if not isinstance(body, dict):
            raise _wsgi.validation_error("Input should be a valid dictionary or object", ("body",), body)
        try:
            return PutMetadataRequest.from_json(body), body
        except MictlanXError as exc:
            raise _wsgi.validation_error(exc.message, ("body",), None) from None

    def put_metadata(self, request: Request) -> Response:
        """PUT step 1: choose replicas, open a task on each (``Task-Id`` = group id)."""
        started = time.perf_counter()
        dto, raw = self._dto(request)
        bucket_id = request.params["bucket_id"]
        _check_id(bucket_id, "bucket_id")
        _check_id(dto.key, "key")
        _check_id(dto.ball_id, "ball_id")
        rf = dto.replication_factor if raw.get("replication_factor") is not None else self.config.default_rf
        if rf < 1:
            raise HTTPError(400, {"msg": f"replication_factor must be at least 1, got {rf}", "code": 400})
        if dto.size < 0:
            raise HTTPError(400, {"msg": f"size must not be negative, got {dto.size}", "code": 400})
        if dto.size > self.config.max_body_size:
            raise HTTPError(413, f"size {dto.size} exceeds the limit of {self.config.max_body_size} bytes")
        update = request.flag(P.H_UPDATE)
        only_new = (request.header(P.H_IF_NONE_MATCH) or "").strip() == "*"
        candidates = self.registry.candidates(bucket_id, dto.key, dto.size)
        holders = self.registry.holders(bucket_id, dto.key)
        if only_new and holders:
            raise self._not_new(bucket_id, dto.key, holders)
        if holders:
            self._check_same_content(bucket_id, dto.key, dto.checksum, dto.tags, update)
        if not candidates or len(holders) >= rf:
            raise self._no_capacity(bucket_id, dto.key)
        if dto.bucket_id != bucket_id:
            raise HTTPError(400, f"Bucket ID mismatch: {bucket_id} != {dto.bucket_id}")
        metadata = dto.to_metadata()
        metadata = attrs.evolve(metadata, tags={**metadata.tags, P.TAG_RF: str(rf)})  # for repair
        group_id = nanoid()
        slot = (bucket_id, dto.key)
        try:
            self._claims.claim(slot, content_identity(metadata), group_id)
        except ClaimConflict:
            raise self._in_progress(bucket_id, dto.key) from None
        try:
            chosen = self._open_tasks(metadata, group_id, candidates, holders, rf, update, only_new)
        except BaseException:
            self._claims.release(slot, group_id)
            raise
        with self._tasks_lock:
            self._expire_tasks_locked()
            self._tasks[group_id] = GroupTask(group_id=group_id, metadata=metadata, replicas=tuple(chosen),
                                              expires=time.monotonic() + self.config.task_ttl)
        reply = PutMetadataResponse(key=dto.key, service_time=time.perf_counter() - started,
                                    tasks_ids=(group_id,), bucket_id=bucket_id, replicas=tuple(chosen),
                                    extra={P.EXTRA_PRECONDITION: P.PRECONDITION_IF_NONE_MATCH} if only_new else {})
        return json_response(reply.to_json())

    @staticmethod
    def _not_new(bucket_id: str, key: str, holders: Set[str]) -> HTTPError:
        return HTTPError(412, {"msg": f"{P.combined_key(bucket_id, key)} already exists (If-None-Match: *)",
                               "code": 412, "bucket_id": bucket_id, "key": key, "replicas": sorted(holders)})

    @staticmethod
    def _in_progress(bucket_id: str, key: str) -> HTTPError:
        return HTTPError(409, {"msg": f"{P.combined_key(bucket_id, key)}: an upload of different content "
                                      f"is in progress; try again later", "code": 409,
                               "bucket_id": bucket_id, "key": key, "pending": True})

    def _open_tasks(self, metadata: Metadata, group_id: str, candidates: List[PeerState],
                    holders: Set[str], rf: int, update: bool, only_new: bool = False) -> List[str]:
        """Open a task (``Task-Id`` = group id) on enough candidates for ``rf`` replicas; return
        the peers that accepted. A peer's 409 for an upload in progress makes the whole step 409.

        With ``only_new`` (``If-None-Match: *``) every other live peer is asked for the key at the
        same time as the first tasks are opened (this router may not know every holder: another
        router, or its own restart, stored it), and a peer holding it makes the step 412; tasks
        already opened then expire unused, as for an upload in progress."""
        bucket_id, key = metadata.bucket_id, metadata.key
        chosen: List[str] = []
        errors: List[str] = []
        found_holder = False
        in_progress = False
        asking: Set[str] = set()  # first round of only_new: peers only asked whether they hold the key
        asked = False

        def open_task(peer: PeerState) -> Optional[BaseException]:
            if peer.peer_id in asking:
                return self._holds(peer, bucket_id, key)
            try:
                peer.client.put_metadata_model(metadata, task_id=group_id, update=update)
                return None
            except MictlanXError as exc:
                return exc

        # rf is the target number of committed replicas: keys already held count towards it.
        while candidates and len(chosen) + len(self.registry.holders(bucket_id, key)) < rf:
            need = rf - len(chosen) - len(self.registry.holders(bucket_id, key))
            batch, candidates = candidates[:need], candidates[need:]
            if only_new and not asked:
                opening = {b.peer_id for b in batch}
                ask = [p for p in self.registry.live() if p.peer_id not in opening]
                asking.update(p.peer_id for p in ask)
                batch, asked = batch + ask, True
            results = self.registry.map(open_task, batch)
            for peer, error in zip(batch, results):
                if peer.peer_id in asking:
                    found_holder = found_holder or isinstance(error, AlreadyExistsError)
                    continue
                if error is None:
                    chosen.append(peer.peer_id)
                    self.registry.note_placement(peer.peer_id)
                elif isinstance(error, AlreadyExistsError) and _pending(error):
                    in_progress = True  # another writer's upload of different content
                elif isinstance(error, AlreadyExistsError):
                    self.registry.add_holder(bucket_id, key, peer.peer_id)
                    found_holder = True
                elif isinstance(error, BadRequestError):
                    # The peer refused the metadata itself: the client's request is at fault.
                    raise HTTPError(400, error.detail if error.detail is not None else error.message)
                else:
                    self._failed(peer, error)
                    errors.append(f"{peer.peer_id}: {error}")
            asking.clear()
            if only_new and found_holder:
                break
        if only_new and found_holder:
            raise self._not_new(bucket_id, key, self.registry.holders(bucket_id, key))
        if in_progress:
            # Tasks opened on other peers stay until they expire (or a delete drops them): they
            # announce content that may still be committed by a later step 1 of the same content.
            raise self._in_progress(bucket_id, key)
        if found_holder and not holders:
            self._check_same_content(bucket_id, key, metadata.checksum, metadata.tags, update)
        if not chosen:
            if errors:
                raise HTTPError(502, {"msg": f"Put remote metadata failed: {'; '.join(errors)}",
                                      "code": 502})
            raise self._no_capacity(bucket_id, key)
        return chosen

    def _holds(self, peer: PeerState, bucket_id: str, key: str) -> Optional[BaseException]:
        """``AlreadyExistsError`` when ``peer`` holds the key (and the registry learns it), None
        when it does not or cannot say (an unreachable peer is skipped, as a listing skips it)."""
        try:
            peer.client.get_metadata(bucket_id, key)
        except NotFoundError:
            return None
        except MictlanXError as exc:
            self._failed(peer, exc)
            return None
        self.registry.add_holder(bucket_id, key, peer.peer_id)
        return AlreadyExistsError(f"{peer.peer_id} holds {P.combined_key(bucket_id, key)}")

    def _check_same_content(self, bucket_id: str, key: str, checksum: str, tags: Mapping[str, str],
                            update: bool) -> None:
        """Refuse (409) a new replica whose content differs from the committed one, so replicas of
        a key never diverge (PROTOCOL §6.3 [REC], strict mode). A chunk of another object with the
        same bytes differs too (its ``full_checksum``/``num_chunks``/``index`` tags differ).
        ``Update: 1`` is exempt."""
        if update:
            return
        try:
            _, stored = self._find_metadata(bucket_id, key)
        except HTTPError:
            return
        if not stored.metadata.holds_chunk(checksum, tags):
            raise HTTPError(409, {"msg": f"{P.combined_key(bucket_id, key)} already exists with different "
                                         f"content; delete it first", "code": 409,
                                  "bucket_id": bucket_id, "key": key})

    def _no_capacity(self, bucket_id: str, key: str) -> HTTPError:
        return HTTPError(404, {"msg": "No available peers.",
                               "suggestion": "Add more peers or delete replicas.",
                               "bucket_id": bucket_id, "key": key,
                               "replicas": sorted(self.registry.holders(bucket_id, key)),
                               "code": P.CODE_MAX_AVAILABILITY})

    def _expire_tasks_locked(self) -> None:
        now = time.monotonic()
        for group_id in [g for g, t in self._tasks.items() if t.expires <= now]:
            self._release(self._tasks.pop(group_id))

    def _release(self, task: GroupTask) -> None:
        self._claims.release((task.metadata.bucket_id, task.metadata.key), task.group_id)

    def _release_claims_for(self, bucket_id: str, key: str, checksum: Optional[str]) -> None:
        """Free a deleted key from the claims of its step-1 tasks (with ``checksum``: only those
        announcing it). The tasks stay, so a racing step 2 still finds its task (the peers, which
        dropped theirs, refuse it and the client retries both steps) instead of a 404."""
        with self._tasks_lock:
            for task in self._tasks.values():
                if task.metadata.bucket_id == bucket_id and task.metadata.key == key and \
                        (checksum is None or task.metadata.checksum.lower() == checksum.lower()):
                    self._release(task)

    def _take_task(self, group_id: str) -> GroupTask:
        with self._tasks_lock:
            self._expire_tasks_locked()
            task = self._tasks.pop(group_id, None)
        if task is None:
            raise HTTPError(404, f"Task({group_id[:140]}) not found")
        return task

    # --- step 2 -----------------------------------------------------------------------------
    def _upload(self, task: GroupTask, pieces: Iterator[bytes]) -> List[str]:
        """Fan ``pieces`` out to the task's replicas; return the ids of those that stored it.
        The key stays claimed (one writer per key) until this returns."""
        slot = (task.metadata.bucket_id, task.metadata.key)
        with self._tasks_lock:
            self._uploading[slot] = self._uploading.get(slot, 0) + 1
        try:
            return self._fan_out(task, pieces)
        finally:
            self._release(task)
            with self._tasks_lock:
                left = self._uploading.pop(slot, 1) - 1
                if left > 0:
                    self._uploading[slot] = left

    def _fan_out(self, task: GroupTask, pieces: Iterator[bytes]) -> List[str]:
        meta = task.metadata
        streams: List[ReplicaStream[PeerPutChunkedResponse]] = []
        for peer_id in task.replicas:
            peer = self.registry.get(peer_id)
            if peer is None:
                continue
            client = peer.client

            def upload(body: Iterator[bytes], client: Any = client) -> PeerPutChunkedResponse:
                # The declared size goes as Content-Length: no chunk framing on this hop, and the
                # peer sees a short body (and stores nothing) if the client's turns out short.
                result: PeerPutChunkedResponse = client.put_chunked(task.group_id, body, size=meta.size,
                                                                    bucket_id=meta.bucket_id, key=meta.key)
                return result

            streams.append(ReplicaStream(peer_id, upload, self.config.queue_depth))
        try:  # fan_out raises Aborted unless exactly meta.size bytes arrived
            fan_out(pieces, streams, expected=meta.size, timeout=self.config.probe.read_timeout)
        except Aborted as exc:
            raise HTTPError(400, {"msg": f"Data size mismatch: {exc}", "code": 400,
                                  "bucket_id": meta.bucket_id, "key": meta.key}) from None
        stored: List[str] = []
        failures: List[str] = []
        for stream in streams:
            result = stream.result
            if stream.error is None and result is not None and result.size == meta.size:
                stored.append(stream.name)
                self.registry.add_holder(meta.bucket_id, meta.key, stream.name, meta.size)
            else:
                peer = self.registry.get(stream.name)
                if peer is not None and stream.error is not None:
                    self._failed(peer, stream.error)
                failures.append(f"{stream.name}: {stream.error or result}")
        conflicts = [s.error for s in streams if isinstance(s.error, AlreadyExistsError)]
        if not stored and conflicts:
            # Compare-and-set on the peers: the key was committed with other content meanwhile.
            first_conflict = conflicts[0]
            raise HTTPError(409, first_conflict.detail if first_conflict.detail is not None
                            else first_conflict.message)
        refusals = [s.error for s in streams if isinstance(s.error, BadRequestError)]
        if not stored and refusals and len(refusals) == len(streams):
            # Every replica refused the bytes themselves (checksum or size): the client is at fault.
            first = refusals[0]
            raise HTTPError(400, first.detail if first.detail is not None else first.message)
        if not stored:
            raise HTTPError(502, {"msg": f"No replica stored {P.combined_key(meta.bucket_id, meta.key)}: "
                                         f"{'; '.join(failures) or 'no replicas'}", "code": 502})
        return stored

    def put_chunked(self, request: Request) -> Response:
        """PUT step 2, raw or chunked body: ``RouterPutChunkedResponse``."""
        request.check_length()
        task = self._take_task(request.params["task_id"])
        meta = task.metadata
        if request.content_length is not None and request.content_length != meta.size:
            raise HTTPError(400, {"msg": f"Data size mismatch {request.content_length} != {meta.size}",
                                  "code": 400, "bucket_id": meta.bucket_id, "key": meta.key})
        stored = self._upload(task, request.iter_body())
        reply = RouterPutChunkedResponse(peer_ids=tuple(stored),
                                         combined_key=P.combined_key(meta.bucket_id, meta.key),
                                         bucket_id=meta.bucket_id, key=meta.key, size=meta.size)
        return json_response(reply.to_json())

    def put_data(self, request: Request) -> Response:
        """PUT step 2, multipart (field ``data``): 201 with an empty body."""
        request.check_length()
        task = self._take_task(request.params["task_id"])
        boundary = boundary_from_content_type(request.header("Content-Type"))
        self._upload(task, iter_field(request.iter_body(), boundary, P.MULTIPART_FIELD))
        return empty_response(201)

    # --- reads ------------------------------------------------------------------------------
    def _find_metadata(self, bucket_id: str, key: str) -> Tuple[PeerState, GetMetadataResponse]:
        for peer in self.registry.read_order(bucket_id, key):
            try:
                reply = peer.client.get_metadata(bucket_id, key)
            except NotFoundError:
                self.registry.drop_holder(bucket_id, key, peer.peer_id)
                continue
            except MictlanXError as exc:
                self._failed(peer, exc)
                continue
            self.registry.add_holder(bucket_id, key, peer.peer_id)
            return peer, reply
        raise HTTPError(404, f"{P.combined_key(bucket_id, key)} not found")

    def get_metadata(self, request: Request) -> Response:
        """Metadata of one key from a live replica."""
        bucket_id, key = request.params["bucket_id"], request.params["key"]
        _check_id(bucket_id, "bucket_id")
        _check_id(key, "key")
        found = self._find_metadata(bucket_id, key)[1]
        return json_response(attrs.evolve(found, metadata=_public(found.metadata)).to_json())

    def _open_stream(self, bucket_id: str, key: str, pinned: Optional[str] = None,
                     skip: Optional[Set[str]] = None) -> Tuple[PeerState, Any, int, str]:
        """Open a data stream on the first replica that answers with a usable Content-Length."""
        peers = self.registry.read_order(bucket_id, key)
        if pinned:
            peers = [p for p in peers if p.peer_id == pinned] or peers
        forbidden: Optional[ForbiddenError] = None
        for peer in peers:
            if skip and peer.peer_id in skip:
                continue
            try:
                stream = peer.client.get_streaming(bucket_id, key, chunk_size=PIECE)
            except NotFoundError:
                self.registry.drop_holder(bucket_id, key, peer.peer_id)
                continue
            except ForbiddenError as exc:
                forbidden = exc
                continue
            except MictlanXError as exc:
                self._failed(peer, exc)
                continue
            length = stream.headers.get("Content-Length")
            if length is None or not length.isdigit():
                stream.close()
                continue
            self.registry.add_holder(bucket_id, key, peer.peer_id)
            content_type = stream.headers.get("Content-Type") or P.DEFAULT_CONTENT_TYPE
            return peer, stream, int(length), content_type
        if forbidden is not None:
            raise HTTPError(403, f"{P.combined_key(bucket_id, key)} is disabled")
        raise HTTPError(404, f"{P.combined_key(bucket_id, key)} not found")

    def _relay(self, bucket_id: str, key: str, first: Tuple[PeerState, Any, int, str]) -> Iterator[bytes]:
        """Relay a replica's stream; on a failure mid-way, continue from the next replica."""
        peer, stream, size, _ = first
        sent = 0
        tried: Set[str] = set()
        while True:
            tried.add(peer.peer_id)
            skip = sent
            try:
                for piece in stream:
                    if skip:
                        if len(piece) <= skip:
                            skip -= len(piece)
                            continue
                        piece, skip = piece[skip:], 0
                    if sent + len(piece) > size:
                        piece = piece[:size - sent]
                    sent += len(piece)
                    if piece:
                        yield piece
                    if sent >= size:
                        return
                if sent >= size:
                    return
                raise IntegrityError(f"{peer.peer_id} sent {sent} of {size} bytes")
            except MictlanXError as exc:
                self._failed(peer, exc)
            finally:
                stream.close()
            try:
                peer, stream, other_size, _ = self._open_stream(bucket_id, key, skip=tried)
            except HTTPError:
                raise OSError(f"{P.combined_key(bucket_id, key)}: every replica failed mid-stream") \
                    from None
            if other_size != size:
                stream.close()
                raise OSError(f"{P.combined_key(bucket_id, key)}: replicas disagree on the size")

    def get_data(self, request: Request) -> Response:
        """The data of one key relayed from a live replica (status 200, Content-Length)."""
        bucket_id, key = request.params["bucket_id"], request.params["key"]
        _check_id(bucket_id, "bucket_id")
        _check_id(key, "key")
        opened = self._open_stream(bucket_id, key, pinned=request.header(P.H_PEER_ID))
        content_type = request.query.get("content_type") or opened[3]
        headers: List[Tuple[str, str]] = []
        try:
            P.check_content_type(content_type)
            if request.query.get("attachment", "").lower() in ("1", "true", "yes"):
                name = request.query.get("filename") or f"{bucket_id}_{key}"
                headers.append(("Content-Disposition", _wsgi.attachment(name)))
        except InvalidArgumentError as exc:
            opened[1].close()
            raise HTTPError(400, exc.message) from None
        return _wsgi.stream_response(self._relay(bucket_id, key, opened), content_type=content_type,
                                     content_length=opened[2], headers=headers)

    def merge(self, request: Request) -> Response:
        """Stream the chunks ``{ball_id}_0 .. {ball_id}_{n-1}`` as one body."""
        bucket_id, ball_id = request.params["bucket_id"], request.params["ball_id"]
        _check_id(bucket_id, "bucket_id")
        _check_id(ball_id, "ball_id")
        first = self._find_metadata(bucket_id, P.chunk_key(ball_id, 0))[1].metadata
        try:
            n = int(first.tags.get(P.TAG_NUM_CHUNKS, "1"))
        except ValueError:
            n = 0
        if n <= 0:
            raise HTTPError(404, "Invalid number of chunks.")
        sizes = [first.size] + [self._find_metadata(bucket_id, P.chunk_key(ball_id, i))[1].metadata.size
                                for i in range(1, n)]

        def body() -> Iterator[bytes]:
            for i in range(n):
                key = P.chunk_key(ball_id, i)
                opened = self._open_stream(bucket_id, key)
                if opened[2] != sizes[i]:
                    opened[1].close()
                    raise OSError(f"{key} changed size while merging")
                yield from self._relay(bucket_id, key, opened)

        return _wsgi.stream_response(body(), content_type=first.content_type or P.DEFAULT_CONTENT_TYPE,
                                     content_length=sum(sizes))

    def chunks(self, request: Request) -> Response:
        """``BallMetadata`` of a ball_id across live peers (404 when empty)."""
        bucket_id, ball_id = request.params["bucket_id"], request.params["ball_id"]
        _check_id(bucket_id, "bucket_id")
        _check_id(ball_id, "ball_id")

        def one(peer: PeerState) -> Tuple[Metadata, ...]:
            try:
                return peer.client.get_by_ball_id(bucket_id, ball_id).balls
            except MictlanXError as exc:
                self._failed(peer, exc)
                return ()

        members = [_public(m) for balls in self.registry.map(one, self.registry.live()) for m in balls]
        if not members:
            raise HTTPError(404, f"{P.combined_key(bucket_id, ball_id)} not found")
        members.sort(key=_updated_at)
        sizes: Dict[str, int] = {}
        for meta in members:
            sizes.setdefault(meta.key, meta.size)
        size_bytes = sum(sizes.values())
        reply = BallMetadata(bucket_id=bucket_id, ball_id=ball_id, size=format_size(size_bytes),
                             size_bytes=size_bytes,
                             checksum=members[0].tags.get(P.TAG_FULL_CHECKSUM, ""), chunks=tuple(members))
        return json_response(reply.to_json())

    def list_bucket(self, request: Request) -> Response:
        """Every ball of a bucket, unique per key (latest ``updated_at`` wins, size 0 skipped unless
        the query asks ``include_empty=1``)."""
        bucket_id = request.params["bucket_id"]
        include_empty = request.query.get(P.Q_INCLUDE_EMPTY, "").lower() in ("1", "true", "yes")
        _check_id(bucket_id, "bucket_id")

        def one(peer: PeerState) -> Optional[Tuple[str, Tuple[Metadata, ...]]]:
            try:
                return peer.peer_id, peer.client.get_bucket_metadata(bucket_id).balls
            except MictlanXError as exc:
                self._failed(peer, exc)
                return None

        answered: List[str] = []
        latest: Dict[str, Metadata] = {}
        for result in self.registry.map(one, self.registry.live()):
            if result is None:
                continue
            answered.append(result[0])
            for meta in result[1]:
                if meta.size == 0 and not include_empty:
                    continue
                current = latest.get(meta.key)
                if current is None or _updated_at(meta) > _updated_at(current):
                    latest[meta.key] = _public(meta)
        reply = GetRouterBucketMetadataResponse(bucket_id=bucket_id, peer_ids=tuple(answered),
                                                balls=tuple(latest.values()), extra={})
        return json_response(reply.to_json())

    def size(self, request: Request) -> Response:
        """``GetSizeByKey`` of every live replica that holds the key (an array; 404 when none)."""
        bucket_id, key = request.params["bucket_id"], request.params["key"]
        _check_id(bucket_id, "bucket_id")
        _check_id(key, "key")

        def one(peer: PeerState) -> Optional[Dict[str, Any]]:
            try:
                return peer.client.get_size(bucket_id, key).to_json()
            except MictlanXError as exc:
                if not isinstance(exc, NotFoundError):
                    self._failed(peer, exc)
                return None

        sizes = [s for s in self.registry.map(one, self.registry.live()) if s is not None]
        if not sizes:
            raise HTTPError(404, f"{P.combined_key(bucket_id, key)} not found")
        return json_response(sizes)

    # --- changes ----------------------------------------------------------------------------
    def delete(self, request: Request) -> Response:
        """Delete a key on every live peer (404 when none had it); forwards ``Force`` and the
        conditional ``?checksum=`` (then 409 when replicas exist but none holds that checksum)."""
        bucket_id, key = request.params["bucket_id"], request.params["key"]
        _check_id(bucket_id, "bucket_id")
        _check_id(key, "key")
        force = request.flag(P.H_FORCE, True)
        checksum = request.query.get(P.Q_IF_CHECKSUM) or None
        self._release_claims_for(bucket_id, key, checksum)
        conflicts: List[AlreadyExistsError] = []

        def one(peer: PeerState) -> int:
            try:
                return max(0, peer.client.delete(bucket_id, key, force=force, checksum=checksum).n_deletes)
            except AlreadyExistsError as exc:  # conditional delete: another content is stored
                conflicts.append(exc)
                return 0
            except MictlanXError as exc:
                self._failed(peer, exc)
                return 0

        total = sum(self.registry.map(one, self.registry.live()))
        if total == 0 and conflicts:
            first = conflicts[0]
            raise HTTPError(409, first.detail if first.detail is not None else first.message)
        self.registry.drop_holder(bucket_id, key)
        if total == 0:
            raise HTTPError(404, f"{P.combined_key(bucket_id, key)} not found")
        return json_response(DeletedByKeyResponse(n_deletes=total, key=key).to_json())

    def delete_by_ball_id(self, request: Request) -> Response:
        """Delete every ball with this ball_id on every live peer (200, also with 0)."""
        bucket_id, ball_id = request.params["bucket_id"], request.params["ball_id"]
        _check_id(bucket_id, "bucket_id")
        _check_id(ball_id, "ball_id")
        force = request.flag(P.H_FORCE, True)

        def one(peer: PeerState) -> int:
            try:
                members = peer.client.get_by_ball_id(bucket_id, ball_id).balls
                count = max(0, peer.client.delete_by_ball_id(bucket_id, ball_id, force=force).n_deletes)
            except MictlanXError as exc:
                self._failed(peer, exc)
                return 0
            for meta in members:
                self.registry.drop_holder(bucket_id, meta.key, peer.peer_id)
            return count

        total = sum(self.registry.map(one, self.registry.live()))
        return json_response(DeletedByBallIdResponse(n_deletes=total, ball_id=ball_id).to_json())

    def disable(self, request: Request) -> Response:
        """Disable a key on every live peer (204)."""
        bucket_id, key = request.params["bucket_id"], request.params["key"]
        _check_id(bucket_id, "bucket_id")
        _check_id(key, "key")

        def one(peer: PeerState) -> None:
            try:
                peer.client.disable(bucket_id, key)
            except MictlanXError as exc:
                self._failed(peer, exc)

        self.registry.map(one, self.registry.live())
        return empty_response(204)

    def update_metadata(self, request: Request) -> Response:
        """Overwrite a key's metadata on the replicas holding it (``Update: 1``); 204, 404 if none."""
        bucket_id, key = request.params["bucket_id"], request.params["key"]
        _check_id(bucket_id, "bucket_id")
        _check_id(key, "key")
        dto, _ = self._dto(request)
        metadata = attrs.evolve(dto.to_metadata(), bucket_id=bucket_id, key=key)

        def one(peer: PeerState) -> bool:
            try:
                stored = peer.client.get_metadata(bucket_id, key).metadata
            except MictlanXError as exc:
                if not isinstance(exc, NotFoundError):
                    self._failed(peer, exc)
                return False
            tags = {k: v for k, v in metadata.tags.items() if k != P.TAG_RF}
            if P.TAG_RF in stored.tags:  # the rf recorded at step 1 is the router's, kept
                tags[P.TAG_RF] = stored.tags[P.TAG_RF]
            try:
                peer.client.put_metadata_model(attrs.evolve(metadata, tags=tags), update=True)
                return True
            except MictlanXError as exc:
                self._failed(peer, exc)
                return False

        if not any(self.registry.map(one, self.registry.live())):
            raise HTTPError(404, f"{P.combined_key(bucket_id, key)} not found")
        return empty_response(204)


def _pending(error: AlreadyExistsError) -> bool:
    """Whether a peer's 409 means "an upload of different content is in progress" (not "stored")."""
    return isinstance(error.detail, dict) and error.detail.get("pending") is True


def request_json(raw: bytes) -> Any:
    """Decode a JSON body (422 with a list detail when it is not JSON)."""
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _wsgi.validation_error(f"JSON decode error: {exc}") from None


def create_router_app(config: RouterConfig) -> RouterApp:
    """Build the WSGI app of a router (call ``.close()`` when done)."""
    return RouterApp(config)
