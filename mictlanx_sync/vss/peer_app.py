"""The WSGI app of a storage peer (PROTOCOL §4, the §9 must-have set).

Example:
    >>> import tempfile
    >>> app = create_peer_app(PeerConfig(data_dir=tempfile.mkdtemp(), peer_id="peer-0"))
    >>> callable(app)
    True
"""

from __future__ import annotations

import logging
import time
from typing import Any, BinaryIO, Iterator, List, Optional, Tuple

import attrs

from .. import _protocol as P
from ..errors import MictlanXError
from ..models import (
    BallBasicData,
    DeletedByBallIdResponse,
    DeletedByKeyResponse,
    GetBucketMetadataResponse,
    GetMetadataResponse,
    GetSizeByKey,
    GetUFSResponse,
    GroupedBallResponse,
    Metadata,
    PeerPutChunkedResponse,
    PeerPutMetadataResponse,
    PeerStatsResponse,
)
from . import _wsgi
from ._wsgi import App, HTTPError, Request, Response, json_response, route
from .diskio import FileSystem
from .multipart import MultipartError, boundary_from_content_type, iter_field
from .storage import Storage, StorageConfig, StorageError

__all__ = ["PeerConfig", "PeerApp", "create_peer_app"]

READ_PIECE = 1 << 20


@attrs.frozen(kw_only=True)
class PeerConfig(StorageConfig):
    """Configuration of one storage peer: its storage (see :class:`StorageConfig`: ``data_dir``,
    ``peer_id``, ``max_body_size``, ``task_ttl``, ``capacity``, ``fsync``) plus what it reports.

    Attributes:
        known_peers: peer ids reported in stats ``peers``.
    """

    known_peers: Tuple[str, ...] = ()


def _ms_since(started: float) -> int:
    return int(round((time.perf_counter() - started) * 1000))


def _translate(exc: BaseException) -> Optional[HTTPError]:
    if isinstance(exc, StorageError):
        return HTTPError(exc.status, exc.detail)
    if isinstance(exc, MultipartError):
        return HTTPError(400, f"invalid multipart body: {exc}")
    if isinstance(exc, MictlanXError):
        return HTTPError(400, exc.message)
    return None


class _FileBody:
    """Iterate over an open data file in large pieces; closed when done (or by the server)."""

    def __init__(self, handle: BinaryIO, size: int, piece: int = READ_PIECE) -> None:
        self.handle = handle
        self.size = size
        self.piece = piece

    def __iter__(self) -> Iterator[bytes]:
        remaining = self.size
        try:
            while remaining > 0:
                data = self.handle.read(min(self.piece, remaining))
                if not data:
                    raise OSError("data file shorter than its metadata")
                remaining -= len(data)
                yield data
        finally:
            self.close()

    def close(self) -> None:
        """Close the file."""
        self.handle.close()


