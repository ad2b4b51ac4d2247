"""Start and stop a local VSS: N storage peers and a router, each its own process.

Example:
    >>> from mictlanx_sync.vss import serve
    >>> with serve(peers=2) as vss:                      # doctest: +SKIP
    ...     print(vss.uri)
    mictlanx://mictlanx-router-0@127.0.0.1:41234/?protocol=http&api_version=4&http2=0
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import IO, Any, Callable, Iterator, List, Optional, Sequence

from .. import _protocol as P
from .auth import TOKEN_ENV

__all__ = ["serve", "LocalVSS", "VSSStartError", "free_port", "peers_uri", "port_is_free"]

STOP_TIMEOUT = 10.0


class VSSStartError(RuntimeError):
    """A VSS process did not come up (the message carries the tail of its log)."""


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (where outgoing connections get theirs)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now, chosen *below* the ephemeral range.

    A port from ``bind(0)`` comes from the ephemeral range, so between this call and the server's
    own bind any outgoing connection of any process could take it (a busy test run did, once).
    Ports below the range are never handed out to outgoing connections.
    """
    rng = random.SystemRandom()
    low = _ephemeral_low()
    if low > 11000:
        for _ in range(200):
            port = rng.randrange(10000, low)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """Whether nothing listens on ``host:port`` and it can be bound right now (with
    ``SO_REUSEADDR``, as the servers bind: a port held only by closed connections is free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def peers_uri(peer_ids: Sequence[str], host: str, ports: Sequence[int]) -> str:
    """The ``mictlanx://`` URI naming the peers (ids as router ids)."""
    specs = ",".join(f"{pid}@{host}:{port}" for pid, port in zip(peer_ids, ports))
    return f"mictlanx://{specs}/?protocol=http&api_version=4&http2=0"


def _get_json(url: str, timeout: float = 1.0, token: Optional[str] = None) -> Any:
    request = urllib.request.Request(url, headers={P.H_AUTHORIZATION: P.bearer(token)} if token else {})
    with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310 - local http only
        return json.loads(reply.read())


