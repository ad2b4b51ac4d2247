"""Repair of under-replicated balls (router side; ``mictlanx-sync vss repair``).

The router records each ball's replication factor in the reserved tag ``_protocol.TAG_RF`` at
step 1, so it travels with the ball to every peer and survives router restarts. A repair pass:

1. lists every ball of every live peer (``GET /api/v4/stats`` in pages);
2. for each ball with fewer live replicas than its ``rf`` (and one agreed checksum), picks live
   peers that lack it and have room (the placement order of :meth:`PeerRegistry.candidates`);
3. copies it from a healthy replica: step 1 + step 2 on the target through the SDK's ``Peer``,
   the bytes streamed through a SHA-256 that must match the ball's checksum before the last
   piece is sent (a mismatch aborts the upload, and the next replica is tried); the target peer
   verifies the checksum again before it commits, and its metadata is read back afterwards;
4. checks that the source still holds the same version; if the ball was deleted or replaced
   meanwhile, the copy is deleted again (a repair never resurrects a deleted ball).

Passes run on demand (``POST /api/v4/admin/repair``), every ``interval`` seconds, and soon after
a peer comes back (the registry reports a dead-to-live transition). One pass runs at a time.
Balls without the tag (written before this feature or straight to a peer), disabled balls, balls
whose replicas disagree and balls being uploaded right now are left alone.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import attrs

from .. import _protocol as P
from ..errors import AlreadyExistsError, IntegrityError, MictlanXError, NotFoundError
from ..models import Metadata
from .registry import PeerRegistry, PeerState

__all__ = ["RepairConfig", "RepairAction", "RepairReport", "Repairer", "rf_of"]

_LOG = logging.getLogger("mictlanx_sync.vss.repair")
PIECE = 1 << 20


def rf_of(meta: Metadata) -> Optional[int]:
    """The replication factor recorded in a ball's tags, or None when absent or malformed."""
    text = meta.tags.get(P.TAG_RF)
    if text is None or not text.isdigit():
        return None
    value = int(text)
    return value if value >= 1 else None


@attrs.frozen(kw_only=True)
class RepairConfig:
    """When repair passes run.

    Attributes:
        interval: seconds between periodic passes (0: no periodic pass; on demand and on a
            peer's return only).
        on_peer_return: run a pass soon after a peer comes back.
        watch_interval: seconds between liveness checks that notice a returning peer.
        page: balls asked per listing request.
    """

    interval: float = 60.0
    on_peer_return: bool = True
    watch_interval: float = 2.0
    page: int = 1000


@attrs.frozen(kw_only=True)
class RepairAction:
    """One copy made (or attempted) by a pass."""

    bucket_id: str
    key: str
    size: int
    source: str
    target: str
    ok: bool
    error: str = ""

    def to_json(self) -> Dict[str, Any]:
        """The JSON form."""
        return attrs.asdict(self)


@attrs.frozen(kw_only=True)
class RepairReport:
    """What one pass saw and did.

    Attributes:
        peers: live peers listed.
        balls: distinct balls seen.
        under_replicated: balls with fewer live replicas than their rf.
        actions: copies made or attempted (``ok`` tells which).
        unrepairable: under-replicated balls with no live peer to copy to.
        skipped: balls left alone (diverging replicas, disabled, being uploaded).
        seconds: how long the pass took.
    """

    peers: Tuple[str, ...]
    balls: int
    under_replicated: int
    actions: Tuple[RepairAction, ...]
    unrepairable: int
    skipped: int
    seconds: float

    @property
    def repaired(self) -> int:
        """Copies that succeeded."""
        return sum(1 for a in self.actions if a.ok)

    @property
    def failed(self) -> int:
        """Copies that failed."""
        return sum(1 for a in self.actions if not a.ok)

    def to_json(self) -> Dict[str, Any]:
        """The JSON form (the admin endpoint's reply)."""
        return {"peers": list(self.peers), "balls": self.balls, "under_replicated": self.under_replicated,
                "repaired": self.repaired, "failed": self.failed, "unrepairable": self.unrepairable,
                "skipped": self.skipped, "seconds": round(self.seconds, 6),
                "actions": [a.to_json() for a in self.actions]}