class PeerApp(App):
    """A storage peer: :class:`Storage` behind the peer HTTP API.

    Thread safety: safe to serve from many threads (the storage locks internally).

    Args:
        config: the peer's configuration.
        fs: the storage's file-system operations (see :class:`Storage`; tests inject failures).
    """

    def __init__(self, config: PeerConfig, fs: Optional[FileSystem] = None) -> None:
        self.config = config
        self.storage = Storage(config, fs)
        # Reference route order (PROTOCOL §5.0): size before metadata-of-key, listing before data.
        routes = [
            route("GET", P.HEALTH, self.health),
            route("GET", P.SIZE, self.size),
            route("GET", P.BUCKET_METADATA, self.list_bucket),
            route("GET", P.GROUP, self.group),
            route("GET", P.METADATA, self.get_metadata),
            route("POST", P.BUCKET_METADATA, self.put_metadata),
            route("POST", P.PUT_DATA, self.put_data),
            route("POST", P.PUT_CHUNKED, self.put_chunked),
            route("POST", P.DISABLE, self.disable),
            route("DELETE", P.DELETE_BY_BALL_ID, self.delete_by_ball_id),
            route("GET", P.STATS, self.stats),
            route("GET", P.STATS_UFS, self.ufs),
            route("DELETE", P.TASKS, self.flush_tasks),
            route("GET", P.BALLS_LEN, self.balls_len),
            route("GET", P.XBALLS, self.xballs),
            route("GET", P.XBALLS_SIZE, self.xballs_size),
            route("GET", P.DATA, self.get_data),
            route("DELETE", P.DATA, self.delete),
        ]
        super().__init__(routes, max_body_size=config.max_body_size + (64 << 10), translate=_translate,
                         logger=logging.getLogger("mictlanx_sync.vss.peer"),
                         on_close=self.storage.close)

    # --- handlers ---------------------------------------------------------------------------
    def health(self, request: Request) -> Response:
        """``GET /health``."""
        return json_response({"status": "ok", "peer_id": self.config.peer_id})

    def put_metadata(self, request: Request) -> Response:
        """PUT step 1: open a task (honours ``Task-Id`` and ``Update``)."""
        started = time.perf_counter()
        body = request.json()
        if not isinstance(body, dict):
            raise _wsgi.validation_error("expected a JSON object")
        body = {**body, "bucket_id": body.get("bucket_id") or request.params["bucket_id"]}
        try:
            meta = Metadata.from_json(body)
        except MictlanXError as exc:
            raise _wsgi.validation_error(exc.message) from None
        if meta.bucket_id != request.params["bucket_id"]:
            raise HTTPError(400, f"Bucket ID mismatch: {request.params['bucket_id']} != {meta.bucket_id}")
        task_id = self.storage.open_task(meta, task_id=request.header(P.H_TASK_ID),
                                         update=request.flag(P.H_UPDATE))
        reply = PeerPutMetadataResponse(key=meta.key, service_time=_ms_since(started), task_id=task_id,
                                        node_id=self.config.peer_id)
        return json_response(reply.to_json())

    def put_data(self, request: Request) -> Response:
        """PUT step 2, multipart (field ``data``): 201 ``{service_time, throughput}``."""
        request.check_length()
        boundary = boundary_from_content_type(request.header("Content-Type"))
        task = self.storage.take_task(request.params["task_id"])
        result = self.storage.commit(task, iter_field(request.iter_body(), boundary, P.MULTIPART_FIELD))
        return json_response({"service_time": int(round(result.seconds * 1000)),
                              "throughput": result.size / result.seconds}, 201)

    def put_chunked(self, request: Request) -> Response:
        """PUT step 2, raw or chunked body: ``PeerPutChunkedResponse``."""
        request.check_length()
        task = self.storage.take_task(request.params["task_id"])
        result = self.storage.commit(task, request.iter_body())
        meta = result.metadata
        reply = PeerPutChunkedResponse(node_id=self.config.peer_id,
                                       combined_key=P.combined_key(meta.bucket_id, meta.key),
                                       bucket_id=meta.bucket_id, key=meta.key, size=result.size,
                                       throughput=result.size / result.seconds,
                                       service_time=result.seconds)
        return json_response(reply.to_json())

    def get_metadata(self, request: Request) -> Response:
        """Metadata of one committed key."""
        started = time.perf_counter()
        meta = self.storage.get(request.params["bucket_id"], request.params["key"])
        reply = GetMetadataResponse(service_time=_ms_since(started), peer_id=self.config.peer_id,
                                    local_peer_id=self.config.peer_id, metadata=meta)
        return json_response(reply.to_json())

    def get_data(self, request: Request) -> Response:
        """The exact bytes of a ball, streamed from its file."""
        meta, handle = self.storage.open(request.params["bucket_id"], request.params["key"])
        wrapper = request.environ.get("wsgi.file_wrapper")
        stream: Any = wrapper(handle, READ_PIECE) if wrapper is not None else _FileBody(handle, meta.size)
        return _wsgi.stream_response(stream, content_type=meta.content_type or P.DEFAULT_CONTENT_TYPE,
                                     content_length=meta.size)

    def list_bucket(self, request: Request) -> Response:
        """Every committed ball of a bucket."""
        balls = self.storage.list_bucket(request.params["bucket_id"])
        return json_response(GetBucketMetadataResponse(peer_id=self.config.peer_id,
                                                       balls=tuple(balls)).to_json())

    def group(self, request: Request) -> Response:
        """Balls whose metadata ``ball_id`` matches (200 with an empty list when none)."""
        bucket_id, ball_id = request.params["bucket_id"], request.params["ball_id"]
        balls = self.storage.group(bucket_id, ball_id)
        reply = GroupedBallResponse(bucket_id=bucket_id, ball_id=ball_id,
                                    size=sum(b.size for b in balls), balls=tuple(balls))
        return json_response(reply.to_json())

    def delete(self, request: Request) -> Response:
        """Delete by key: ``n-deletes`` header plus ``{n_deletes, key}``. With ``?checksum=``
        (:data:`~mictlanx_sync._protocol.Q_IF_CHECKSUM`) only a ball with that checksum is
        deleted; another one answers 409 and stays."""
        key = request.params["key"]
        checksum = request.query.get(P.Q_IF_CHECKSUM)
        count = self.storage.delete(request.params["bucket_id"], key, checksum=checksum or None)
        return json_response(DeletedByKeyResponse(n_deletes=count, key=key).to_json(),
                             headers=((P.H_N_DELETES, str(count)),))

    def delete_by_ball_id(self, request: Request) -> Response:
        """Delete by ball id: ``n-deletes`` header plus ``{n_deletes, ball_id}``."""
        ball_id = request.params["ball_id"]
        count = self.storage.delete_by_ball_id(request.params["bucket_id"], ball_id)
        return json_response(DeletedByBallIdResponse(n_deletes=count, ball_id=ball_id).to_json(),
                             headers=((P.H_N_DELETES, str(count)),))

    def disable(self, request: Request) -> Response:
        """Disable a ball (2xx even when it is unknown)."""
        changed = self.storage.disable(request.params["bucket_id"], request.params["key"])
        return json_response({"disabled": changed})

    def size(self, request: Request) -> Response:
        """``GetSizeByKey`` of a committed ball."""
        meta = self.storage.get(request.params["bucket_id"], request.params["key"])
        return json_response(GetSizeByKey(bucket_id=meta.bucket_id, key=meta.key,
                                          peer_id=self.config.peer_id, size=meta.size).to_json())

    def _slice(self, request: Request) -> Tuple[int, Optional[int]]:
        start = request.query_int("start", 0)
        end = request.query_int("end", None)
        return (start or 0), end

    def stats(self, request: Request) -> Response:
        """``PeerStatsResponse`` with balls sliced ``[start:end]`` (exactly 7 keys)."""
        start, end = self._slice(request)
        usage = self.storage.usage()
        reply = PeerStatsResponse(peer_id=self.config.peer_id, used_disk=usage.used,
                                  total_disk=usage.total, available_disk=usage.available,
                                  disk_uf=usage.uf, balls=tuple(self.storage.all_balls(start, end)),
                                  peers=self.config.known_peers)
        return json_response(reply.to_json())

    def ufs(self, request: Request) -> Response:
        """``GetUFSResponse``."""
        usage = self.storage.usage()
        return json_response(GetUFSResponse(total_disk=usage.total, used_disk=usage.used,
                                            disk_uf=usage.uf).to_json())

    def flush_tasks(self, request: Request) -> Response:
        """Drop every pending task: ``{"tasks": [ids]}``."""
        return json_response({"tasks": self.storage.flush_tasks()})

    def balls_len(self, request: Request) -> Response:
        """``{"len": n}``."""
        return json_response({"len": self.storage.count()})

    def xballs(self, request: Request) -> Response:
        """An array of ``BallBasicData``, sliced ``[start:end]``."""
        start, end = self._slice(request)
        balls = self.storage.all_balls(start, end)
        out: List[Any] = [BallBasicData(bucket_id=b.bucket_id, key=b.key, size=b.size).to_json()
                          for b in balls]
        return json_response(out)

    def xballs_size(self, request: Request) -> Response:
        """An array of ``[bucket_id, key, size]`` triples, sliced ``[start:end]``."""
        start, end = self._slice(request)
        return json_response([[b.bucket_id, b.key, b.size] for b in self.storage.all_balls(start, end)])


def create_peer_app(config: PeerConfig, fs: Optional[FileSystem] = None) -> PeerApp:
    """Build the WSGI app of a storage peer (call ``.close()`` when done)."""
    return PeerApp(config, fs)
