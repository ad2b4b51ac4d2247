"""The router's view of its storage peers: registration, liveness and placement bookkeeping.

A peer is *live* once a probe (``GET /api/v4/stats/ufs``, which also reports disk use) answered.
Probes run at registration and then lazily: a peer whose last probe is older than
``probe_interval`` seconds is re-probed before it is used, so a steady stream of client calls costs
at most one probe per peer per interval, never one per call.
A peer counts as holding a key only after it committed that key's data.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple, TypeVar

import attrs

from ..config import RetryConfig, Timeouts
from ..errors import MictlanXError
from ..models import PeerInfo, PeerPayload
from ..peer import Peer

__all__ = ["PeerState", "PeerRegistry", "ProbeConfig"]

_LOG = logging.getLogger("mictlanx_sync.vss.router")
T = TypeVar("T")
R = TypeVar("R")


@attrs.frozen(kw_only=True)
class ProbeConfig:
    """How peers are reached and probed.

    Attributes:
        probe_interval: re-probe a peer whose last probe is older than this (seconds).
        probe_timeout: connect/read timeout of a probe (seconds).
        connect_timeout: connect timeout of every other peer call.
        read_timeout: read timeout of every other peer call.
        pool_maxsize: pooled connections per peer.
    """

    probe_interval: float = 2.0
    probe_timeout: float = 1.0
    connect_timeout: float = 2.0
    read_timeout: float = 120.0
    pool_maxsize: int = 64


@attrs.define
class PeerState:
    """One registered peer: its payload, client, liveness and disk figures."""

    payload: PeerPayload
    client: Peer
    probe_client: Peer
    alive: bool = False
    probed_at: float = -1e18
    total_disk: int = 0
    used_disk: int = 0
    disk_uf: float = 1.0
    placed: int = 0
    assigned: int = 0

    @property
    def peer_id(self) -> str:
        """The peer's id."""
        return self.payload.peer_id

    @property
    def available_disk(self) -> int:
        """Bytes still free, from the last probe."""
        return max(0, self.total_disk - self.used_disk)

    def info(self) -> PeerInfo:
        """The ``GET /peers`` entry of this peer."""
        return PeerInfo(peer_id=self.peer_id, ip_addr=self.payload.hostname, port=self.payload.port,
                        protocol=self.payload.protocol, api_version=4)


