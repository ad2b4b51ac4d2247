"""The put pipeline: check, plan chunks, hash, upload each chunk (step 1 + step 2), undo on failure."""

from __future__ import annotations

import enum
import functools
import hashlib
import time
import uuid
from typing import Dict, List, Mapping, Optional, Tuple, Union

import attrs

from . import _protocol as P
from . import deadline
from ._core import PASSTHROUGH, ClientCore
from ._diagnose import explain, puzzling
from ._existing import Existing, Plan, delete_keys, look, plan_put, update_chunk_tags
from ._undo import PutTracker, delete_own_chunks, undo_interrupted_put
from .config import check_chunk_size
from .errors import (
    AlreadyExistsError,
    BadRequestError,
    IntegrityError,
    InvalidArgumentError,
    MaxAvailabilityReachedError,
    MictlanXError,
    NotFoundError,
    PreconditionFailedError,
    ServerError,
    TransferError,
)
from .results import PutResult
from .router import Router
from .transfer.chunking import ChunkSpan
from .transfer.codec import IDENTITY, ChunkCodec, ChunkContext
from .transfer.manager import CancelToken
from .transfer.progress import Progress, ProgressArg
from .transfer.sources import Source, checksums
from .units import SizeLike

__all__ = ["Uploader", "check_user_tags", "check_min_replicas"]


def check_min_replicas(min_replicas: Optional[int]) -> None:
    """``min_replicas`` is None or a positive integer."""
    if min_replicas is not None and (isinstance(min_replicas, bool) or not isinstance(min_replicas, int)
                                     or min_replicas < 1):
        raise InvalidArgumentError(f"min_replicas must be a positive integer or None, got {min_replicas!r}")


def check_user_tags(tags: Optional[Mapping[str, str]]) -> Dict[str, str]:
    """``P.check_tags``, and ``updated_at`` (which readers sort by) must be an integer string."""
    user_tags = P.check_tags(tags)
    updated_at = user_tags.get(P.TAG_UPDATED_AT)
    if updated_at is not None and not updated_at.isdigit():
        raise InvalidArgumentError(f"tag 'updated_at' must be an integer string, got {updated_at!r}")
    return user_tags


class _NotNew(Exception):
    """Step 1 of a put that did not look first found the key stored; nothing was written (internal)."""


class _Guard(enum.Enum):
    """How step 1 of a chunk is guarded: not (``NONE``), or with ``If-None-Match: *`` after the
    put looked (``LOOKED``: a 412 means a racing writer) or instead of looking (``NOT_LOOKED``)."""

    NONE = "none"
    LOOKED = "looked"
    NOT_LOOKED = "not_looked"


@attrs.define(kw_only=True)
class _Job:
    """One put, prepared: what to store and how (``Uploader.put_source`` builds it, ``_write`` runs it)."""

    event: str
    bucket_id: str
    key: str
    source: Source
    spans: List[ChunkSpan]
    user_tags: Dict[str, str]
    base_tags: Dict[str, str]
    rf: int
    content_type: str
    progress: ProgressArg
    parallel: bool
    overwrite: bool
    min_replicas: Optional[int]
    started: float
    full_checksum: str = ""
    chunk_sums: List[str] = attrs.field(factory=list)
    version: str = attrs.field(factory=lambda: uuid.uuid4().hex)


