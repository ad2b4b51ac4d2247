"""The ``vss`` command line: ``up`` (router + N peers), ``peer``, ``router`` and ``repair``.

``register(subparsers)`` adds the ``vss`` command to a parent parser (the top-level
``mictlanx-sync`` CLI); ``python -m mictlanx_sync.vss`` uses :func:`build_parser` directly.
Each subcommand sets ``func`` to a callable taking the parsed args and returning an exit code.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any, List, Optional, Sequence

from ..cli import _int_at_least, _positive_int
from ..errors import MictlanXError
from ..models import PeerPayload
from ..units import parse_size
from ..uri import MictlanXURI
from .auth import PEER_ADMIN, ROUTER_ADMIN, TOKEN_ENV, AuthConfig, protect

_port = _int_at_least(0)  # 0: any free port
WATCH_INTERVAL = 0.5  # how often ``vss up`` checks that every process still runs (seconds)
_THREADS = 128  # ServerConfig's default (not imported here: the server needs the extra)

__all__ = ["register", "add_subcommands", "build_parser", "main"]


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds >= 0, got {text!r}")
    return value


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except MictlanXError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def _port_list(text: str) -> List[int]:
    parts = [part.strip() for part in text.split(",")]
    if not parts or any(not part for part in parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated ports, e.g. 24000,24001, got {text!r}")
    ports = [_port(part) for part in parts]
    if any(not 1 <= p <= 65535 for p in ports) or len(set(ports)) != len(ports):
        raise argparse.ArgumentTypeError(f"peer ports must be distinct and in 1..65535, got {text!r}")
    return ports


def _run_peer(args: argparse.Namespace) -> int:
    from .peer_app import PeerConfig, create_peer_app
    from .server import ServerConfig, run_until_signalled

    config = PeerConfig(data_dir=args.data_dir, peer_id=args.peer_id, max_body_size=args.max_body_size,
                        fsync=not args.no_fsync)
    app = protect(create_peer_app(config), _auth(args), PEER_ADMIN)
    return run_until_signalled(app, ServerConfig(host=args.host, port=args.port, numthreads=args.threads),
                               on_ready=lambda url: _announce(f"peer {args.peer_id} listening on {url}"))


def _auth(args: argparse.Namespace) -> AuthConfig:
    return AuthConfig(token=args.token or None, admin=not args.no_admin)


def _peer_payloads(uri: str) -> List[PeerPayload]:
    parsed = MictlanXURI.parse(uri)
    return [PeerPayload(protocol=parsed.protocol, peer_id=spec.router_id, hostname=spec.host, port=spec.port)
            for spec in parsed.routers]


def _run_router(args: argparse.Namespace) -> int:
    from .repair import RepairConfig
    from .router_app import RouterConfig, create_router_app
    from .server import ServerConfig, run_until_signalled

    peers = tuple(_peer_payloads(args.peers)) if args.peers else ()
    config = RouterConfig(router_id=args.router_id, peers=peers, default_rf=args.rf,
                          max_body_size=args.max_body_size, peer_token=args.token or None,
                          repair=RepairConfig(interval=args.repair_interval))
    app = protect(create_router_app(config), _auth(args), ROUTER_ADMIN)
    return run_until_signalled(app, ServerConfig(host=args.host, port=args.port, numthreads=args.threads),
                               on_ready=lambda url: _announce(f"router {args.router_id} listening on {url}"))


def _run_up(args: argparse.Namespace) -> int:
    from .serve import VSSStartError, serve

    done = threading.Event()

    def _stop(signum: int, frame: Optional[FrameType]) -> None:
        done.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        peer_ports = args.peer_ports
        peers = args.peers if args.peers is not None else (len(peer_ports) if peer_ports else 2)
        with serve(peers=peers, rf=args.rf, data_dir=args.data_dir, port=args.port, host=args.host,
                   max_body_size=args.max_body_size, peer_ports=peer_ports, token=args.token or None,
                   admin=not args.no_admin) as vss:
            for peer_id, url in zip(vss.peer_ids, vss.peer_urls):
                _announce(f"peer {peer_id} {url}")
            _announce(f"router mictlanx-router-0 {vss.router_url}")
            _announce(vss.uri)
            while not done.wait(WATCH_INTERVAL):
                exited = vss.exited()
                if exited:  # one process died: the VSS is broken, stop every other one (on exit)
                    print(f"error: {', '.join(exited)} exited; stopping the other processes", file=sys.stderr)
                    return 1
    except (VSSStartError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _run_repair(args: argparse.Namespace) -> int:
    """Ask a running router for one repair pass and print what it fixed."""
    from .. import _protocol as P
    from .._http import HTTPClient
    from ..config import RetryConfig, Timeouts

    http = HTTPClient(args.router, timeouts=Timeouts(connect=5.0, read=args.timeout),
                      retry=RetryConfig(total=0), token=args.token or None)
    try:
        with http.send("POST", P.ADMIN_REPAIR) as reply:
            report = reply.json()
    finally:
        http.close()
    for action in report.get("actions", []):
        where = f"{action['bucket_id']}@{action['key']} ({action['size']} bytes): " \
                f"{action['source']} -> {action['target']}"
        if action.get("ok"):
            print(f"repaired {where}")
        else:
            print(f"FAILED   {where}: {action.get('error', '')}")
    print(f"repair: {report['repaired']} repaired, {report['failed']} failed, "
          f"{report['unrepairable']} unrepairable (no live peer without a copy), {report['skipped']} skipped, "
          f"{report['under_replicated']} under-replicated of {report['balls']} balls on "
          f"{len(report['peers'])} live peers in {report['seconds']:.3f} s")
    return 1 if report["failed"] or report["unrepairable"] else 0


def _announce(line: str) -> None:
    print(line, flush=True)


def add_subcommands(parser: argparse.ArgumentParser) -> None:
    """Add the ``up``, ``peer`` and ``router`` subcommands to ``parser``."""
    sub = parser.add_subparsers(dest="vss_command", metavar="{up,peer,router,repair}")
    sub.required = True
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    common.add_argument("--max-body-size", type=_size, default=1 << 30,
                        help="largest object accepted, e.g. 1GiB (default)")
    common.add_argument("--token", default=os.environ.get(TOKEN_ENV) or None,
                        help=f"require 'Authorization: Bearer TOKEN' on every endpoint but /health "
                             f"(default ${TOKEN_ENV}; prefer the variable: arguments show in ps); "
                             f"a router also sends it to its peers")
    common.add_argument("--no-admin", action="store_true",
                        help="disable the admin endpoints (peer registration/removal, task flush): 403")

    up = sub.add_parser("up", parents=[common], help="run a router and N peers in the foreground")
    up.add_argument("--peers", type=_positive_int, default=None,
                    help="number of storage peers (default 2, or one per --peer-ports entry)")
    up.add_argument("--peer-ports", type=_port_list, default=None, metavar="P1,P2,...",
                    help="the peers' ports, one per peer (default: free ports), e.g. 24000,24001")
    up.add_argument("--rf", type=_positive_int, default=1, help="default replication factor (default 1)")
    up.add_argument("--data-dir", default=None, help="data directory (default: a temp dir)")
    up.add_argument("--port", type=_port, default=60666, help="router port (default 60666)")
    up.set_defaults(func=_run_up)

    peer = sub.add_parser("peer", parents=[common], help="run one storage peer")
    peer.add_argument("--port", type=_port, required=True)
    peer.add_argument("--data-dir", required=True)
    peer.add_argument("--peer-id", default="mictlanx-peer-0")
    peer.add_argument("--threads", type=_positive_int, default=_THREADS,
                      help=f"worker threads (default {_THREADS})")
    peer.add_argument("--no-fsync", action="store_true", help="skip fsync before commit (faster, unsafe)")
    peer.set_defaults(func=_run_peer)

    router = sub.add_parser("router", parents=[common], help="run one router")
    router.add_argument("--port", type=_port, required=True)
    router.add_argument("--peers", default="", help="peers as mictlanx://peer-0@host:port,...")
    router.add_argument("--router-id", default="mictlanx-router-0")
    router.add_argument("--rf", type=_positive_int, default=1)
    router.add_argument("--repair-interval", type=_seconds, default=60.0,
                        help="seconds between repair passes (0: only on demand and when a peer returns)")
    router.add_argument("--threads", type=_positive_int, default=_THREADS,
                        help=f"worker threads (default {_THREADS})")
    router.set_defaults(func=_run_router)

    repair = sub.add_parser("repair", help="run one repair pass on a running router and print what it fixed")
    repair.add_argument("--router", default="http://127.0.0.1:60666",
                        help="the router's base URL (default http://127.0.0.1:60666)")
    repair.add_argument("--token", default=os.environ.get(TOKEN_ENV) or None,
                        help=f"the router's bearer token (default ${TOKEN_ENV})")
    repair.add_argument("--timeout", type=_seconds, default=600.0,
                        help="seconds to wait for the pass (default 600)")
    repair.set_defaults(func=_run_repair)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``vss`` command to the parent CLI's subparsers; returns its parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "vss", help="run a local MictlanX virtual storage space")
    add_subcommands(parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m mictlanx_sync.vss``."""
    parser = argparse.ArgumentParser(prog="python -m mictlanx_sync.vss",
                                     description="Local MictlanX virtual storage space")
    add_subcommands(parser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``vss`` command line; returns the exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except MictlanXError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
