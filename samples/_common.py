"""Shared argument handling for the samples: where the peer, router or URI is, tags, errors.

Every sample runs as the seed README shows it, against ``make vss`` (router on
``localhost:60666``, peers on ``localhost:24000`` and ``localhost:24001``). Point a sample
elsewhere with ``--peer URL`` / ``--router URL`` / ``--uri mictlanx://...`` or with the
``MICTLANX_PEER_URL`` / ``MICTLANX_ROUTER_URL`` / ``MICTLANX_URI`` environment variables
(the command line wins).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Dict, List, Optional

from mictlanx_sync import MictlanXError

PEER_ENV = "MICTLANX_PEER_URL"
ROUTER_ENV = "MICTLANX_ROUTER_URL"
URI_ENV = "MICTLANX_URI"
DEFAULT_PEER = "http://localhost:24000"
DEFAULT_ROUTER = "http://localhost:60666"
DEFAULT_URI = "mictlanx://mictlanx-router-0@localhost:60666/?protocol=http&api_version=4&http2=0"


def parser(description: Optional[str]) -> argparse.ArgumentParser:
    """An argument parser with the connection options every sample accepts."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--peer", "--peer_url", dest="peer", default=os.environ.get(PEER_ENV) or DEFAULT_PEER,
                   help=f"a storage peer's base URL (default ${PEER_ENV}, else {DEFAULT_PEER})")
    p.add_argument("--router", "--router_url", dest="router",
                   default=os.environ.get(ROUTER_ENV) or DEFAULT_ROUTER,
                   help=f"a router's base URL (default ${ROUTER_ENV}, else {DEFAULT_ROUTER})")
    p.add_argument("--uri", default=os.environ.get(URI_ENV) or DEFAULT_URI,
                   help=f"the Client's mictlanx:// URI (default ${URI_ENV}, else the local VSS)")
    return p


def tags(pairs: Optional[List[str]]) -> Dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``; a pair without ``=`` is a usage error (exit 2)."""
    out: Dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            print(f"usage error: --tag {pair!r} must look like name=value", file=sys.stderr)
            sys.exit(2)
        out[name] = value
    return out


def run(main: Callable[[], None]) -> None:
    """Run a sample's ``main``; a MictlanX error is one line on stderr and exit status 1."""
    try:
        main()
    except MictlanXError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
