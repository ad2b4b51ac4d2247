"""Peer: a thin client of one MictlanX storage peer (PROTOCOL §4)."""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Tuple, Union

from . import _protocol as P
from . import errors
from ._address import resolve_address
from ._http import DEFAULT_MAX_REPLY, SessionFactory
from ._service import Body, _parse, _Service, as_body, as_multipart_body, n_deletes_header
from .config import RetryConfig, Timeouts
from .models import (
    BallBasicData,
    DeletedByKeyResponse,
    GetBucketMetadataResponse,
    GetSizeByKey,
    GetUFSResponse,
    GroupedBallResponse,
    Metadata,
    PeerPutChunkedResponse,
    PeerPutDataResponse,
    PeerPutMetadataResponse,
    PeerStatsResponse,
    to_int,
    to_str,
)

__all__ = ["Peer"]


class Peer(_Service):
    """A client of one storage peer, one method per endpoint.

    Thread safety: a Peer may be shared by many threads (one pooled session, read-only config).

    Args:
        base_url: the peer's base URL, for example ``http://127.0.0.1:24000``.
        peer_id: the peer's id (informational).
        timeouts: connect/read timeouts.
        retry: retry policy for GET/HEAD/DELETE.
        verify: TLS verification (bool or CA bundle path).
        pool_maxsize: pooled connections; at least the number of threads sharing this Peer.
        session_factory: test seam that builds the ``requests.Session``.
        token: sent as ``Authorization: Bearer <token>`` (for a local VSS started with ``--token``).
        ip_addr, port, protocol, api_version: the seed's way to name the peer instead of
            ``base_url`` (``protocol`` defaults to ``http``; only ``api_version=4`` is spoken; port
            0 or -1 leaves the port out of the URL).
        max_reply_size: the largest JSON reply read, in bytes (a larger one is a ``ProtocolError``).

    Example:
        >>> peer = Peer("http://127.0.0.1:24000", peer_id="mictlanx-peer-0")
        >>> peer.base_url
        'http://127.0.0.1:24000'
        >>> Peer(peer_id="mictlanx-peer-0", ip_addr="localhost", port=24000, protocol="http",
        ...      api_version=4).base_url
        'http://localhost:24000'
    """

    def __init__(self, base_url: Optional[str] = None, *, peer_id: str = "",
                 timeouts: Optional[Timeouts] = None, retry: Optional[RetryConfig] = None,
                 verify: Union[bool, str] = True, pool_maxsize: int = 10,
                 session_factory: Optional[SessionFactory] = None, ip_addr: Optional[str] = None,
                 port: Optional[int] = None, protocol: Optional[str] = None,
                 api_version: Optional[int] = None,
                 max_reply_size: int = DEFAULT_MAX_REPLY, token: Optional[str] = None) -> None:
        address = resolve_address(base_url, ip_addr=ip_addr, port=port, protocol=protocol,
                                  api_version=api_version, kind="peer")
        super().__init__(address, timeouts=timeouts, retry=retry, verify=verify,
                         pool_maxsize=pool_maxsize, session_factory=session_factory,
                         max_reply_size=max_reply_size, token=token)
        self.peer_id = peer_id

    def put_metadata(self, bucket_id: str, key: str, size: int, checksum: str, producer_id: str = "",
                     content_type: str = P.DEFAULT_CONTENT_TYPE, ball_id: str = "",
                     tags: Optional[Mapping[str, str]] = None, *, is_disabled: bool = False,
                     task_id: Optional[str] = None, update: bool = False) -> PeerPutMetadataResponse:
        """PUT step 1: open an upload task for ``(bucket_id, key)``.

        Args:
            task_id: sent as ``Task-Id``; the peer then uses it as its task id.
            update: sent as ``Update: 1``; overwrites an existing ball's metadata (no data follows).

        Raises:
            AlreadyExistsError: the key exists and ``update`` is false.
            BadRequestError: the metadata is invalid.
        """
        metadata = Metadata(key=key, size=size, checksum=checksum, tags=dict(tags or {}),
                            content_type=content_type, producer_id=producer_id,
                            ball_id=ball_id or key, bucket_id=bucket_id, is_disabled=is_disabled)
        return self.put_metadata_model(metadata, task_id=task_id, update=update)

    def put_metadata_model(self, metadata: Metadata, *, task_id: Optional[str] = None,
                           update: bool = False) -> PeerPutMetadataResponse:
        """PUT step 1 from a :class:`Metadata` (the router's fan-out uses this form)."""
        headers = {P.H_UPDATE: "1" if update else "0"}
        if task_id:
            headers[P.H_TASK_ID] = task_id
        return self._json("POST", P.BUCKET_METADATA, PeerPutMetadataResponse,
                          {"bucket_id": metadata.bucket_id}, json=metadata.to_peer_json(),
                          headers=headers, key=metadata.key)

    def put_data(self, task_id: str, value: Body, *, key: str = "data",
                 content_type: str = P.DEFAULT_CONTENT_TYPE) -> PeerPutDataResponse:
        """PUT step 2 as multipart/form-data (one file part named ``data``)."""
        files = {P.MULTIPART_FIELD: (key, as_multipart_body(value), content_type)}
        with self._send("POST", P.PUT_DATA, {"task_id": task_id}, files=files, key=key) as reply:
            try:
                body = reply.json() if reply.content else {}
            except errors.ServerError:  # any 2xx is success (PROTOCOL §4.3); the body is informational
                body = {}
        try:
            return _parse(PeerPutDataResponse, body if isinstance(body, dict) else {}, "put_data")
        except errors.ServerError:
            return PeerPutDataResponse()

    def put_chunked(self, task_id: str, value: Body, *, bucket_id: Optional[str] = None,
                    key: Optional[str] = None, size: Optional[int] = None) -> PeerPutChunkedResponse:
        """PUT step 2 as a raw body: bytes, a file object or an iterator of bytes (streamed with
        chunked transfer encoding, or with a Content-Length when ``size`` gives their total)."""
        with self._send("POST", P.PUT_CHUNKED, {"task_id": task_id}, data=as_body(value, size),
                        headers={"Content-Type": P.DEFAULT_CONTENT_TYPE}, bucket_id=bucket_id,
                        key=key) as reply:
            return _parse(PeerPutChunkedResponse, reply.json(), "put_chunked")

    def get_by_ball_id(self, bucket_id: str, ball_id: str) -> GroupedBallResponse:
        """Every ball on this peer whose metadata ``ball_id`` matches (``/group``)."""
        return self._json("GET", P.GROUP, GroupedBallResponse, {"bucket_id": bucket_id, "ball_id": ball_id})

    def get_bucket_metadata(self, bucket_id: str) -> GetBucketMetadataResponse:
        """The committed balls of a bucket on this peer."""
        return self._json("GET", P.BUCKET_METADATA, GetBucketMetadataResponse, {"bucket_id": bucket_id})

    def get_size(self, bucket_id: str, key: str) -> GetSizeByKey:
        """The stored size of one key."""
        return self._json("GET", P.SIZE, GetSizeByKey, {"bucket_id": bucket_id, "key": key})

    def delete(self, bucket_id: str, key: str, *, force: bool = True,
               checksum: Optional[str] = None) -> DeletedByKeyResponse:
        """Delete one key; the count comes from the ``n-deletes`` header (0 for a missing key).

        Args:
            checksum: delete only a ball with this checksum (``?checksum=``); our VSS answers 409
                (:class:`AlreadyExistsError`) and keeps a ball with another one. A real MictlanX
                peer ignores the parameter: check the stored checksum first where it matters.
        """
        params = {P.Q_IF_CHECKSUM: checksum} if checksum is not None else None
        with self._send("DELETE", P.DATA, {"bucket_id": bucket_id, "key": key},
                        headers={P.H_FORCE: "1" if force else "0"}, params=params) as reply:
            count = n_deletes_header(reply)
            if count is not None:
                return DeletedByKeyResponse(n_deletes=count, key=key)
            return _parse(DeletedByKeyResponse, reply.json(), "delete")

    def update_metadata(self, metadata: Metadata) -> PeerPutMetadataResponse:
        """Overwrite a stored ball's metadata in place (step 1 with ``Update: 1``)."""
        return self.put_metadata_model(metadata, update=True)

    def get_stats(self, start: int = 0, end: Optional[int] = None) -> PeerStatsResponse:
        """The peer's stats, with ``balls`` sliced ``[start:end]``."""
        params: Dict[str, int] = {"start": start}
        if end is not None:
            params["end"] = end
        return self._json("GET", P.STATS, PeerStatsResponse, None, params=params)

    def get_ufs(self) -> GetUFSResponse:
        """The peer's disk use (also its liveness probe in the reference)."""
        return self._json("GET", P.STATS_UFS, GetUFSResponse, None)

    def flush_tasks(self) -> List[str]:
        """Drop every pending upload task; returns their ids."""
        with self._send("DELETE", P.TASKS) as reply:
            try:
                body = reply.json() if reply.content else {}
            except errors.ServerError:  # any 2xx is success (PROTOCOL §4.14)
                body = {}
        tasks = body.get("tasks", []) if isinstance(body, dict) else []
        return [str(t) for t in tasks] if isinstance(tasks, list) else []

    def balls_len(self) -> int:
        """The number of stored balls."""
        with self._send("GET", P.BALLS_LEN) as reply:
            body = reply.json()
        try:
            return to_int(body["len"])
        except (KeyError, TypeError, errors.InvalidArgumentError) as exc:
            raise errors.ServerError(f"balls/len answered a malformed reply: {body!r:.200}") from exc

    def xballs(self, start: int = 0, end: Optional[int] = None) -> List[BallBasicData]:
        """Stored balls ``[start:end]`` as (bucket_id, key, size)."""
        params: Dict[str, int] = {"start": start}
        if end is not None:
            params["end"] = end
        with self._send("GET", P.XBALLS, params=params) as reply:
            body = reply.json()
        if not isinstance(body, list):
            raise errors.ServerError(f"xballs answered {type(body).__name__}, not an array")
        return [_parse(BallBasicData, item, "xballs") for item in body]

    def xballs_size(self, start: int = 0, end: Optional[int] = None) -> List[Tuple[str, str, int]]:
        """Stored balls ``[start:end]`` as 3-element arrays."""
        params: Dict[str, int] = {"start": start}
        if end is not None:
            params["end"] = end
        with self._send("GET", P.XBALLS_SIZE, params=params) as reply:
            body = reply.json()
        try:
            return [(to_str(x[0]), to_str(x[1]), to_int(x[2])) for x in body]
        except (IndexError, KeyError, TypeError, errors.InvalidArgumentError) as exc:
            raise errors.ServerError(f"xballs/size answered a malformed reply: {body!r:.200}") from exc
