"""TransferManager: runs one transfer's chunk tasks on a shared thread pool through a bounded
window, consumes their results in index order on the caller's thread, and turns the first
failure into one error after cancelling the rest."""

from __future__ import annotations

import contextvars
import os
import threading
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import Callable, Dict, Generic, List, Optional, Tuple, Type, TypeVar

from ..errors import MictlanXError, TransferError

__all__ = ["TransferManager", "CancelToken"]

R = TypeVar("R")
CancelToken = threading.Event
_POLL = 0.2
_SHUT_DOWN = "chunk task not run: the executor was shut down (the client was closed)"
_FORKED = "chunk task lost: the process forked during the transfer (its threads stayed in the parent)"


class TransferManager(Generic[R]):
    """Run ``count`` leaf tasks, at most ``window`` ahead of the in-order consumer.

    Leaf tasks never wait on sibling futures, so any number of transfers can share one executor.
    The window bounds memory: a task's result (for example a chunk's bytes) is held only until
    ``consume`` has taken it, and no task more than ``window`` indices past the consumer starts.

    Thread safety: one manager runs one transfer, driven by the calling thread.

    Args:
        executor: the shared pool, or None to run every task inline on the caller's thread.
        window: the most tasks submitted and not yet consumed.
        passthrough: error classes re-raised as themselves (with the TransferError as context)
            instead of wrapped, because the caller acts on them (for example ``IntegrityError``).
    """

    def __init__(self, executor: Optional[Executor], window: int,
                 passthrough: Tuple[Type[MictlanXError], ...] = ()) -> None:
        self._executor = executor
        self._window = max(1, window)
        self._passthrough = passthrough
        self.cancel = CancelToken()
        self._pid = os.getpid()

    def run(self, count: int, task: Callable[[int, CancelToken], R],
            consume: Optional[Callable[[int, R], None]] = None, *, what: str = "transfer",
            bucket_id: Optional[str] = None, key: Optional[str] = None) -> None:
        """Run ``task(i, cancel)`` for i in ``range(count)``; call ``consume(i, result)`` in order.

        Raises:
            TransferError: a task failed (failed indices and first cause attached); pending tasks
                were cancelled and running ones told to stop through the cancel token.
            KeyboardInterrupt: re-raised after the same cancellation.
        """
        if self._executor is None or count <= 1:
            # One task gains nothing from the pool: handing it to a worker and waking the caller
            # costs more CPU (and latency) than a small chunk's whole request.
            self._run_inline(count, task, consume, what, bucket_id, key)
            return
        pending: Dict[Future[R], int] = {}
        results: Dict[int, R] = {}
        failures: List[Tuple[int, BaseException]] = []
        next_submit = 0
        next_consume = 0
        try:
            while next_consume < count:
                while not failures and next_submit < count and next_submit - next_consume < self._window:
                    try:
                        # In a copy of the caller's context: the operation's deadline goes along.
                        context = contextvars.copy_context()
                        pending[self._executor.submit(context.run, task, next_submit, self.cancel)] = next_submit
                    except RuntimeError:  # "cannot schedule new futures after shutdown"
                        failures.append((next_submit, MictlanXError(_SHUT_DOWN)))
                        break
                    next_submit += 1
                if failures:
                    break
                done, _ = wait(list(pending), timeout=_POLL, return_when=FIRST_COMPLETED)
                if not done:
                    # A task cancelled by the executor's shutdown(cancel_futures=True) never wakes
                    # a waiter: look for one, or this loop would poll for its result forever.
                    done = {future for future in pending if future.cancelled()}
                    if not done and os.getpid() != self._pid:
                        # Forked mid-transfer (a callback that forks): the tasks run in the parent.
                        failures.extend((index, MictlanXError(_FORKED)) for index in pending.values())
                        pending.clear()
                        break
                for future in done:
                    index = pending.pop(future)
                    if future.cancelled():
                        failures.append((index, MictlanXError(_SHUT_DOWN)))
                        continue
                    error = future.exception()
                    if error is not None:
                        failures.append((index, error))
                    else:
                        results[index] = future.result()
                while next_consume in results and not failures:
                    result = results.pop(next_consume)
                    if consume is not None:
                        consume(next_consume, result)
                    next_consume += 1
        except BaseException:
            self._abort(pending)  # Ctrl-C: do not wait for running tasks
            raise
        if failures:
            self._abort(pending)
            # Let running tasks finish (they see the cancel token between steps), so that what the
            # caller cleans up next (stored chunks, temp files) is not written to afterwards. Not
            # the cancelled ones: after an executor shutdown they would never be marked done.
            wait([future for future in pending if not future.cancelled()])
            self._raise(failures, what, bucket_id, key)

    def _run_inline(self, count: int, task: Callable[[int, CancelToken], R],
                    consume: Optional[Callable[[int, R], None]], what: str,
                    bucket_id: Optional[str], key: Optional[str]) -> None:
        for index in range(count):
            try:
                result = task(index, self.cancel)
            except Exception as exc:  # noqa: BLE001 - re-raised below as one typed error
                self._raise([(index, exc)], what, bucket_id, key)
            if consume is not None:
                consume(index, result)

    def _abort(self, pending: Dict[Future[R], int]) -> None:
        self.cancel.set()
        for future in pending:
            future.cancel()

    def _raise(self, failures: List[Tuple[int, BaseException]], what: str, bucket_id: Optional[str],
               key: Optional[str]) -> None:
        failures.sort(key=lambda item: item[0])
        first = failures[0][1]
        indices = [index for index, _ in failures]
        if not isinstance(first, Exception):
            raise first
        error = TransferError(f"{what} failed", failed_indices=indices, cause=first,
                              bucket_id=bucket_id, key=key)
        if isinstance(first, self._passthrough):
            raise first from error
        raise error from first
