"""A WSGI app for tests/integration/test_fork.py, served by ``gunicorn --preload -w 2 --threads 8``.

At import (in the gunicorn master, before the workers fork) it builds one Client from
``$MICTLANX_URI`` and does a multi-chunk put and get with it, so the pool's threads, the pooled
sockets and the locks are all in use when the workers are forked. Routes:

* ``GET /ping`` -> ``ok`` (readiness);
* ``PUT /objects/<key>`` stores the body under ``$FORK_APP_BUCKET``/<key>;
* ``GET /objects/<key>`` answers the object's bytes;
* ``GET /pid`` -> the worker's pid.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable, List, Tuple

from mictlanx_sync import Client

BUCKET = os.environ["FORK_APP_BUCKET"]
client = Client(os.environ["MICTLANX_URI"], chunk_size="64KB", max_workers=4, capacity_storage="0")
_warm = os.urandom(1_000_000)  # 16 chunks of 64 KB: the pool is used, several sockets are pooled
client.put(BUCKET, "preload", _warm)
assert client.get(BUCKET, "preload").content == _warm

StartResponse = Callable[[str, List[Tuple[str, str]]], object]


def app(environ: dict, start_response: StartResponse) -> Iterable[bytes]:
    """Put and get objects through the Client created before the fork."""
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "")
    try:
        if path == "/ping":
            body = b"ok"
        elif path == "/pid":
            body = str(os.getpid()).encode()
        elif path.startswith("/objects/") and method == "PUT":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            data = environ["wsgi.input"].read(length)
            result = client.put(BUCKET, path[len("/objects/"):], data)
            body = result.checksum.encode()
        elif path.startswith("/objects/") and method == "GET":
            body = client.get(BUCKET, path[len("/objects/"):]).content
        else:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such route"]
    except Exception as exc:  # noqa: BLE001 - the test reads the error from the body
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return [f"{type(exc).__name__}: {exc}".encode()]
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(body)))])
    return [body]
