"""Router: a thin client of one MictlanX router (PROTOCOL §5)."""

from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Optional, Union

from . import _protocol as P
from . import errors
from ._address import resolve_address
from ._http import DEFAULT_MAX_REPLY, SessionFactory
from ._service import Body, _parse, _Service, as_body, as_multipart_body
from .config import RetryConfig, Timeouts
from .models import (
    BallMetadata,
    DeletedByKeyResponse,
    GetRouterBucketMetadataResponse,
    GetSizeByKey,
    Metadata,
    PeerPayload,
    PeersResponse,
    PeerStatsResponse,
    PutMetadataRequest,
    PutMetadataResponse,
    RouterPutChunkedResponse,
)

__all__ = ["Router"]


class Router(_Service):
    """A client of one router, one method per endpoint.

    Thread safety: a Router may be shared by many threads (one pooled session, read-only config).

    Args:
        base_url: the router's base URL, for example ``http://127.0.0.1:60666``.
        router_id: the router's id (informational).
        timeouts: connect/read timeouts.
        retry: retry policy for GET/HEAD/DELETE (POSTs are never retried by the adapter).
        verify: TLS verification (bool or CA bundle path).
        pool_maxsize: pooled connections; at least the number of threads sharing this Router.
        session_factory: test seam that builds the ``requests.Session``.
        token: sent as ``Authorization: Bearer <token>`` (for a local VSS started with ``--token``).
        ip_addr, port, protocol, api_version, http2: the seed's way to name the router instead of
            ``base_url`` (``protocol`` defaults to ``http``; only ``api_version=4`` is spoken;
            ``https`` leaves the port out as the reference does). ``http2`` is recorded for
            :meth:`MictlanXURI.build <mictlanx_sync.MictlanXURI.build>`; requests speaks HTTP/1.1.
        max_reply_size: the largest JSON reply read, in bytes (a larger one is a ``ProtocolError``).

    Example:
        >>> router = Router("http://127.0.0.1:60666", router_id="mictlanx-router-0")
        >>> router.router_id
        'mictlanx-router-0'
        >>> Router(router_id="router-0", ip_addr="localhost", port=60666, protocol="http",
        ...        api_version=4, http2=False).base_url
        'http://localhost:60666'
    """

    def __init__(self, base_url: Optional[str] = None, *, router_id: str = "",
                 timeouts: Optional[Timeouts] = None, retry: Optional[RetryConfig] = None,
                 verify: Union[bool, str] = True, pool_maxsize: int = 10,
                 session_factory: Optional[SessionFactory] = None, ip_addr: Optional[str] = None,
                 port: Optional[int] = None, protocol: Optional[str] = None,
                 api_version: Optional[int] = None, http2: bool = False,
                 max_reply_size: int = DEFAULT_MAX_REPLY, token: Optional[str] = None) -> None:
        address = resolve_address(base_url, ip_addr=ip_addr, port=port, protocol=protocol,
                                  api_version=api_version, kind="router")
        super().__init__(address, timeouts=timeouts, retry=retry, verify=verify,
                         pool_maxsize=pool_maxsize, session_factory=session_factory,
                         max_reply_size=max_reply_size, token=token)
        self.router_id = router_id
        self.http2 = bool(http2)  # recorded for MictlanXURI.build; requests speaks HTTP/1.1

    def put_metadata(self, bucket_id: str, key: str, size: int, checksum: str, producer_id: str = "",
                     content_type: str = P.DEFAULT_CONTENT_TYPE, ball_id: str = "",
                     tags: Optional[Mapping[str, str]] = None, *, is_disabled: bool = False,
                     replication_factor: int = 1, update: bool = False,
                     if_none_match: bool = False) -> PutMetadataResponse:
        """PUT step 1: reserve ``replication_factor`` replicas; ``tasks_ids[0]`` is the group id.

        With ``if_none_match`` the request carries ``If-None-Match: *``: a router that checks it
        (the local VSS) refuses a key any live peer holds, and says it checked in the reply's
        ``extra`` (``checked_if_none_match``); a real MictlanX router ignores it.

        Raises:
            MaxAvailabilityReachedError: any 404 (every live peer holds the key, or no peer can).
            PreconditionFailedError: ``if_none_match`` and the key is stored (412).
            BadRequestError: the router refused the metadata (400/422).
        """
        body = PutMetadataRequest(bucket_id=bucket_id, key=key, ball_id=ball_id or key,
                                  checksum=checksum, size=size, producer_id=producer_id,
                                  tags=dict(tags or {}), content_type=content_type,
                                  is_disabled=is_disabled, replication_factor=replication_factor)
        headers = {P.H_UPDATE: "1" if update else "0"}
        if if_none_match:
            headers[P.H_IF_NONE_MATCH] = "*"
        return self._json("POST", P.BUCKET_METADATA, PutMetadataResponse, {"bucket_id": bucket_id},
                          json=body.to_json(), headers=headers, key=key,
                          on_404=errors.MaxAvailabilityReachedError)

    def put_data(self, task_id: str, value: Body, *, key: str = "data",
                 content_type: str = P.DEFAULT_CONTENT_TYPE) -> None:
        """PUT step 2 as multipart/form-data (file part ``data``); the router answers 201."""
        files = {P.MULTIPART_FIELD: (key, as_multipart_body(value), content_type)}
        self._send("POST", P.PUT_DATA, {"task_id": task_id}, files=files, key=key).close()

    def put_chunked(self, task_id: str, value: Body, *, chunk_size: Optional[str] = None,
                    bucket_id: Optional[str] = None, key: Optional[str] = None) -> RouterPutChunkedResponse:
        """PUT step 2 as a raw body: bytes, a file object or an iterator of bytes (streamed chunked).

        Raises:
            ServerError: no replica stored the data (502).
        """
        headers = {"Content-Type": P.DEFAULT_CONTENT_TYPE}
        if chunk_size:
            headers[P.H_CHUNK_SIZE] = chunk_size
        with self._send("POST", P.PUT_CHUNKED, {"task_id": task_id}, data=as_body(value),
                        headers=headers, bucket_id=bucket_id, key=key) as reply:
            return _parse(RouterPutChunkedResponse, reply.json(), "put_chunked")

    def get_by_ball_id(self, bucket_id: str, ball_id: str) -> BallMetadata:
        """Every chunk-ball whose metadata ``ball_id`` matches, across peers (``/chunks``).

        Raises:
            NotFoundError: no ball has that ball_id.
        """
        return self._json("GET", P.CHUNKS, BallMetadata, {"bucket_id": bucket_id, "ball_id": ball_id})

    def get_bucket_metadata(self, bucket_id: str, *,
                            include_empty: bool = False) -> GetRouterBucketMetadataResponse:
        """Every ball of a bucket (reads ``peer_ids`` or ``peers_ids``).

        Routers leave 0-byte balls out; ``include_empty`` asks for them too, which our VSS
        honours and a reference router ignores (PROTOCOL §5.9)."""
        params = {P.Q_INCLUDE_EMPTY: "1"} if include_empty else None
        return self._json("GET", P.BUCKET_METADATA, GetRouterBucketMetadataResponse, {"bucket_id": bucket_id},
                          params=params)

    def get_size(self, bucket_id: str, key: str) -> List[GetSizeByKey]:
        """The size of a key on every replica that answered."""
        with self._send("GET", P.SIZE, {"bucket_id": bucket_id, "key": key}) as reply:
            body = reply.json()
        if not isinstance(body, list):
            raise errors.ServerError(f"size answered {type(body).__name__}, not an array",
                                     bucket_id=bucket_id, key=key)
        return [_parse(GetSizeByKey, item, "get_size") for item in body]

    def delete(self, bucket_id: str, key: str, *, force: bool = True,
               checksum: Optional[str] = None) -> DeletedByKeyResponse:
        """Delete a key on every replica.

        Args:
            checksum: delete only replicas holding this checksum (``?checksum=``, a conditional
                delete our VSS enforces). A real MictlanX router ignores the parameter and deletes
                whatever is stored: check the stored checksum first where that matters.

        Raises:
            NotFoundError: no replica holds the key.
            AlreadyExistsError: (our VSS, with ``checksum``) replicas hold another checksum.
        """
        params = {P.Q_IF_CHECKSUM: checksum} if checksum is not None else None
        return self._json("DELETE", P.DATA, DeletedByKeyResponse, {"bucket_id": bucket_id, "key": key},
                          headers={P.H_FORCE: "1" if force else "0"}, params=params)

    def update_metadata(self, bucket_id: str, key: str, metadata: Metadata) -> None:
        """Overwrite the metadata of a key on its replicas (``/u/buckets``)."""
        body = PutMetadataRequest(bucket_id=metadata.bucket_id or bucket_id, key=metadata.key,
                                  ball_id=metadata.ball_id, checksum=metadata.checksum,
                                  size=metadata.size, producer_id=metadata.producer_id,
                                  tags=metadata.tags, content_type=metadata.content_type,
                                  is_disabled=metadata.is_disabled)
        self._send("POST", P.UPDATE_METADATA, {"bucket_id": bucket_id, "key": key},
                   json=body.to_json()).close()

    def get_stats(self, start: int = 0, end: int = 100) -> Dict[str, PeerStatsResponse]:
        """Stats of every available peer, keyed by peer id."""
        with self._send("GET", P.PEERS_STATS, params={"start": start, "end": end}) as reply:
            body = reply.json()
        if not isinstance(body, dict):
            raise errors.ServerError(f"peers/stats answered {type(body).__name__}, not an object")
        return {pid: _parse(PeerStatsResponse, stats, "peers/stats") for pid, stats in body.items()}

    def get_peers(self) -> PeersResponse:
        """Available and unavailable peers."""
        return self._json("GET", P.PEERS, PeersResponse)

    def add_peers(self, peers: Iterable[PeerPayload]) -> None:
        """Register peers (``POST /xpeers``); they are used once they answer a liveness probe."""
        self._send("POST", P.XPEERS, json=[p.to_json() for p in peers]).close()

    def remove_peer(self, peer_id: str) -> None:
        """Unregister one peer."""
        self._send("DELETE", P.PEER, {"peer_id": peer_id}).close()
