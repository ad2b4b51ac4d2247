"""The seed README's keyword names work alongside ours (issue 13): Peer/Router constructors by
``ip_addr``/``port``/``protocol``/``api_version`` (``http2`` on routers), ``MictlanXURI.build(routers)``,
``Client.get(..., chunk_size=, max_retries=, max_paralell_gets=)`` with ``.metadatas``, and
``get_to_file(bucket_id=, ball_id=, output_path=, fullname=, chunk_size=)``."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from mictlanx_sync import Client, InvalidArgumentError, InvalidURIError, MictlanXURI, Peer, Router
from mictlanx_sync._get import ReadOptions
from mictlanx_sync.transfer.codec import IDENTITY
from mictlanx_sync.vss import LocalVSS


def test_peer_and_router_take_the_seeds_keywords(vss: LocalVSS) -> None:
    peer_port = urlsplit(vss.peer_urls[0]).port
    router_port = urlsplit(vss.router_url).port
    with Peer(peer_id="mictlanx-peer-0", ip_addr="127.0.0.1", port=peer_port, protocol="http",
              api_version=4) as peer:
        assert peer.base_url == vss.peer_urls[0]
        assert peer.health().status == "ok"
        assert (peer.peer_id, peer.ip_addr, peer.port, peer.protocol, peer.api_version) == \
            ("mictlanx-peer-0", "127.0.0.1", peer_port, "http", 4)
    with Router(router_id="router-0", ip_addr="127.0.0.1", port=router_port, protocol="http", api_version=4,
                http2=False) as router:
        assert router.base_url == vss.router_url
        assert router.get_peers().available


def test_base_url_form_fills_the_same_attributes() -> None:
    router = Router("https://alpha.example:8443/mictlanx", router_id="r9")
    assert (router.ip_addr, router.port, router.protocol, router.api_version) == \
        ("alpha.example/mictlanx", 8443, "https", 4)
    assert Router(ip_addr="alpha.example/mictlanx", port=443, protocol="https").base_url == \
        "https://alpha.example/mictlanx"  # routers leave the port out on https (PROTOCOL §2.1)
    assert Peer(ip_addr="localhost", port=0).base_url == "http://localhost"  # 0/-1: no port
    assert Peer(ip_addr="localhost", port=24000, protocol="https").base_url == "https://localhost:24000"


@pytest.mark.parametrize("kwargs, message", [
    ({}, "needs a base URL, or ip_addr and port"),
    ({"base_url": "http://h:1", "ip_addr": "h", "port": 1}, "not both"),
    ({"ip_addr": "localhost", "port": 24000, "api_version": 3}, "api_version 3 is not supported"),
    ({"ip_addr": "localhost", "port": 24000, "protocol": "ftp"}, "invalid protocol 'ftp'"),
    ({"ip_addr": "localhost"}, "invalid port None"),
    ({"ip_addr": "localhost", "port": 70000}, "invalid port 70000"),
    ({"ip_addr": "", "port": 1}, "invalid ip_addr"),
    ({"base_url": "localhost:24000"}, "invalid base URL"),
    ({"base_url": "http://h:1", "protocol": "https"}, "contradicts the base URL"),
])
def test_bad_addresses_are_invalid_argument_errors(kwargs: dict, message: str) -> None:
    for cls in (Peer, Router):
        with pytest.raises(InvalidArgumentError, match=message):
            cls(**kwargs)


def test_uri_build_from_routers_as_the_seed_calls_it() -> None:
    routers = [
        Router(router_id="mictlanx-router-0", ip_addr="localhost", port=60666, protocol="http", api_version=4),
        Router(router_id="mictlanx-router-1", ip_addr="localhost", port=60667, protocol="http", api_version=4),
    ]
    uri = MictlanXURI.build(routers)
    assert uri == ("mictlanx://mictlanx-router-0@localhost:60666,mictlanx-router-1@localhost:60667"
                   "/?protocol=http&api_version=4&http2=0")
    parsed = MictlanXURI.parse(uri)
    assert parsed.build() == uri and str(parsed) == uri  # the instance form still works
    assert parsed.router_urls() == tuple(r.base_url for r in routers)
    https = [Router(router_id=f"r{i}", ip_addr=f"{h}.example", port=443, protocol="https", api_version=4,
                    http2=True) for i, h in enumerate(("alpha", "beta"))]
    assert MictlanXURI.build(https) == \
        "mictlanx://r0@alpha.example:443,r1@beta.example:443/?protocol=https&api_version=4&http2=1"
    assert MictlanXURI.build(parsed.routers) == "mictlanx://mictlanx-router-0@localhost:60666," \
        "mictlanx-router-1@localhost:60667/?protocol=https&api_version=4&http2=0"  # bare specs: defaults


def test_uri_build_refuses_no_routers_and_mixed_options() -> None:
    with pytest.raises(InvalidURIError, match="no routers"):
        MictlanXURI.build([])
    mixed = [Router(ip_addr="a", port=1, protocol="http"), Router(ip_addr="b", port=2, protocol="https")]
    with pytest.raises(InvalidURIError, match="disagree on protocol"):
        MictlanXURI.build(mixed)
    with pytest.raises(InvalidURIError, match="has no router_id"):
        MictlanXURI.build([object()])


def test_client_get_and_get_to_file_take_the_seeds_keywords(vss: LocalVSS, bucket: str, tmp_path) -> None:
    data = bytes(range(256)) * 20  # 5120 bytes, 6 chunks of 1000
    with Client(vss.uri, chunk_size=1000, capacity_storage=0) as client:
        client.put(bucket, "seed", data)
        res = client.get(bucket_id=bucket, key="seed", chunk_size="1MB", max_retries=8, max_paralell_gets=8)
        assert res.data.tobytes() == data
        assert [m.key for m in res.metadatas] == [f"seed_{i}" for i in range(6)]  # per-chunk metadata
        assert res.metadatas == res.metadata
        assert client.get(bucket, "seed", max_paralell_gets=1, max_retries=1).content == data
        path = client.get_to_file(bucket_id=bucket, ball_id="seed", output_path=str(tmp_path), fullname="hello.txt",
                                  chunk_size="1MB")
        assert path == str(tmp_path / "hello.txt") and (tmp_path / "hello.txt").read_bytes() == data
        assert client.get_to_file(bucket, "seed", str(tmp_path / "pos.bin")) == str(tmp_path / "pos.bin")
        with pytest.raises(InvalidArgumentError, match="differ"):
            client.get_to_file(bucket, "seed", str(tmp_path), ball_id="other")
        with pytest.raises(InvalidArgumentError, match="needs the object"):
            client.get_to_file(bucket_id=bucket, output_path=str(tmp_path))
        with pytest.raises(InvalidArgumentError, match="max_retries must be a positive integer"):
            client.get(bucket, "seed", max_retries=0)
        with pytest.raises(InvalidArgumentError, match="max_paralell_gets must be a positive integer"):
            client.get(bucket, "seed", max_paralell_gets=-1)
        with pytest.raises(InvalidArgumentError, match="invalid size .lots."):
            client.get(bucket, "seed", chunk_size="lots")


def test_read_options_map_the_seeds_keywords() -> None:
    opts = ReadOptions.from_call(chunk_size="1MB", max_retries=3, max_parallel_gets=2, codec=IDENTITY)
    assert (opts.attempts, opts.window, opts.chunk_size) == (3, 2, "1000000")
    assert ReadOptions.from_call(chunk_size=None, max_retries=None, max_parallel_gets=None,
                                 codec=IDENTITY) == ReadOptions()