class Uploader:
    """Stores objects as chunked balls in the reference layout, chunk 0 last.

    With an encrypting ``codec`` each chunk is encoded (AES-256-GCM) after it is read and before
    it is hashed and sent: chunk checksums are over the stored bytes, and no digest of the
    plaintext is stored (no ``full_checksum`` tag; ``encryption`` and a random
    ``encryption_version`` tags instead, see transfer/codec.py).

    Thread safety: stateless beyond its :class:`ClientCore` and codec; any number of puts may run
    at once.
    """

    def __init__(self, core: ClientCore, codec: ChunkCodec = IDENTITY) -> None:
        self._core = core
        self._codec = codec

    @staticmethod
    def check_put(bucket_id: str, key: str, tags: Optional[Mapping[str, str]],
                  rf: int) -> Tuple[str, str, Dict[str, str]]:
        """Validate a put's ids, tags and replication factor; returns the user tags as a dict."""
        P.check_id(bucket_id, "bucket_id")
        P.check_id(key, "key")
        user_tags = check_user_tags(tags)
        if isinstance(rf, bool) or not isinstance(rf, int) or rf < 1:
            raise InvalidArgumentError(f"rf must be a positive integer, got {rf!r}")
        return bucket_id, key, user_tags

    def put_source(self, event: str, bucket_id: str, key: str, source: Source, user_tags: Dict[str, str],
                   chunk_size: Optional[SizeLike], rf: int, content_type: str, progress: ProgressArg,
                   parallel: bool, overwrite: bool = False, min_replicas: Optional[int] = None) -> PutResult:
        """Store ``source`` as ``bucket_id``/``key``; on failure remove the chunks this call stored.

        The key is looked up first (one ``/chunks`` request) and the overwrite rule of
        :mod:`mictlanx_sync._existing` applied before any byte is written. With ``overwrite`` the
        old object is deleted (chunk 0 first) before the new one is written (chunk 0 last): from
        the first delete until the new chunk 0 is stored the key reads as absent, and a put that
        fails inside that window leaves it absent, never partial.

        A one-chunk object skips the lookup where every router has shown that its step 1 checks
        ``If-None-Match: *`` (the local VSS): step 1 itself then refuses a stored key (412),
        before any byte, and only then is the key looked up and the rule applied. A real
        MictlanX router ignores the header (PROTOCOL §11.2): there every put looks first.
        """
        core = self._core
        size_per_chunk = check_chunk_size(chunk_size) if chunk_size is not None \
            else core.config.transfer.chunk_size
        P.check_content_type(content_type)
        check_min_replicas(min_replicas)
        with core.operation(event, bucket_id, key) as record:
            started = time.perf_counter()
            spans = source.spans(size_per_chunk)
            last_key = P.chunk_key(key, len(spans) - 1)
            if len(last_key) > P.MAX_ID_LENGTH:
                raise InvalidArgumentError(
                    f"key is too long for {len(spans)} chunks: chunk keys such as {last_key[-20:]!r} would be "
                    f"{len(last_key)} characters, more than {P.MAX_ID_LENGTH}", bucket_id=bucket_id, key=key)
            job = _Job(event=event, bucket_id=bucket_id, key=key, source=source, spans=spans, user_tags=user_tags,
                       rf=rf, content_type=content_type, progress=progress, parallel=parallel,
                       overwrite=overwrite, min_replicas=min_replicas, started=started,
                       base_tags={P.TAG_UPDATED_AT: str(time.time_ns()), **user_tags,
                                  P.TAG_NUM_CHUNKS: str(len(spans)), P.TAG_GROUP_ID: key})
            if self._codec.name:  # no plaintext digest leaves the process: chunk sums come after encoding
                job.base_tags.update({P.TAG_ENCRYPTION: self._codec.name, P.TAG_ENCRYPTION_VERSION: job.version})
            else:
                job.full_checksum, job.chunk_sums = checksums(source, spans, core.manager(parallel))
                job.base_tags[P.TAG_FULL_CHECKSUM] = job.full_checksum
            look_first = not (len(spans) == 1 and core.routers_check_new_keys())
            try:
                result = self._write(job, look_first)
            except _NotNew:  # step 1 found the key stored: now look, and apply the rule
                result = self._write(job, True)
            record["bytes"] = source.size
            return result

    def _write(self, job: _Job, look_first: bool) -> PutResult:
        """Apply the overwrite rule (after a lookup, unless ``look_first`` is False) and store the
        chunks, chunk 0 last; undo on failure.

        Raises:
            _NotNew: without ``look_first``, step 1 of the (only) chunk found the key stored;
                nothing was written.
        """
        core, codec = self._core, self._codec
        bucket_id, key, spans, source = job.bucket_id, job.key, job.spans, job.source
        chunk_sums, full_checksum, base_tags, event = job.chunk_sums, job.full_checksum, job.base_tags, job.event
        if look_first:
            existing = look(core, bucket_id, key)
            # An encrypted put cannot be compared with what is stored (fresh nonces): never "the same".
            plan = plan_put(existing, bucket_id, key, full_checksum, chunk_sums if not codec.name else None, spans,
                            job.user_tags, job.overwrite, job.content_type)
            if plan.kind == "same":
                return self._already_there(bucket_id, key, existing, plan, chunk_sums, source.size, job.started)
        else:
            plan = Plan(kind="write")
        core.cache.invalidate((bucket_id, key))
        if plan.kind == "replace":
            core.log.warning("event=overwrite bucket_id=%s key=%s deleting=%d msg=the key reads as absent "
                             "until the new chunk 0 is stored", bucket_id, key, len(plan.delete))
            delete_keys(core, bucket_id, plan.delete)
        meter = Progress(source.size, job.progress, description=f"put {key}")
        replicas: Dict[int, Tuple[str, ...]] = {}
        counts: Dict[int, int] = dict(plan.present)
        tracker = PutTracker()  # chunk keys this put stored (removed again if it fails)
        todo = [i for i in range(len(spans)) if i not in plan.present]
        sums: Dict[str, str] = {}  # chunk key -> this put's checksum: cleanup deletes only those
        # Chunk 0 is stored only where the key is free (If-None-Match: *): it is absent in every plan
        # that writes it, and a router that checks the header tells the client so (routers_check_new_keys).
        guard = _Guard.LOOKED if look_first else _Guard.NOT_LOOKED

        def upload(index: int, cancel: CancelToken) -> Tuple[str, ...]:
            span = spans[index]
            data = source.read(span.offset, span.size)
            if codec.name:
                data = codec.encode(data, ChunkContext(key=key, version=job.version, index=index, count=len(spans)))
                checksum = hashlib.sha256(data).hexdigest()
            else:
                checksum = chunk_sums[index]
            chunk_tags = {**base_tags, P.TAG_INDEX: str(index), P.TAG_CHUNK_SIZE: str(len(data))}
            chunk_key = P.chunk_key(key, index)
            sums[chunk_key] = checksum  # dict assignment is atomic
            with tracker.chunk(chunk_key) as stored:
                placed, new = self.put_chunk(bucket_id, chunk_key, key, data, checksum, chunk_tags, job.rf,
                                             job.content_type, cancel, guard if index == 0 else _Guard.NONE)
                stored(new)
            if job.min_replicas is not None and len(placed) < job.min_replicas:
                raise ServerError(f"chunk {index} ({chunk_key}) got {len(placed)} replica(s) "
                                  f"({', '.join(placed) or 'none'}), fewer than min_replicas={job.min_replicas}",
                                  bucket_id=bucket_id, key=chunk_key)
            meter.add(span.size)
            return placed

        def collect(index: int, placed: Tuple[str, ...]) -> None:
            replicas[index] = placed
            counts[index] = len(placed)

        # Chunk 0 goes last: readers treat an object without chunk 0 as absent, so a put that
        # fails half-way never shows a torn object.
        order = [i for i in todo if i != 0]
        what = f"{event} of {len(spans)} chunks"
        try:
            try:
                core.manager(job.parallel).run(len(order), lambda i, c: upload(order[i], c),
                                               lambda i, placed: collect(order[i], placed),
                                               what=what, bucket_id=bucket_id, key=key)
            except TransferError as exc:  # the manager counts tasks; name the chunks
                raise TransferError(exc.message, failed_indices=[order[i] for i in exc.failed_indices],
                                    cause=exc.cause, bucket_id=bucket_id, key=key) from exc.cause
            try:
                collect(0, upload(0, CancelToken()))
            except (*PASSTHROUGH, BadRequestError):  # the caller's to act on, as themselves
                raise
            except MictlanXError as exc:  # like the other chunks' failures: names the chunk
                raise TransferError(f"{what} failed", failed_indices=[0], cause=exc,
                                    bucket_id=bucket_id, key=key) from exc
        except _NotNew:  # nothing was written: the caller looks and applies the rule
            raise
        except AlreadyExistsError as exc:
            self.remove_chunks(bucket_id, key, [(k, sums[k]) for k in tracker.created], exc)
            if isinstance(exc, MaxAvailabilityReachedError):
                raise
            raise AlreadyExistsError(f"{bucket_id}@{key} already exists with different content; "
                                     f"delete it first", bucket_id=bucket_id, key=key,
                                     status=exc.status, detail=exc.detail) from exc
        except MictlanXError as exc:
            self.remove_chunks(bucket_id, key, [(k, sums[k]) for k in tracker.created], exc)
            if puzzling(exc):  # say when peers are down, or the URI is not a router's (1 request)
                explain(core, exc)
            raise
        except BaseException as exc:  # Ctrl-C, SystemExit...: no orphan chunks either
            stamp = None if P.TAG_UPDATED_AT in job.user_tags else base_tags[P.TAG_UPDATED_AT]
            undo_interrupted_put(core, bucket_id, key, tracker, sums, stamp, exc)
            raise
        finally:
            meter.close()
        chunk_replicas = tuple(counts[i] for i in range(len(spans)))
        short = [i for i, count in enumerate(chunk_replicas) if count < job.rf]
        if short:
            core.log.warning("event=%s_under_replicated bucket_id=%s key=%s rf=%d chunks=%s replicas=%s "
                             "msg=fewer replicas than asked", event, bucket_id, key, job.rf, short[:20],
                             [chunk_replicas[i] for i in short[:20]])
        peers = tuple(sorted({peer for placed in replicas.values() for peer in placed}))
        return PutResult(bucket_id=bucket_id, key=key, size=source.size, checksum=full_checksum,
                         num_chunks=len(spans), replicas=peers, seconds=time.perf_counter() - job.started,
                         chunk_replicas=chunk_replicas)

    def _already_there(self, bucket_id: str, key: str, existing: Existing, plan: Plan, chunk_sums: List[str],
                       size: int, started: float) -> PutResult:
        """The same content is stored: add nothing; update the tags that differ (or fail saying so)."""
        layout = existing.layout
        assert layout is not None
        updated = False
        if plan.tags:
            update_chunk_tags(self._core, bucket_id, key, layout.chunks, plan.tags)
            self._core.cache.invalidate((bucket_id, key))
            updated = True
        self._core.log.info("event=already_stored bucket_id=%s key=%s tags_updated=%s msg=same content; "
                            "nothing written", bucket_id, key, updated)
        counts = tuple(existing.replicas_of(meta.key, chunk_sums[i]) for i, meta in enumerate(layout.chunks))
        return PutResult(bucket_id=bucket_id, key=key, size=size, checksum=layout.full_checksum,
                         num_chunks=len(layout.chunks), replicas=(), seconds=time.perf_counter() - started,
                         chunk_replicas=counts, already_stored=True, tags_updated=updated)

    def remove_chunks(self, bucket_id: str, ball_id: str, chunks: List[Tuple[str, str]],
                      cause: MictlanXError) -> None:
        """Undo a failed put: delete the chunks ``(chunk key, checksum)`` it stored, through every
        router, each only while it still holds this put's checksum (:func:`~mictlanx_sync._undo.delete_own_chunks`). A
        failure here is attached to ``cause`` (as a note) rather than hiding it. The cleanup has
        its own deadline (``timeouts.metadata``): a put that failed at its deadline still cleans up."""
        if not chunks:
            return
        with deadline.fresh(self._core.config.timeouts.metadata):
            try:
                self._core.on_every_router(functools.partial(delete_own_chunks, bucket_id=bucket_id,
                                                             ball_id=ball_id, chunks=list(chunks)))
            except MictlanXError as exc:
                if hasattr(cause, "add_note"):  # Python 3.11+
                    cause.add_note(f"cleanup of {bucket_id}@{ball_id} failed: {exc}")

    def put_chunk(self, bucket_id: str, chunk_key: str, ball_id: str, data: Union[bytes, bytearray, memoryview],
                  checksum: str, tags: Dict[str, str], rf: int, content_type: str,
                  cancel: CancelToken, guard: _Guard = _Guard.NONE) -> Tuple[Tuple[str, ...], bool]:
        """Step 1 + step 2 of one chunk (whose SHA-256 is ``checksum``) on one router, retried
        together with failover. With a ``guard`` step 1 carries ``If-None-Match: *`` and the
        client learns whether the router checks it (:meth:`ClientCore.note_new_key_check`).

        Returns:
            The replicas, and whether this call stored the chunk (False: it was already there).

        Raises:
            _NotNew: with ``_Guard.NOT_LOOKED``, the key is stored (412, or found by the lookup
                made when the router did not check); no byte was sent.
        """
        core = self._core

        def attempt(router: Router) -> Tuple[Tuple[str, ...], bool]:
            try:
                reply = router.put_metadata(bucket_id, chunk_key, len(data), checksum, core.client_id,
                                            content_type, ball_id, tags, replication_factor=rf,
                                            if_none_match=guard is not _Guard.NONE)
            except PreconditionFailedError:
                if guard is _Guard.NOT_LOOKED:
                    raise _NotNew() from None
                # Stored since this put looked (a racing writer): as for a 404/666 below.
                return self._already_stored(router, bucket_id, chunk_key, checksum, tags), False
            except MaxAvailabilityReachedError:
                return self._already_stored(router, bucket_id, chunk_key, checksum, tags), False
            if guard is not _Guard.NONE:
                core.note_new_key_check(router, reply.checked_if_none_match)
                # A router that stopped checking (replaced by one that does not): the lookup the
                # put skipped, made now, before any byte. The task opened expires unused.
                if guard is _Guard.NOT_LOOKED and not reply.checked_if_none_match \
                        and look(core, bucket_id, ball_id).listed:
                    raise _NotNew()
            if not reply.tasks_ids:
                raise ServerError(f"router {router.base_url} answered step 1 without a task id",
                                  bucket_id=bucket_id, key=chunk_key, status=500)
            stored = router.put_chunked(reply.tasks_ids[0], data, bucket_id=bucket_id, key=chunk_key)
            # A real router answers 200 with no peer when every replica refused or failed
            # (PROTOCOL §11.1): a chunk is stored only when the reply names a peer.
            if not stored.peer_ids:
                raise ServerError(f"router {router.base_url} stored no replica of {chunk_key}: step 2 answered "
                                  f"peer_ids=[] for the {len(data)} bytes sent (every replica refused or failed; "
                                  f"step 1 had placed {list(reply.replicas)})",
                                  bucket_id=bucket_id, key=chunk_key, detail=stored.to_json())
            if stored.size != len(data):
                raise IntegrityError(f"router stored {stored.size} bytes, sent {len(data)}",
                                     bucket_id=bucket_id, key=chunk_key)
            return stored.peer_ids, True

        return core.with_router(attempt, cancel=cancel, data=True)

    @staticmethod
    def _already_stored(router: Router, bucket_id: str, chunk_key: str, checksum: str,
                        tags: Mapping[str, str]) -> Tuple[str, ...]:
        """After a 404/666 on step 1: fine if the stored chunk is this very chunk of this very
        object (a retried chunk, or a repeated put of the same content), a conflict otherwise."""
        try:
            existing = router.get_metadata(bucket_id, chunk_key)
        except NotFoundError as exc:
            raise MaxAvailabilityReachedError(
                f"no peer can take {bucket_id}@{chunk_key} (all full or unavailable)",
                bucket_id=bucket_id, key=chunk_key) from exc
        if not existing.metadata.holds_chunk(checksum, tags):
            raise AlreadyExistsError(
                f"{bucket_id}@{chunk_key} already exists with different content; delete it first",
                bucket_id=bucket_id, key=chunk_key)
        return (existing.peer_id,)
