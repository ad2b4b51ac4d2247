"""Stream one incoming body to several replicas at once, without spooling it.

Each replica gets a thread that uploads (chunked transfer encoding) from a small bounded queue of
pieces; the caller's thread reads the incoming body once and puts every piece (the same ``bytes``
object, no copy) on each live replica's queue. Memory is bounded by ``depth`` pieces per replica.
A replica that fails stops taking pieces; the others go on.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Generic, Iterable, Iterator, List, Optional, TypeVar, Union

__all__ = ["ReplicaStream", "Aborted", "fan_out"]

T = TypeVar("T")


class Aborted(Exception):
    """The upload to a replica was abandoned (the incoming body was bad)."""


class _End:
    pass


class _Abort:
    pass


_END = _End()
_ABORT = _Abort()
Item = Union[bytes, _End, _Abort]


class ReplicaStream(Generic[T]):
    """One replica's upload, running ``upload(pieces)`` on its own thread.

    Args:
        name: the replica's id (for the thread name and results).
        upload: called with an iterator of pieces; returns the replica's reply.
        depth: pieces buffered for this replica.
    """

    def __init__(self, name: str, upload: Callable[[Iterator[bytes]], T], depth: int = 4) -> None:
        self.name = name
        self._upload = upload
        self._queue: queue.Queue[Item] = queue.Queue(maxsize=depth)
        self.done = threading.Event()
        self.result: Optional[T] = None
        self.error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name=f"fanout-{name}", daemon=True)

    def start(self) -> None:
        """Start the upload thread."""
        self._thread.start()

    def _pieces(self) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Abort):
                raise Aborted(f"upload to {self.name} abandoned")
            yield item

    def _run(self) -> None:
        try:
            self.result = self._upload(self._pieces())
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            self.error = exc
        finally:
            self.done.set()
            self._drain()

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def put(self, item: Item) -> bool:
        """Queue an item; False (and nothing queued) once this replica has finished or failed."""
        while not self.done.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def join(self, timeout: Optional[float] = None) -> None:
        """Wait for the upload to finish."""
        self._thread.join(timeout)


def fan_out(pieces: Iterable[bytes], replicas: List[ReplicaStream[T]], *, expected: int,
            timeout: Optional[float] = None) -> int:
    """Send ``pieces`` to every replica and wait for them.

    The replicas' streams end normally when the input ends with exactly ``expected`` bytes; when
    it holds more or fewer, or reading it fails, the replicas' streams are aborted (their uploads
    fail, so nothing is stored) and the error is re-raised (``Aborted`` for a size mismatch).

    Returns:
        The number of bytes read from ``pieces``.
    """
    for replica in replicas:
        replica.start()
    count = 0
    held: Optional[bytes] = None  # the latest piece, forwarded only once the next one checks out
    try:
        for piece in pieces:
            if not piece:
                continue
            count += len(piece)
            if count > expected:
                raise Aborted(f"the body holds more than the declared {expected} bytes")
            if held is not None:
                for replica in replicas:
                    replica.put(held)
            held = piece
        if count < expected:
            # Replicas were promised ``expected`` bytes (Content-Length): abort, never end short.
            raise Aborted(f"the body holds {count} bytes, fewer than the declared {expected}")
        # The input ended at exactly ``expected`` bytes: only now can a replica complete its body.
        if held is not None:
            for replica in replicas:
                replica.put(held)
    except BaseException:
        for replica in replicas:
            replica.put(_ABORT)
        for replica in replicas:
            replica.join(timeout)
        raise
    for replica in replicas:
        replica.put(_END)
    for replica in replicas:
        replica.join(timeout)
    return count
