"""The local MictlanX Virtual Storage Space: storage peers and a router (server side).

Start one with :func:`serve` (a context manager that runs N peer processes and a router process)
or from the command line with ``python -m mictlanx_sync.vss up``. Requires the ``server`` extra
(cheroot).

Example:
    >>> from mictlanx_sync.vss import serve
    >>> with serve(peers=2) as vss:                      # doctest: +SKIP
    ...     vss.uri.startswith("mictlanx://")
    True
"""

from __future__ import annotations

from .serve import LocalVSS, VSSStartError, serve

__all__ = ["serve", "LocalVSS", "VSSStartError"]