class _Child:
    """One server process with its log file."""

    def __init__(self, name: str, args: List[str], log_path: str, token: Optional[str] = None) -> None:
        self.name = name
        self.args = args
        self.log_path = log_path
        self.token = token
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self._log: Optional[IO[bytes]] = None

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.pop(TOKEN_ENV, None)
        if self.token:
            env[TOKEN_ENV] = self.token  # not an argument: arguments show in ps
        self.proc = subprocess.Popen([sys.executable, "-m", "mictlanx_sync.vss", *self.args],
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def send(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


class LocalVSS:
    """A running local VSS (router + peers). Build it with :func:`serve`.

    Attributes:
        uri: the ``mictlanx://`` URI of the router.
        router_url: ``http://host:port`` of the router.
        peer_urls: base URLs of the peers.
        peer_ids: ids of the peers.
        data_dirs: data directories of the peers.

    Thread safety: control it from one thread.
    """

    def __init__(self, *, peers: int, rf: int, data_dir: str, port: int, host: str,
                 max_body_size: Optional[int], startup_timeout: float, log_dir: str,
                 fsync: bool = True, peer_ports: Optional[Sequence[int]] = None,
                 token: Optional[str] = None, admin: bool = True,
                 repair_interval: Optional[float] = None) -> None:
        self.fsync = fsync
        self.repair_interval = repair_interval
        self.token = token
        self.admin = admin
        self.host = host
        self.rf = rf
        self.startup_timeout = startup_timeout
        self.max_body_size = max_body_size
        self.log_dir = log_dir
        self.peer_ids = [f"mictlanx-peer-{i}" for i in range(peers)]
        self.data_dirs = [os.path.join(data_dir, pid) for pid in self.peer_ids]
        self.peer_ports = list(peer_ports) if peer_ports else [free_port(host) for _ in range(peers)]
        self.peer_urls = [f"http://{host}:{p}" for p in self.peer_ports]
        self.router_port = port or free_port(host)
        self.router_url = f"http://{host}:{self.router_port}"
        self.uri = f"mictlanx://mictlanx-router-0@{host}:{self.router_port}/?protocol=http&api_version=4&http2=0"
        self._peers = [self._peer_child(i) for i in range(peers)]
        self._routers: List[_Child] = [self._router_child(self.router_port, 0)]

    # --- children ---------------------------------------------------------------------------
    def _limit_args(self) -> List[str]:
        limits = ["--max-body-size", str(self.max_body_size)] if self.max_body_size else []
        return limits + ([] if self.admin else ["--no-admin"])

    def _peer_child(self, i: int) -> _Child:
        args = ["peer", "--port", str(self.peer_ports[i]), "--host", self.host, "--data-dir",
                self.data_dirs[i], "--peer-id", self.peer_ids[i], *self._limit_args(),
                *([] if self.fsync else ["--no-fsync"])]
        return _Child(self.peer_ids[i], args, os.path.join(self.log_dir, f"{self.peer_ids[i]}.log"),
                      self.token)

    def _router_child(self, port: int, index: int) -> _Child:
        uri = peers_uri(self.peer_ids, self.host, self.peer_ports)
        args = ["router", "--port", str(port), "--host", self.host, "--peers", uri, "--rf", str(self.rf),
                "--router-id", f"mictlanx-router-{index}", *self._limit_args()]
        if self.repair_interval is not None:
            args += ["--repair-interval", str(self.repair_interval)]
        return _Child(f"mictlanx-router-{index}", args, os.path.join(self.log_dir, f"router-{index}.log"),
                      self.token)

    def _wait(self, child: _Child, ready: Callable[[], bool], deadline: float) -> None:
        while True:
            if not child.alive():
                raise VSSStartError(f"{child.name} exited while starting; log tail:\n{child.tail()}")
            try:
                if ready():
                    return
            except (OSError, ValueError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise VSSStartError(f"{child.name} did not become ready within {self.startup_timeout} s; "
                                    f"log tail:\n{child.tail()}")
            time.sleep(0.02)  # polling interval, not a wait for readiness

    def _wait_peer(self, i: int, deadline: float) -> None:
        url = self.peer_urls[i]
        self._wait(self._peers[i], lambda: _get_json(url + "/health").get("status") == "ok", deadline)

    def _wait_router(self, child: _Child, url: str, deadline: float, expected: int) -> None:
        def ready() -> bool:
            stats = _get_json(url + "/api/v4/peers/stats?start=0&end=0", timeout=2.0, token=self.token)
            return isinstance(stats, dict) and len(stats) >= expected

        self._wait(child, ready, deadline)

    def _check_ports_free(self) -> None:
        """Fail fast, naming the process, when a port is taken: otherwise another server on it
        could answer the readiness checks while the process meant for it exits."""
        wanted = [(self._routers[0].name, self.router_port),
                  *((child.name, port) for child, port in zip(self._peers, self.peer_ports))]
        for name, port in wanted:
            if not port_is_free(self.host, port):
                raise VSSStartError(f"port {port} on {self.host} is already in use (wanted by {name}); "
                                    f"stop what listens there or choose another port")

    def start(self) -> None:
        """Start every peer, then the router; wait until the router lists every peer.

        Raises:
            VSSStartError: a port is taken, or a process exited or did not become ready.
        """
        self._check_ports_free()
        deadline = time.monotonic() + self.startup_timeout
        for child in self._peers:
            child.start()
        for i in range(len(self._peers)):
            self._wait_peer(i, deadline)
        router = self._routers[0]
        router.start()
        self._wait_router(router, self.router_url, deadline, len(self._peers))
        exited = self.exited()
        if exited:
            raise VSSStartError(f"{', '.join(exited)} exited while starting; log tail:\n"
                                f"{self._by_name(exited[0]).tail()}")

    def exited(self) -> List[str]:
        """The names of the processes (router or peers) that are no longer running."""
        return [child.name for child in (*self._routers, *self._peers) if not child.alive()]

    def _by_name(self, name: str) -> _Child:
        return next(child for child in (*self._routers, *self._peers) if child.name == name)

    def stop(self) -> None:
        """Stop every process: SIGTERM, then SIGKILL after a timeout."""
        children = [*self._routers, *self._peers]
        for child in children:  # signal all first, so they shut down in parallel
            child.send()
        for child in children:
            child.stop()

    # --- fault injection --------------------------------------------------------------------
    def stop_peer(self, i: int) -> None:
        """Stop peer ``i`` cleanly (SIGTERM)."""
        self._peers[i].stop()

    def kill_peer(self, i: int) -> None:
        """Kill peer ``i`` (SIGKILL)."""
        self._peers[i].stop(signal.SIGKILL)

    def start_peer(self, i: int) -> None:
        """(Re)start peer ``i`` on its port and data directory; wait for its health."""
        if self._peers[i].alive():
            return
        self._peers[i] = self._peer_child(i)
        self._peers[i].start()
        self._wait_peer(i, time.monotonic() + self.startup_timeout)

    def peer_alive(self, i: int) -> bool:
        """Whether peer ``i``'s process is running."""
        return self._peers[i].alive()

    def start_router(self) -> str:
        """Start another router in front of the same peers; return its URL."""
        port = free_port(self.host)
        child = self._router_child(port, len(self._routers))
        self._routers.append(child)
        child.start()
        url = f"http://{self.host}:{port}"
        live = sum(1 for p in self._peers if p.alive())
        self._wait_router(child, url, time.monotonic() + self.startup_timeout, live)
        return url


def _check_peer_ports(peers: int, peer_ports: Sequence[int], router_port: int) -> None:
    """``peer_ports`` names one distinct port in 1..65535 per peer, none the router's."""
    ports = list(peer_ports)
    if len(ports) != peers:
        raise ValueError(f"peer_ports names {len(ports)} port(s) for {peers} peer(s)")
    for port in ports:
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"invalid peer port {port!r}: must be an integer in 1..65535")
    if len(set(ports)) != len(ports) or (router_port and router_port in ports):
        raise ValueError(f"peer ports {ports} must be distinct and differ from the router port {router_port}")


@contextlib.contextmanager
def serve(peers: int = 2, rf: int = 1, data_dir: Optional[str] = None, port: int = 0,
          host: str = "127.0.0.1", *, max_body_size: Optional[int] = None,
          startup_timeout: float = 30.0, fsync: bool = True,
          peer_ports: Optional[Sequence[int]] = None, token: Optional[str] = None,
          admin: bool = True, repair_interval: Optional[float] = None) -> Iterator[LocalVSS]:
    """Run a local VSS (``peers`` peer processes and one router process) for the ``with`` body.

    Args:
        peers: how many storage peers.
        rf: the router's replication factor when a step-1 body has none.
        data_dir: where peers keep data (``<data_dir>/<peer_id>``); a temp dir removed on exit
            when None.
        port: the router's port (0: a free one).
        host: the bind address.
        max_body_size: the largest object accepted (bytes; default 1 GiB).
        startup_timeout: seconds to wait for every process to become ready.
        fsync: peers fsync each object before it becomes visible (off: faster, not crash-safe).
        peer_ports: the peers' ports, one per peer (``make vss`` uses 24000,24001 as the seed's
            samples expect); free ports when None.
        token: every process requires ``Authorization: Bearer <token>`` (but on ``/health``) and
            the router sends it to the peers; passed in the environment, never as an argument.
        admin: serve the admin endpoints (False: ``--no-admin``, they answer 403).
        repair_interval: seconds between the router's periodic repair passes (0: none; None: the
            router's default); passes also run when a peer returns and on demand.

    Yields:
        The running :class:`LocalVSS`.

    Raises:
        VSSStartError: a process died or did not become ready (with the tail of its log).
    """
    if peers < 1:
        raise ValueError("peers must be at least 1")
    if peer_ports is not None:
        _check_peer_ports(peers, peer_ports, port)
    owned = data_dir is None
    root = tempfile.mkdtemp(prefix="mictlanx-vss-") if data_dir is None else os.path.abspath(data_dir)
    os.makedirs(root, exist_ok=True)
    log_dir = tempfile.mkdtemp(prefix="mictlanx-vss-logs-")
    vss = LocalVSS(peers=peers, rf=rf, data_dir=root, port=port, host=host, max_body_size=max_body_size,
                   startup_timeout=startup_timeout, log_dir=log_dir, fsync=fsync, peer_ports=peer_ports,
                   token=token, admin=admin, repair_interval=repair_interval)
    try:
        vss.start()
        yield vss
    finally:
        vss.stop()
        shutil.rmtree(log_dir, ignore_errors=True)
        if owned:
            shutil.rmtree(root, ignore_errors=True)
