"""A hostile MictlanX router for tests: a tiny threaded HTTP server speaking just enough of the
router API (PROTOCOL §5) to serve the SDK's put, get, get_to_file, stat and ls, with switchable
misbehaviours that a real server cannot easily be made to show.

Honest by default: step 1 (``POST /buckets/{b}/metadata``) and step 2 (``POST
/buckets/data/{task}/chunked``) store a ball in memory; ``/chunks``, ``/metadata/{key}``, the
bucket listing and data GETs read them back; ``DELETE`` removes one. A test can also plant a ball
whose metadata lies (:meth:`HostileRouter.plant`).

Misbehaviours (attributes, changeable while the server runs):

* ``silent``: accept every connection, read the request and never answer.
* ``json_padding``: pad every JSON reply with that many bytes (sent with a Content-Length).
* ``endless_json``: answer JSON requests with a body that never ends (no Content-Length,
  ``Connection: close``; bytes keep coming until the client hangs up).
* ``trickle``: send every reply body one byte per ``trickle`` seconds.
* ``redirect_to``: answer requests whose method is in ``redirect_methods`` and whose path matches
  ``redirect_paths`` (a substring; "" = all) with ``307`` to the same path on that origin.

Every request is recorded in ``requests`` as ``(method, path)``.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

API = "/api/v4"
_CHUNKS = re.compile(rf"^{API}/buckets/([^/]+)/metadata/([^/]+)/chunks$")
_META = re.compile(rf"^{API}/buckets/([^/]+)/metadata/([^/]+)$")
_LIST = re.compile(rf"^{API}/buckets/([^/]+)/metadata$")
_STEP2 = re.compile(rf"^{API}/buckets/data/([^/]+)/chunked$")
_DATA = re.compile(rf"^{API}/buckets/([^/]+)/([^/]+)$")


class HostileRouter:
    """The server; use as a context manager (``with HostileRouter() as router: router.uri``)."""

    def __init__(self) -> None:
        self.balls: Dict[Tuple[str, str], Tuple[Dict[str, Any], bytes]] = {}
        self.tasks: Dict[str, Dict[str, Any]] = {}
        self.requests: List[Tuple[str, str]] = []
        self.silent = False
        self.json_padding = 0
        self.endless_json = False
        self.trickle = 0.0
        self.redirect_to: Optional[str] = None
        self.redirect_methods = ("GET", "POST", "DELETE")
        self.redirect_paths = ""
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    # -------------------------------------------------------------------------------- lifecycle
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def uri(self) -> str:
        host, port = self._server.server_address[:2]
        return f"mictlanx://hostile-router@{host}:{port}/?protocol=http&api_version=4&http2=0"

    def __enter__(self) -> HostileRouter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def requests_to(self, method: str, fragment: str = "") -> List[str]:
        """Paths of the recorded requests with ``method`` whose path contains ``fragment``."""
        with self._lock:
            return [path for m, path in self.requests if m == method and fragment in path]

    # ------------------------------------------------------------------------------------ balls
    def plant(self, bucket_id: str, key: str, data: bytes, *, size: Optional[int] = None,
              tags: Optional[Dict[str, str]] = None, ball_id: Optional[str] = None,
              checksum: str = "") -> None:
        """Store a ball whose metadata says whatever the test wants (``size`` may lie)."""
        import hashlib

        meta = {"bucket_id": bucket_id, "key": key, "ball_id": ball_id or key,
                "checksum": checksum or hashlib.sha256(data).hexdigest(),
                "size": len(data) if size is None else size, "tags": dict(tags or {}),
                "content_type": "application/octet-stream", "producer_id": "hostile", "is_disabled": False}
        with self._lock:
            self.balls[(bucket_id, key)] = (meta, data)

    # ---------------------------------------------------------------------------------- handler
    def _handler_class(self) -> type:
        router = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    return self.rfile.read(length)
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    pieces = []
                    while True:
                        size = int(self.rfile.readline().strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(pieces)
                        pieces.append(self.rfile.read(size))
                        self.rfile.readline()
                return b""

            def _send(self, status: int, body: bytes, content_type: str = "application/json",
                      headers: Optional[Dict[str, str]] = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if router.trickle:
                    for i in range(len(body)):
                        if router.stopping.wait(router.trickle):
                            return
                        self.wfile.write(body[i:i + 1])
                        self.wfile.flush()
                else:
                    self.wfile.write(body)

            def _json(self, status: int, data: Any) -> None:
                if router.endless_json:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.close_connection = True
                    self.wfile.write(b'{"padding": "')
                    piece = b"x" * 65536
                    try:
                        while not router.stopping.is_set():
                            self.wfile.write(piece)
                    except OSError:
                        pass  # the client hung up: what a careful client does
                    return
                if router.json_padding and isinstance(data, dict):
                    data = {**data, "padding": "x" * router.json_padding}
                self._send(status, json.dumps(data).encode())

            def _handle(self, method: str) -> None:
                path = self.path.split("?", 1)[0]
                with router._lock:
                    router.requests.append((method, path))
                body = self._body() if method in ("POST", "PUT") else b""
                if router.silent:
                    router.stopping.wait()
                    self.close_connection = True
                    return
                if router.redirect_to and method in router.redirect_methods and router.redirect_paths in path:
                    self._send(307, b"", headers={"Location": router.redirect_to + self.path})
                    return
                self._route(method, path, body)

            def _route(self, method: str, path: str, body: bytes) -> None:
                if path == "/health":
                    return self._json(200, {"status": "ok", "available_peers": 1})
                match = _CHUNKS.match(path)
                if match and method == "GET":
                    bucket_id, ball_id = match.groups()
                    with router._lock:
                        chunks = [meta for (b, _), (meta, _d) in router.balls.items()
                                  if b == bucket_id and meta["ball_id"] == ball_id]
                    if not chunks:
                        return self._json(404, {"detail": "not found"})
                    return self._json(200, {"bucket_id": bucket_id, "ball_id": ball_id, "size": "0 B",
                                            "size_bytes": sum(int(c["size"]) for c in chunks),
                                            "checksum": "", "chunks": chunks})
                match = _META.match(path)
                if match and method == "GET":
                    with router._lock:
                        found = router.balls.get((match.group(1), match.group(2)))
                    if found is None:
                        return self._json(404, {"detail": "not found"})
                    return self._json(200, {"service_time": 0, "peer_id": "hostile-peer-0",
                                            "local_peer_id": "hostile-peer-0", "metadata": found[0]})
                match = _LIST.match(path)
                if match and method == "GET":
                    with router._lock:
                        balls = [meta for (b, _), (meta, _d) in router.balls.items() if b == match.group(1)]
                    return self._json(200, {"bucket_id": match.group(1), "peer_ids": ["hostile-peer-0"],
                                            "balls": balls})
                if match and method == "POST":
                    request = json.loads(body)
                    task_id = uuid.uuid4().hex
                    with router._lock:
                        if (request["bucket_id"], request["key"]) in router.balls:
                            return self._json(404, {"detail": {"code": 666, "msg": "exists"}})
                        router.tasks[task_id] = request
                    return self._json(201, {"key": request["key"], "service_time": 0, "tasks_ids": [task_id],
                                            "bucket_id": request["bucket_id"], "replicas": ["hostile-peer-0"]})
                match = _STEP2.match(path)
                if match and method == "POST":
                    with router._lock:
                        request = router.tasks.pop(match.group(1), None)
                        if request is not None:
                            meta = {k: request.get(k) for k in ("bucket_id", "key", "ball_id", "checksum",
                                                                "size", "tags", "content_type", "producer_id")}
                            meta["is_disabled"] = False
                            router.balls[(request["bucket_id"], request["key"])] = (meta, body)
                    if request is None:
                        return self._json(404, {"detail": "no such task"})
                    return self._json(201, {"peer_ids": ["hostile-peer-0"], "combined_key": "",
                                            "bucket_id": request["bucket_id"], "key": request["key"],
                                            "size": len(body)})
                match = _DATA.match(path)
                if match and method == "GET":
                    with router._lock:
                        found = router.balls.get((match.group(1), match.group(2)))
                    if found is None:
                        return self._json(404, {"detail": "not found"})
                    return self._send(200, found[1], content_type="application/octet-stream")
                if match and method == "DELETE":
                    with router._lock:
                        gone = router.balls.pop((match.group(1), match.group(2)), None)
                    if gone is None:
                        return self._json(404, {"detail": "not found"})
                    return self._json(200, {"n_deletes": 1, "key": match.group(2)})
                return self._json(404, {"detail": f"no route {method} {path}"})

            def do_GET(self) -> None:  # noqa: N802 - http.server's spelling
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

            def do_DELETE(self) -> None:  # noqa: N802
                self._handle("DELETE")

        return Handler


def wait_until(predicate: Any, limit: float = 5.0) -> bool:
    """Poll ``predicate`` until it is true or ``limit`` seconds passed (for a server's own threads)."""
    stop = time.monotonic() + limit
    while time.monotonic() < stop:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())