class PeerRegistry:
    """Registered peers and which keys each one committed.

    Thread safety: all methods are thread-safe (one short lock; network calls happen outside it).

    Args:
        config: probe and timeout settings.
        pool: the executor used for concurrent peer calls.
        token: the bearer token sent to every peer (peers started with ``--token``).
    """

    def __init__(self, config: ProbeConfig, pool: ThreadPoolExecutor, token: Optional[str] = None) -> None:
        self.config = config
        self._pool = pool
        self._token = token
        # Called (outside the lock) with a peer's id when a probe finds it live again.
        self.on_return: Optional[Callable[[str], None]] = None
        self._lock = threading.Lock()
        self._peers: Dict[str, PeerState] = {}
        self._holders: Dict[Tuple[str, str], Set[str]] = {}

    # --- registration -----------------------------------------------------------------------
    def add(self, payloads: Iterable[PeerPayload], probe: bool = True) -> None:
        """Register (or re-register) peers; probe them at once unless ``probe`` is false."""
        added: List[PeerState] = []
        no_retry = RetryConfig(total=0)
        for payload in payloads:
            client = Peer(payload.base_url(), peer_id=payload.peer_id, retry=RetryConfig(total=1),
                          timeouts=Timeouts(connect=self.config.connect_timeout,
                                            read=self.config.read_timeout),
                          pool_maxsize=self.config.pool_maxsize, token=self._token)
            prober = Peer(payload.base_url(), peer_id=payload.peer_id, retry=no_retry,
                          timeouts=Timeouts(connect=self.config.probe_timeout,
                                            read=self.config.probe_timeout), pool_maxsize=2,
                          token=self._token)
            state = PeerState(payload=payload, client=client, probe_client=prober)
            with self._lock:
                old = self._peers.pop(payload.peer_id, None)
                self._peers[payload.peer_id] = state
            if old is not None:
                old.client.close()
                old.probe_client.close()
            added.append(state)
        if probe:
            self._probe_all(added)

    def remove(self, peer_ids: Iterable[str]) -> None:
        """Unregister peers (unknown ids are ignored)."""
        for peer_id in peer_ids:
            with self._lock:
                state = self._peers.pop(peer_id, None)
                for holders in self._holders.values():
                    holders.discard(peer_id)
            if state is not None:
                state.client.close()
                state.probe_client.close()

    def close(self) -> None:
        """Close every peer client."""
        self.remove(list(self._peers))

    # --- liveness ---------------------------------------------------------------------------
    def _probe(self, state: PeerState) -> None:
        try:
            ufs = state.probe_client.get_ufs()
        except MictlanXError as exc:
            with self._lock:
                was_alive, state.alive, state.probed_at = state.alive, False, time.monotonic()
            if was_alive:
                _LOG.warning("peer %s is unavailable: %s", state.peer_id, exc)
            return
        with self._lock:
            returned = not state.alive and self._peers.get(state.peer_id) is state
            state.alive, state.probed_at = True, time.monotonic()
            state.total_disk, state.used_disk, state.disk_uf = ufs.total_disk, ufs.used_disk, ufs.disk_uf
        callback = self.on_return
        if returned and callback is not None:
            callback(state.peer_id)

    def _probe_all(self, states: Sequence[PeerState]) -> None:
        if len(states) == 1:
            self._probe(states[0])
        elif states:
            list(self._pool.map(self._probe, states))

    def mark_dead(self, peer_id: str) -> None:
        """Record that a call to this peer failed at the network level."""
        with self._lock:
            state = self._peers.get(peer_id)
            if state is not None:
                state.alive = False
                state.probed_at = time.monotonic()

    def live(self, max_age: Optional[float] = None) -> List[PeerState]:
        """Live peers, re-probing those whose last probe is older than ``max_age`` first."""
        age = self.config.probe_interval if max_age is None else max_age
        now = time.monotonic()
        with self._lock:
            peers = list(self._peers.values())
            stale = [p for p in peers if now - p.probed_at > age]
            for state in stale:  # other threads keep using the last verdict meanwhile
                if state.probed_at > -1e17:
                    state.probed_at = now
        self._probe_all(stale)
        with self._lock:
            return [p for p in peers if p.alive and self._peers.get(p.peer_id) is p]

    def all(self) -> List[PeerState]:
        """Every registered peer (live or not), without probing."""
        with self._lock:
            return list(self._peers.values())

    def get(self, peer_id: str) -> Optional[PeerState]:
        """A registered peer by id."""
        with self._lock:
            return self._peers.get(peer_id)

    # --- placement bookkeeping --------------------------------------------------------------
    def holders(self, bucket_id: str, key: str) -> Set[str]:
        """Peers known (to this router) to have committed the key."""
        with self._lock:
            return set(self._holders.get((bucket_id, key), ()))

    def add_holder(self, bucket_id: str, key: str, peer_id: str, size: int = 0) -> None:
        """Record that a peer committed the key (and now uses ``size`` more bytes)."""
        with self._lock:
            holders = self._holders.setdefault((bucket_id, key), set())
            state = self._peers.get(peer_id)
            if peer_id not in holders and state is not None:
                state.placed += 1
                state.used_disk += size
            holders.add(peer_id)

    def drop_holder(self, bucket_id: str, key: str, peer_id: Optional[str] = None) -> None:
        """Forget that a peer (or every peer) holds the key."""
        with self._lock:
            holders = self._holders.get((bucket_id, key))
            if holders is None:
                return
            for pid in list(holders) if peer_id is None else [peer_id]:
                if pid in holders:
                    holders.discard(pid)
                    state = self._peers.get(pid)
                    if state is not None:
                        state.placed = max(0, state.placed - 1)
            if not holders:
                del self._holders[(bucket_id, key)]

    def candidates(self, bucket_id: str, key: str, size: int) -> List[PeerState]:
        """Live peers with room that do not hold the key, least used first."""
        held = self.holders(bucket_id, key)
        live = [p for p in self.live() if p.peer_id not in held and p.available_disk >= size]
        # Disk use in 1% steps first (peers sharing a disk report nearly the same), then the
        # placements this router made, so concurrent uploads spread over the peers.
        return sorted(live, key=lambda p: (round(p.disk_uf, 2), p.assigned, p.peer_id))

    def note_placement(self, peer_id: str) -> None:
        """Count a step-1 placement on a peer (spreads later placements)."""
        with self._lock:
            state = self._peers.get(peer_id)
            if state is not None:
                state.assigned += 1

    def read_order(self, bucket_id: str, key: str) -> List[PeerState]:
        """Live peers to ask for a key: known holders first."""
        held = self.holders(bucket_id, key)
        live = self.live()
        return [p for p in live if p.peer_id in held] + [p for p in live if p.peer_id not in held]

    def map(self, func: Callable[[PeerState], R], peers: Sequence[PeerState]) -> List[R]:
        """Run ``func`` on each peer concurrently; results in ``peers`` order.

        The first peer is served on the calling thread while the pool serves the others: one
        thread hand-off fewer per call, which is most of the cost of asking two peers.
        """
        if len(peers) <= 1:
            return [func(p) for p in peers]
        others = [self._pool.submit(func, p) for p in peers[1:]]
        try:
            first = func(peers[0])
        finally:
            results = [f.result() for f in others]
        return [first, *results]
