"""The machinery a Client's operations share: routers with failover, the pool, the cache, the log.

``Client`` is the public facade; the put pipeline (``_put``), the get pipeline (``_get``) and the
listings (``listing``) each receive one :class:`ClientCore` and use only what it offers here.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, TypeVar

from . import _fork, deadline
from .balancer import RoundRobinBalancer
from .cache import Cache
from .config import ClientConfig
from .errors import (
    AlreadyExistsError,
    ForbiddenError,
    IntegrityError,
    InvalidArgumentError,
    MictlanXError,
    NetworkError,
    NotFoundError,
    RequestTimeoutError,
    ServerError,
)
from .log import reaches_a_handler
from .router import Router
from .transfer.manager import CancelToken, TransferManager

__all__ = ["ClientCore", "PASSTHROUGH"]

R = TypeVar("R")
# Errors a transfer hands back as themselves: the caller acts on them, not on "a chunk failed".
PASSTHROUGH = (IntegrityError, NotFoundError, ForbiddenError, AlreadyExistsError, InvalidArgumentError)


class ClientCore:
    """Routers with failover and backoff, the worker pool, the object cache and the operation log.

    Thread safety: shared by every thread using the Client; the balancer, cache and pool lock
    themselves, and the rest is read-only after construction.
    """

    def __init__(self, *, config: ClientConfig, client_id: str, routers: List[Router],
                 cache: Cache, log: logging.Logger) -> None:
        self.config = config
        self.client_id = client_id
        self.routers = routers
        self.balancer: RoundRobinBalancer[Router] = RoundRobinBalancer(routers, cooldown=config.router_cooldown)
        self.cache = cache
        self.log = log
        self.executor = self._new_executor()
        # Single requests sent ahead of need (a get's chunk 0 beside its listing): leaf tasks that
        # never wait on anything, so any thread (a worker of ``executor`` too) may wait on them.
        self.lookahead = self._new_lookahead()
        self.closed = False
        # Base URLs of the routers whose step 1 answered that it checked ``If-None-Match: *``
        # (the local VSS): there a new one-chunk object needs no lookup before it is written
        # (mictlanx_sync/_put.py). Learned from replies, forgotten when one does not say so.
        self._checks_new_keys: Set[str] = set()
        _fork.register(self, ClientCore._after_fork)

    def routers_check_new_keys(self) -> bool:
        """Every router has shown that its step 1 refuses a stored key on ``If-None-Match: *``."""
        return all(router.base_url in self._checks_new_keys for router in self.routers)

    def note_new_key_check(self, router: Router, checked: bool) -> None:
        """Record whether ``router``'s step 1 checked ``If-None-Match: *`` (set operations are
        atomic: no lock)."""
        if checked:
            self._checks_new_keys.add(router.base_url)
        else:
            self._checks_new_keys.discard(router.base_url)

    def _new_executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self.config.transfer.max_workers, thread_name_prefix="mictlanx")

    def _new_lookahead(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self.config.transfer.max_workers,
                                  thread_name_prefix="mictlanx-lookahead")

    def _after_fork(self) -> None:
        """In a forked child: a new pool (the inherited one has no threads but counts them idle,
        so work submitted to it would wait forever). The routers, balancer and cache rebuild
        their own sessions and locks."""
        if not self.closed:
            self.executor = self._new_executor()
            self.lookahead = self._new_lookahead()

    def check_open(self) -> None:
        """Raise ``InvalidArgumentError`` once the client is closed."""
        if self.closed:
            raise InvalidArgumentError("this Client is closed")

    def close(self) -> None:
        """Stop the pool and close every router session (the caller makes it idempotent)."""
        self.closed = True
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.lookahead.shutdown(wait=True, cancel_futures=True)
        for router in self.routers:
            router.close()

    @contextlib.contextmanager
    def operation(self, event: str, bucket_id: str, key: str) -> Iterator[Dict[str, Any]]:
        """Log one structured line per operation: event, bucket, key, bytes, seconds, ok; the
        operation runs under the ``timeouts.operation`` deadline, when there is one."""
        self.check_open()
        record: Dict[str, Any] = {"bytes": 0}
        started = time.perf_counter()
        ok = False
        try:
            with deadline.within(self.config.timeouts.operation):
                yield record
            ok = True
        finally:
            seconds = time.perf_counter() - started
            level = logging.INFO if ok else logging.WARNING
            if reaches_a_handler(self.log, level):  # else logging would build a record for no one
                self.log.log(level, "event=%s client_id=%s bucket_id=%s key=%s bytes=%d seconds=%.4f ok=%s",
                             event, self.client_id, bucket_id, key, record["bytes"], seconds, ok)

    def with_router(self, action: Callable[[Router], R], *, cancel: Optional[CancelToken] = None,
                    retry_integrity: bool = False, attempts: Optional[int] = None,
                    data: bool = False, retry_server_errors: bool = True) -> R:
        """Run ``action`` on a router with failover and backoff.

        A router that fails to connect is marked down and the next one is tried at once; server
        errors (5xx), resets and (for reads) integrity failures are retried with backoff up to
        ``attempts`` (default ``retry.chunk_attempts``) rounds. Other errors propagate unchanged.
        A metadata call (not ``data``: moving a chunk) runs under the ``timeouts.metadata``
        deadline, retries included; every call stops at the deadline in force
        (``RequestTimeoutError``).
        Without ``retry_server_errors`` a 5xx is raised at once: a non-idempotent request the
        server may have half applied (a metadata update) is never repeated blindly.
        """
        self.check_open()
        with deadline.within(None if data else self.config.timeouts.metadata):
            return self._with_router(action, cancel, retry_integrity, attempts, retry_server_errors)

    def _with_router(self, action: Callable[[Router], R], cancel: Optional[CancelToken],
                     retry_integrity: bool, attempts: Optional[int], retry_server_errors: bool) -> R:
        retry = self.config.retry
        rounds = attempts or retry.chunk_attempts
        last: Optional[MictlanXError] = None
        failed_routers: List[str] = []
        for attempt in range(1, rounds + 1):
            failed_routers = []
            for router in self.balancer.candidates():
                if cancel is not None and cancel.is_set():
                    raise last or NetworkError("transfer cancelled")
                left = deadline.remaining()
                if left is not None and left <= 0:
                    raise RequestTimeoutError(f"gave up at the deadline; last error: "
                                              f"{last.message if last else 'none'}",
                                              bucket_id=last.bucket_id if last else None,
                                              key=last.key if last else None) from last
                try:
                    result = action(router)
                    self.balancer.mark_up(router)
                    return result
                except NetworkError as exc:
                    self.balancer.mark_down(router)
                    failed_routers.append(router.base_url)
                    last = exc
                    self.log.debug("router %s failed, failing over to the next one: %s", router.base_url,
                                   exc.message)
                except IntegrityError as exc:
                    if not retry_integrity:
                        raise
                    last = exc
                    break
                except (NotFoundError, ForbiddenError, AlreadyExistsError):
                    raise
                except ServerError as exc:
                    if (exc.status is not None and exc.status < 500) or not retry_server_errors:
                        raise
                    last = exc
                    break
            if attempt < rounds:
                delay = deadline.clamp(retry.backoff(attempt, random.random()))
                self.log.debug("attempt %d of %d failed (%s); retrying in %.2f s", attempt, rounds,
                               last.message if last is not None else "cancelled", delay)
                if cancel is not None:
                    if cancel.wait(delay):
                        break
                else:
                    time.sleep(delay)
        if isinstance(last, NetworkError) and failed_routers and len(failed_routers) == len(self.routers):
            raise type(last)(f"all routers failed ({', '.join(failed_routers)}); last error: {last.message}",
                             bucket_id=last.bucket_id, key=last.key) from last
        assert last is not None
        raise last

    def on_every_router(self, action: Callable[[Router], R]) -> List[R]:
        """``action`` through every router, for writes each router must see (deletes).

        A router that answers ``NotFoundError`` counts as done; one that cannot be reached is
        marked down and skipped, and that is an error only when no router could be reached.
        """
        self.check_open()
        results: List[R] = []
        unreachable: List[NetworkError] = []
        with deadline.within(self.config.timeouts.metadata):
            for router in self.routers:
                try:
                    results.append(action(router))
                except NotFoundError:
                    continue
                except NetworkError as exc:
                    self.balancer.mark_down(router)
                    unreachable.append(exc)
        if unreachable and len(unreachable) == len(self.routers):
            first = unreachable[0]
            raise type(first)(f"all routers failed: {'; '.join(e.message for e in unreachable)}",
                              bucket_id=first.bucket_id, key=first.key) from first
        return results

    def manager(self, parallel: bool = True, window: Optional[int] = None) -> TransferManager[Any]:
        """A transfer manager over the pool (``parallel``) or running tasks on the caller's thread;
        ``window`` (default the config's) caps the chunks in flight, hence the parallelism."""
        self.check_open()
        return TransferManager(self.executor if parallel else None, window or self.config.transfer.effective_window,
                               passthrough=PASSTHROUGH)