class _Aborted(Exception):
    """The source's bytes did not match the ball's checksum."""


def _verified(pieces: Iterator[bytes], meta: Metadata) -> Iterator[bytes]:
    """``pieces``, holding the last one back until the SHA-256 of all of them matches."""
    digest = hashlib.sha256()
    held: Optional[bytes] = None
    size = 0
    for piece in pieces:
        if not piece:
            continue
        digest.update(piece)
        size += len(piece)
        if held is not None:
            yield held
        held = piece
    if size != meta.size or digest.hexdigest() != meta.checksum.lower():
        raise _Aborted(f"source bytes do not match the checksum of {P.combined_key(meta.bucket_id, meta.key)}")
    if held is not None:
        yield held


class Repairer:
    """Finds balls with fewer live replicas than their rf and copies them to live peers.

    Thread safety: :meth:`run_once` may be called from any thread; passes are serialized.

    Args:
        registry: the router's peers.
        config: when passes run.
        busy: tells whether a key is being uploaded through this router right now.
    """

    def __init__(self, registry: PeerRegistry, config: RepairConfig,
                 busy: Callable[[str, str], bool] = lambda bucket_id, key: False) -> None:
        self.registry = registry
        self.config = config
        self._busy = busy
        self._pass_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.last_report: Optional[RepairReport] = None

    # --- background -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the background thread (periodic passes and passes on a peer's return)."""
        if self.config.interval <= 0 and not self.config.on_peer_return:
            return
        self._thread = threading.Thread(target=self._loop, name="vss-repair", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the background thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def peer_returned(self, peer_id: str) -> None:
        """A peer came back: run a pass soon (called by the registry)."""
        if self.config.on_peer_return:
            _LOG.info("peer %s is back; a repair pass follows", peer_id)
            self._wake.set()

    def _loop(self) -> None:
        interval = self.config.interval
        next_pass = time.monotonic() + interval if interval > 0 else float("inf")
        while not self._stop.is_set():
            timeout = max(0.0, min(self.config.watch_interval, next_pass - time.monotonic()))
            woken = self._wake.wait(timeout)
            if self._stop.is_set():
                return
            if self.config.on_peer_return:
                self.registry.live()  # re-probes stale peers; a returning one calls peer_returned
                woken = woken or self._wake.is_set()
            if woken or time.monotonic() >= next_pass:
                self._wake.clear()
                try:
                    self.run_once()
                except Exception:  # noqa: BLE001 - the loop must survive any pass
                    _LOG.exception("repair pass failed")
                if interval > 0:
                    next_pass = time.monotonic() + interval

    # --- one pass ---------------------------------------------------------------------------
    def run_once(self) -> RepairReport:
        """Run one pass now (after the running one, if any) and return its report."""
        with self._pass_lock:
            report = self._pass()
        self.last_report = report
        if report.actions or report.unrepairable:
            # Unrepairable balls (no live peer to copy to) are reported each pass: not a warning.
            _LOG.log(logging.WARNING if report.failed else logging.INFO,
                     "repair: %d repaired, %d failed, %d unrepairable of %d under-replicated",
                     report.repaired, report.failed, report.unrepairable, report.under_replicated)
        return report

    def _list(self, peer: PeerState) -> Optional[List[Metadata]]:
        balls: List[Metadata] = []
        start, page = 0, max(1, self.config.page)
        try:
            while True:
                got = peer.client.get_stats(start, start + page).balls
                balls.extend(got)
                if len(got) < page:
                    return balls
                start += page
        except MictlanXError as exc:
            _LOG.info("repair: cannot list %s: %s", peer.peer_id, exc)
            return None

    def _pass(self) -> RepairReport:
        started = time.monotonic()
        live = self.registry.live(max_age=0.0)
        listed: List[PeerState] = []
        where: Dict[Tuple[str, str], Dict[str, Metadata]] = {}
        for peer, balls in zip(live, self.registry.map(self._list, live)):
            if balls is None:
                continue
            listed.append(peer)
            for meta in balls:
                where.setdefault((meta.bucket_id, meta.key), {})[peer.peer_id] = meta
        actions: List[RepairAction] = []
        under = unrepairable = skipped = 0
        for (bucket_id, key), holders in where.items():
            rfs = [rf for rf in (rf_of(m) for m in holders.values()) if rf is not None]
            if not rfs or len(holders) >= max(rfs):
                continue
            under += 1
            metas = list(holders.values())
            if len({m.checksum.lower() for m in metas}) != 1 or any(m.is_disabled for m in metas) \
                    or self._busy(bucket_id, key):
                skipped += 1
                continue
            meta = metas[0]
            need = max(rfs) - len(holders)
            for peer in listed:  # the listing is the truth: forget stale holder records
                if peer.peer_id not in holders:
                    self.registry.drop_holder(bucket_id, key, peer.peer_id)
            targets = [p for p in self.registry.candidates(bucket_id, key, meta.size)
                       if p.peer_id not in holders and p in listed][:need]
            if not targets:
                unrepairable += 1
                continue
            sources = [p for p in listed if p.peer_id in holders]
            for target in targets:
                actions.append(self._copy(meta, sources, target))
        return RepairReport(peers=tuple(p.peer_id for p in listed), balls=len(where), under_replicated=under,
                            actions=tuple(actions), unrepairable=unrepairable, skipped=skipped,
                            seconds=time.monotonic() - started)

    def _copy(self, meta: Metadata, sources: List[PeerState], target: PeerState) -> RepairAction:
        errors: List[str] = []
        for source in sources:
            try:
                done = self._copy_from(meta, source, target)
            except (MictlanXError, _Aborted) as exc:
                errors.append(f"from {source.peer_id}: {exc}")
                continue
            return RepairAction(bucket_id=meta.bucket_id, key=meta.key, size=meta.size, source=source.peer_id,
                                target=target.peer_id, ok=done, error="" if done else "deleted meanwhile")
        return RepairAction(bucket_id=meta.bucket_id, key=meta.key, size=meta.size,
                            source=sources[0].peer_id if sources else "", target=target.peer_id, ok=False,
                            error="; ".join(errors)[:1000])

    def _copy_from(self, meta: Metadata, source: PeerState, target: PeerState) -> bool:
        """Copy ``meta``'s ball from ``source`` to ``target``; False when it vanished meanwhile."""
        bucket_id, key = meta.bucket_id, meta.key
        task_id = uuid.uuid4().hex
        try:
            target.client.put_metadata_model(meta, task_id=task_id)
        except AlreadyExistsError:
            pass  # committed there meanwhile (a racing upload): verified below
        else:
            stream = source.client.get_streaming(bucket_id, key, chunk_size=PIECE)
            try:  # _Aborted from _verified propagates as is (the upload is cut short, nothing stored)
                target.client.put_chunked(task_id, _verified(iter(stream), meta), size=meta.size,
                                          bucket_id=bucket_id, key=key)
            finally:
                stream.close()
        copied = target.client.get_metadata(bucket_id, key).metadata
        if copied.checksum.lower() != meta.checksum.lower() or copied.size != meta.size:
            raise IntegrityError(f"{target.peer_id} holds another version of {P.combined_key(bucket_id, key)}",
                                 bucket_id=bucket_id, key=key)
        try:
            still = source.client.get_metadata(bucket_id, key).metadata
        except NotFoundError:
            still = None
        if still is None or still.checksum.lower() != meta.checksum.lower():
            # Deleted (or replaced) while we copied: do not resurrect it.
            try:
                target.client.delete(bucket_id, key)
            except MictlanXError as exc:
                _LOG.warning("repair: could not remove the copy of a deleted ball from %s: %s",
                             target.peer_id, exc)
            return False
        self.registry.add_holder(bucket_id, key, target.peer_id, meta.size)
        return True
