"""mictlanx-sync: the synchronous Python SDK for MictlanX.

Example:
    >>> from mictlanx_sync import MictlanXURI
    >>> MictlanXURI.parse("mictlanx://localhost:60666/?protocol=http").router_urls()
    ('http://localhost:60666',)
"""

from __future__ import annotations

import logging

from . import errors, models
from .__version__ import __version__
from .client import Client
from .errors import (
    AlreadyExistsError,
    BadRequestError,
    ConnectFailedError,
    ForbiddenError,
    IntegrityError,
    InvalidArgumentError,
    InvalidURIError,
    LocalFileExistsError,
    LocalIOError,
    MaxAvailabilityReachedError,
    MictlanXError,
    NetworkError,
    NotFoundError,
    PreconditionFailedError,
    ProtocolError,
    RequestTimeoutError,
    ServerError,
    TransferError,
)
from .peer import Peer
from .router import Router
from .uri import MictlanXURI

# A library never prints: without logging configured by the application, our records go nowhere.
logging.getLogger("mictlanx_sync").addHandler(logging.NullHandler())

__all__ = [
    "__version__", "errors", "models", "Client", "Peer", "Router", "MictlanXURI",
    "MictlanXError", "InvalidArgumentError", "InvalidURIError", "NotFoundError", "AlreadyExistsError",
    "MaxAvailabilityReachedError", "PreconditionFailedError", "NetworkError", "ConnectFailedError",
    "RequestTimeoutError",
    "ServerError", "BadRequestError", "ForbiddenError", "ProtocolError", "IntegrityError", "TransferError",
    "LocalIOError", "LocalFileExistsError",
]
