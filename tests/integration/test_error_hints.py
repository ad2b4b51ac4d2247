"""Errors that teach (issue 12, item 8): https against a plain-HTTP server, a URI that names a peer
or an unrelated HTTP server, and a malformed-reply message with its path filled in."""

from __future__ import annotations

import http.server
import threading
from typing import Iterator
from urllib.parse import urlsplit

import pytest

from mictlanx_sync import Client, cli
from mictlanx_sync.errors import MictlanXError, NetworkError, NotFoundError


def _hostport(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = b"<html>nothing here</html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def unrelated_server() -> Iterator[str]:
    """A plain HTTP server that answers 404 to everything (a web server, not MictlanX)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_https_against_plain_http_hints_at_protocol_http(vss, bucket):
    uri = f"mictlanx://r0@{_hostport(vss.router_url)}/"  # no ?protocol=: https by default
    with Client(uri) as client:
        with pytest.raises(NetworkError) as caught:
            client.get(bucket, "k")
    assert "?protocol=http" in str(caught.value)


def test_a_uri_naming_a_peer_says_it_is_not_a_router(vss, bucket):
    uri = f"mictlanx://p0@{_hostport(vss.peer_urls[0])}/?protocol=http"
    with Client(uri) as client:
        with pytest.raises(MictlanXError) as caught:
            client.get_bucket_metadata(bucket)
    message = str(caught.value)
    assert "does not look like a MictlanX router" in message
    assert "{bucket_id}" not in message and f"/buckets/{bucket}/metadata" in message
    with Client(uri) as client:
        with pytest.raises(MictlanXError) as caught:
            client.put(bucket, "k", b"data")
    assert "does not look like a MictlanX router" in str(caught.value)


def test_an_unrelated_http_server_is_not_just_not_found(unrelated_server, bucket, capsys):
    uri = f"mictlanx://r0@{unrelated_server}/?protocol=http"
    with Client(uri) as client:
        with pytest.raises(NotFoundError) as caught:
            client.get(bucket, "k")
    assert "does not look like a MictlanX router" in str(caught.value)
    assert cli.main(["--uri", uri, "get", bucket, "k", "-o", "-"]) == 4
    assert "does not look like a MictlanX router" in capsys.readouterr().err
