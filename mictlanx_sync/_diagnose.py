"""Making errors and listings say what the user cannot see: unavailable peers, and a URI that
does not point at a MictlanX router.

One request answers both: a router's ``GET /api/v4/peers`` lists its available and unavailable
peers (PROTOCOL §5.3); anything that does not answer it in that shape (a peer, an unrelated HTTP
server) is not a MictlanX router. It is sent only on the paths that need it: after a not-found,
after a malformed reply, and once per listing.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, TypeVar

import attrs

from ._core import ClientCore
from .errors import MictlanXError, NetworkError, NotFoundError, ServerError, TransferError
from .results import ObjectInfo
from .router import Router

__all__ = ["PeerHealth", "ObjectList", "peer_health", "explain", "puzzling"]

E = TypeVar("E", bound=MictlanXError)


@attrs.frozen(kw_only=True)
class PeerHealth:
    """What the routers said about their peers, or that one of them is not a router at all.

    ``not_router`` is the reason the server at ``url`` does not look like a MictlanX router (empty
    when it does).
    """

    available: Tuple[str, ...] = ()
    unavailable: Tuple[str, ...] = ()
    not_router: str = ""
    url: str = ""

    @property
    def warning(self) -> str:
        """One sentence for the user, empty when every peer is available."""
        if self.not_router:
            return (f"{self.url} does not look like a MictlanX router ({self.not_router}); check the URI "
                    f"(the address of a peer, or of another service?)")
        if not self.unavailable:
            return ""
        total = len(self.available) + len(self.unavailable)
        return (f"{len(self.unavailable)} of {total} peers unavailable ({', '.join(self.unavailable)}): "
                f"what they hold cannot be seen now")


class ObjectList(List[ObjectInfo]):
    """A bucket listing (a list of :class:`~mictlanx_sync.results.ObjectInfo`) that also says
    which peers were unavailable while it was made: a listing made without them may be short."""

    unavailable_peers: Tuple[str, ...] = ()
    warning: str = ""

    def __init__(self, objects: Sequence[ObjectInfo] = (), health: Optional[PeerHealth] = None) -> None:
        """The objects, and the peers' health at listing time (None: not known)."""
        super().__init__(objects)
        if health is not None:
            self.unavailable_peers = health.unavailable
            self.warning = health.warning


def _probe(router: Router) -> PeerHealth:
    try:
        peers = router.get_peers()
    except NetworkError:
        raise
    except MictlanXError as exc:
        return PeerHealth(not_router=f"GET /api/v4/peers failed: {exc.message}", url=router.base_url)
    return PeerHealth(available=tuple(p.peer_id for p in peers.available),
                      unavailable=tuple(p.peer_id for p in peers.unavailable), url=router.base_url)


def peer_health(core: ClientCore) -> Optional[PeerHealth]:
    """Ask one router which peers are unavailable (1 request); None when no router answers."""
    try:
        return core.with_router(_probe)
    except MictlanXError:
        return None


def explain(core: ClientCore, error: E) -> E:
    """``error`` with what the routers know appended to its message (unavailable peers, or that
    the URI does not point at a MictlanX router), logged at WARNING; unchanged when there is
    nothing to add. The error keeps its class, so callers that catch it still do."""
    health = peer_health(core)
    if health is None or not health.warning:
        return error
    core.log.warning("%s", health.warning)
    error.message = f"{error.message}; note: {health.warning}"
    error.args = (error.message, *error.args[1:])
    error.unavailable_peers = health.unavailable  # type: ignore[attr-defined]
    return error


def puzzling(error: MictlanXError) -> bool:
    """Whether a failed write is worth :func:`explain`: the server answered something a MictlanX
    router would not (a 404, a 5xx, a malformed reply), not a network failure or a refusal."""
    cause = error.cause if isinstance(error, TransferError) else error
    return isinstance(cause, (ServerError, NotFoundError)) and not isinstance(cause, NetworkError)
