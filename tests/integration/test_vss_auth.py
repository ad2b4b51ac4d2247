"""Opt-in access control of the VSS (issue 11, item 7): ``--token`` / ``MICTLANX_VSS_TOKEN``.

A token-protected VSS answers 401 to every request without ``Authorization: Bearer <token>``
(except ``/health``) and changes nothing; the SDK sends the token (``Client(token=...)``,
``$MICTLANX_TOKEN``, the URI's ``token=``); ``admin=False`` (``--no-admin``) turns the admin
endpoints into 403 even with the token.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import requests

from mictlanx_sync import ForbiddenError, MictlanXURI
from mictlanx_sync import _protocol as P
from mictlanx_sync.client import Client
from mictlanx_sync.vss import LocalVSS, serve

pytestmark = pytest.mark.local_vss  # starts its own token-protected VSS processes

TOKEN = "t0k3n-" + uuid.uuid4().hex
BUCKET = "auth-bucket"
KEY = "guarded"
DATA = b"the bytes nobody may change without the token" * 100


def _auth(token: str = TOKEN) -> Dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def guarded() -> Iterator[LocalVSS]:
    """A router and 2 peers that require TOKEN, holding one object (rf=2) written with it."""
    with serve(peers=2, rf=2, token=TOKEN) as vss:
        with Client(vss.uri, token=TOKEN, chunk_size="1kb") as client:
            client.put(BUCKET, KEY, DATA, tags={"color": "blue"})
        yield vss


def _state(vss: LocalVSS) -> Tuple[Any, ...]:
    """Everything a refused request could have changed, read with the token."""
    router = vss.router_url
    peers = requests.get(router + P.PEERS, headers=_auth(), timeout=10).json()
    listing = requests.get(router + P.path(P.BUCKET_METADATA, bucket_id=BUCKET), headers=_auth(),
                           timeout=10).json()
    balls = sorted((b["key"], b["checksum"], json.dumps(b["tags"], sort_keys=True), b["is_disabled"])
                   for b in listing["balls"])
    per_peer: List[Any] = []
    for url in vss.peer_urls:
        per_peer.append(requests.get(url + P.XBALLS_SIZE, headers=_auth(), timeout=10).json())
    return (sorted(p["peer_id"] for p in peers["available"]), balls, per_peer)


def _mutations(vss: LocalVSS) -> List[Tuple[str, str, Dict[str, Any]]]:
    """Every mutating request of the router and peer APIs, as (method, url, requests kwargs)."""
    meta = {"bucket_id": BUCKET, "key": KEY + "_0", "ball_id": KEY, "checksum": hashlib.sha256(b"x").hexdigest(),
            "size": 1, "producer_id": "intruder", "tags": {}, "content_type": P.DEFAULT_CONTENT_TYPE,
            "is_disabled": False, "replication_factor": 2}
    r, out = vss.router_url, []
    for base in [r, *vss.peer_urls]:
        out += [
            ("POST", base + P.path(P.BUCKET_METADATA, bucket_id=BUCKET), {"json": meta}),
            ("POST", base + P.path(P.BUCKET_METADATA, bucket_id=BUCKET),
             {"json": meta, "headers": {P.H_UPDATE: "1"}}),
            ("POST", base + P.path(P.PUT_CHUNKED, task_id="t1"), {"data": b"x"}),
            ("POST", base + P.path(P.PUT_DATA, task_id="t1"), {"files": {"data": ("k", b"x")}}),
            ("DELETE", base + P.path(P.DATA, bucket_id=BUCKET, key=KEY + "_0"), {}),
            ("DELETE", base + P.path(P.DELETE_BY_BALL_ID, bucket_id=BUCKET, ball_id=KEY), {}),
            ("POST", base + P.path(P.DISABLE, bucket_id=BUCKET, key=KEY + "_0"), {}),
        ]
    out += [
        ("POST", r + P.path(P.UPDATE_METADATA, bucket_id=BUCKET, key=KEY + "_0"), {"json": meta}),
        ("POST", r + P.XPEERS, {"json": [{"peer_id": "rogue", "hostname": "127.0.0.1", "port": 9,
                                          "protocol": "http"}]}),
        ("POST", r + P.PEERS, {"json": {"peer_id": "rogue", "hostname": "127.0.0.1", "port": 9,
                                        "protocol": "http"}}),
        ("DELETE", r + P.path(P.PEER, peer_id=vss.peer_ids[0]), {}),
        ("DELETE", r + P.XPEERS, {"json": list(vss.peer_ids)}),
        ("POST", r + P.ADMIN_REPAIR, {}),
    ]
    out += [("DELETE", url + P.TASKS, {}) for url in vss.peer_urls]
    return out


@pytest.mark.parametrize("headers", [{}, _auth("wrong"), {"Authorization": TOKEN},
                                     {"Authorization": "Basic " + TOKEN}], ids=["none", "wrong", "bare",
                                                                                "basic"])
def test_without_the_token_every_mutation_is_401_and_nothing_changes(guarded: LocalVSS,
                                                                    headers: Dict[str, str]) -> None:
    before = _state(guarded)
    for method, url, kwargs in _mutations(guarded):
        reply = requests.request(method, url, headers={**kwargs.pop("headers", {}), **headers},
                                 timeout=10, **kwargs)
        assert reply.status_code == 401, (method, url, reply.status_code, reply.text)
        assert "detail" in reply.json()
        assert reply.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert _state(guarded) == before
    with Client(guarded.uri, token=TOKEN) as client:
        assert bytes(client.get(BUCKET, KEY).data) == DATA


def test_reads_need_the_token_too_but_health_is_open(guarded: LocalVSS) -> None:
    for base in [guarded.router_url, *guarded.peer_urls]:
        assert requests.get(base + P.HEALTH, timeout=10).status_code == 200
    for url in [guarded.router_url + P.path(P.METADATA, bucket_id=BUCKET, key=KEY + "_0"),
                guarded.router_url + P.path(P.DATA, bucket_id=BUCKET, key=KEY + "_0"),
                guarded.router_url + P.PEERS,
                guarded.peer_urls[0] + P.STATS,
                guarded.router_url + "/mictlanx" + P.PEERS]:
        assert requests.get(url, timeout=10).status_code == 401, url
    # A /health look-alike is not exempt.
    assert requests.get(guarded.router_url + "/health/../api/v4/peers", timeout=10).status_code == 401


def test_the_sdk_without_the_token_gets_a_typed_error(guarded: LocalVSS,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MICTLANX_TOKEN", raising=False)
    with Client(guarded.uri) as client:
        with pytest.raises(ForbiddenError):
            client.put(BUCKET, "other", b"data")
        with pytest.raises(ForbiddenError):
            client.get(BUCKET, KEY)


@pytest.mark.parametrize("how", ["kwarg", "env", "uri"])
def test_the_client_sends_the_token(guarded: LocalVSS, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    monkeypatch.delenv("MICTLANX_TOKEN", raising=False)
    uri, kwargs = guarded.uri, {}
    if how == "kwarg":
        kwargs = {"token": TOKEN}
    elif how == "env":
        monkeypatch.setenv("MICTLANX_TOKEN", TOKEN)
    else:
        uri = MictlanXURI.parse(uri).build() + "&token=" + TOKEN
    key = f"k-{how}-{uuid.uuid4().hex[:8]}"
    with Client(uri, chunk_size="1kb", **kwargs) as client:
        assert TOKEN not in repr(client)
        client.put(BUCKET, key, DATA)
        assert bytes(client.get(BUCKET, key).data) == DATA
        assert client.delete(BUCKET, key) > 0


def test_the_uri_token_stays_out_of_repr_and_build() -> None:
    uri = MictlanXURI.parse("mictlanx://r0@localhost:60666/?protocol=http&token=s3cret%2Fx")
    assert uri.token == "s3cret/x"
    assert "s3cret" not in repr(uri) and "s3cret" not in str(uri) and "s3cret" not in uri.build()
    assert MictlanXURI.parse(uri.build(include_token=True)) == uri


def test_admin_endpoints_can_be_disabled() -> None:
    with serve(peers=1, token=TOKEN, admin=False) as vss:
        rogue = {"peer_id": "rogue", "hostname": "127.0.0.1", "port": 9, "protocol": "http"}
        for method, url, kwargs in [
            ("POST", vss.router_url + P.XPEERS, {"json": [rogue]}),
            ("POST", vss.router_url + P.PEERS, {"json": rogue}),
            ("DELETE", vss.router_url + P.path(P.PEER, peer_id=vss.peer_ids[0]), {}),
            ("DELETE", vss.router_url + "/mictlanx" + P.path(P.PEER, peer_id=vss.peer_ids[0]), {}),
            ("DELETE", vss.router_url + P.XPEERS, {"json": list(vss.peer_ids)}),
            ("DELETE", vss.peer_urls[0] + P.TASKS, {}),
        ]:
            reply = requests.request(method, url, headers=_auth(), timeout=10, **kwargs)
            assert reply.status_code == 403, (method, url, reply.text)
        peers = requests.get(vss.router_url + P.PEERS, headers=_auth(), timeout=10).json()
        assert [p["peer_id"] for p in peers["available"]] == vss.peer_ids
        with Client(vss.uri, token=TOKEN) as client:
            client.put(BUCKET, "k", b"still works")
            assert bytes(client.get(BUCKET, "k").data) == b"still works"


def test_the_token_survives_the_session_rebuilt_in_a_forked_child() -> None:
    from mictlanx_sync._http import HTTPClient

    http = HTTPClient("http://127.0.0.1:9", token="abc")
    try:
        assert http._session.headers[P.H_AUTHORIZATION] == "Bearer abc"
        http._after_fork()  # what os.register_at_fork runs in a child
        assert http._session.headers[P.H_AUTHORIZATION] == "Bearer abc"
    finally:
        http.close()
