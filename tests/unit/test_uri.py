"""mictlanx:// URIs (PROTOCOL §2.2): accepted and rejected forms, defaults, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mictlanx_sync import MictlanXURI
from mictlanx_sync.errors import InvalidArgumentError, InvalidURIError
from mictlanx_sync.uri import DEFAULT_URI, RouterSpec

REFERENCE = "mictlanx://mictlanx-router-0@localhost:63666/?protocol=http&api_version=4&http2=0"


def test_reference_example() -> None:
    uri = MictlanXURI.parse(REFERENCE)
    assert uri.routers == (RouterSpec(router_id="mictlanx-router-0", host="localhost", port=63666),)
    assert uri.protocol == "http"
    assert uri.api_version == 4
    assert uri.http2 is False
    assert uri.router_urls() == ("http://localhost:63666",)
    assert uri.build() == REFERENCE
    assert str(uri) == REFERENCE


def test_defaults_are_https_v4_no_http2() -> None:
    uri = MictlanXURI.parse("mictlanx://localhost:60666")
    assert uri.protocol == "https"
    assert uri.api_version == 4
    assert uri.http2 is False
    assert uri.routers[0].router_id == "mictlanx-router-0"
    assert MictlanXURI(routers=[RouterSpec(router_id="r", host="h", port=1)]).protocol == "https"


def test_default_uri_constant_parses() -> None:
    uri = MictlanXURI.parse(DEFAULT_URI)
    assert uri.router_urls() == ("http://localhost:60666",)


def test_several_routers_with_and_without_ids() -> None:
    uri = MictlanXURI.parse("mictlanx://r-a@h1:1000, h2:2000,r.c@10.0.0.3:3000/?protocol=http")
    assert [r.router_id for r in uri.routers] == ["r-a", "mictlanx-router-1", "r.c"]
    assert [r.host for r in uri.routers] == ["h1", "h2", "10.0.0.3"]
    assert [r.port for r in uri.routers] == [1000, 2000, 3000]
    assert uri.router_urls() == ("http://h1:1000", "http://h2:2000", "http://10.0.0.3:3000")


@pytest.mark.parametrize(
    ("query", "expected"),
    [("http2=1", True), ("http2=true", True), ("http2=YES", True), ("http2=on", True),
     ("http2=0", False), ("http2=false", False), ("http2=no", False), ("http2=off", False)],
)
def test_http2_flag(query: str, expected: bool) -> None:
    assert MictlanXURI.parse(f"mictlanx://h:1/?{query}").http2 is expected


def test_protocol_is_case_insensitive_and_api_version_parsed() -> None:
    uri = MictlanXURI.parse("MICTLANX://h:1/?protocol=HTTP&api_version=7")
    assert uri.protocol == "http"
    assert uri.api_version == 7


def test_empty_query_is_fine() -> None:
    assert MictlanXURI.parse("mictlanx://h:1/?").protocol == "https"
    assert MictlanXURI.parse("mictlanx://h:1/").routers[0].port == 1


def test_host_with_path_and_ipv6() -> None:
    uri = MictlanXURI.parse("mictlanx://r@host/mictlanx:8080/?protocol=http")
    assert uri.routers[0].host == "host/mictlanx"
    assert uri.router_urls() == ("http://host:8080/mictlanx",)
    v6 = MictlanXURI.parse("mictlanx://[::1]:80/?protocol=http")
    assert v6.routers[0].host == "[::1]"
    assert v6.router_urls() == ("http://[::1]:80",)


def test_https_on_443_drops_port() -> None:
    assert MictlanXURI.parse("mictlanx://h/mictlanx:443/").router_urls() == ("https://h/mictlanx",)
    assert MictlanXURI.parse("mictlanx://h:443/").router_urls() == ("https://h",)
    assert MictlanXURI.parse("mictlanx://h:8443/").router_urls() == ("https://h:8443",)
    assert MictlanXURI.parse("mictlanx://h:443/?protocol=http").router_urls() == ("http://h:443",)


# --- rejected -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("uri", "names"),
    [
        ("http://h:1", "mictlanx://"),
        ("h:1", "mictlanx://"),
        ("", "mictlanx://"),
        ("mictlanx://", "no routers"),
        ("mictlanx:///?protocol=http", "no routers"),
        ("mictlanx://  /", "no routers"),
        ("mictlanx://h:1,/?protocol=http", "no routers"),
        ("mictlanx://h:1,", "no routers"),
        ("mictlanx://,h:1", "no routers"),
        ("mictlanx://h:1,,h2:2", "no routers"),
        ("mictlanx://h:0", "port"),
        ("mictlanx://h:65536", "port"),
        ("mictlanx://h:99999999", "port"),
        ("mictlanx://h:abc", "'abc'"),
        ("mictlanx://h:-1", "'-1'"),
        ("mictlanx://h:1.5", "'1.5'"),
        ("mictlanx://h:²", "port"),
        ("mictlanx://h", "port is mandatory"),
        ("mictlanx://h:", "port"),
        ("mictlanx://:80", "port is mandatory"),
        ("mictlanx://r@h", "port is mandatory"),
        ("mictlanx://@h:1", "router id"),
        ("mictlanx://bad id@h:1", "router id"),
        ("mictlanx://-r@h:1", "router id"),
        ("mictlanx://h h:1", "host"),
        ("mictlanx://h?x:1", "port is mandatory"),
        ("mictlanx://h:1/?protocol=ftp", "protocol"),
        ("mictlanx://h:1/?protocol=", "protocol"),
        ("mictlanx://h:1/?api_version=x", "api_version"),
        ("mictlanx://h:1/?api_version=0", "api_version"),
        ("mictlanx://h:1/?api_version=-4", "api_version"),
        ("mictlanx://h:1/?http2=maybe", "http2"),
        ("mictlanx://h:1/?colour=blue", "colour"),
        ("mictlanx://h:1/?protocol=http&timeout=3", "timeout"),
        ("mictlanx://h:1/?protocol", "query"),
    ],
)
def test_rejected_uris_name_the_bad_part(uri: str, names: str) -> None:
    with pytest.raises(InvalidURIError) as info:
        MictlanXURI.parse(uri)
    assert names in str(info.value)


def test_port_range_messages() -> None:
    with pytest.raises(InvalidURIError, match="1..65535"):
        MictlanXURI.parse("mictlanx://h:0")
    with pytest.raises(InvalidURIError, match="65536"):
        MictlanXURI.parse("mictlanx://h:65536")
    assert MictlanXURI.parse("mictlanx://h:65535").routers[0].port == 65535
    assert MictlanXURI.parse("mictlanx://h:1").routers[0].port == 1


def test_unknown_query_parameter_is_named() -> None:
    with pytest.raises(InvalidURIError) as info:
        MictlanXURI.parse("mictlanx://h:1/?protocol=http&bogus=1")
    assert "unknown query parameter 'bogus'" in str(info.value)


def test_not_a_string() -> None:
    with pytest.raises(InvalidURIError, match="string"):
        MictlanXURI.parse(42)  # type: ignore[arg-type]


def test_invalid_uri_error_is_value_error() -> None:
    assert issubclass(InvalidURIError, ValueError)
    assert issubclass(InvalidURIError, InvalidArgumentError)
    with pytest.raises(ValueError):
        MictlanXURI.parse("nope")


def test_direct_construction_is_validated() -> None:
    with pytest.raises(InvalidURIError, match="no routers"):
        MictlanXURI(routers=())
    with pytest.raises(InvalidURIError, match="protocol"):
        MictlanXURI(routers=[RouterSpec(router_id="r", host="h", port=1)], protocol="gopher")
    with pytest.raises(InvalidURIError, match="api_version"):
        MictlanXURI(routers=[RouterSpec(router_id="r", host="h", port=1)], api_version=0)
    with pytest.raises(InvalidURIError, match="port"):
        RouterSpec(router_id="r", host="h", port=True)  # bool is not a port
    with pytest.raises(InvalidURIError, match="host"):
        RouterSpec(router_id="r", host="", port=1)
    with pytest.raises(InvalidURIError, match="router id"):
        RouterSpec(router_id="r\n", host="h", port=1)


# --- round trips ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given_uri", "canonical"),
    [
        ("mictlanx://localhost:60666",
         "mictlanx://mictlanx-router-0@localhost:60666/?protocol=https&api_version=4&http2=0"),
        ("mictlanx://a@h1:1,h2:2?protocol=http&http2=yes",
         "mictlanx://a@h1:1,mictlanx-router-1@h2:2/?protocol=http&api_version=4&http2=1"),
        ("  MICTLANX://r@h:5/?api_version=3&protocol=HTTPS  ",
         "mictlanx://r@h:5/?protocol=https&api_version=3&http2=0"),
    ],
)
def test_build_of_parse_is_canonical(given_uri: str, canonical: str) -> None:
    assert MictlanXURI.parse(given_uri).build() == canonical
    assert MictlanXURI.parse(canonical).build() == canonical


_id = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,15}", fullmatch=True)
_host = st.from_regex(r"[A-Za-z0-9.\-]{1,20}(/[A-Za-z0-9._~\-]{1,10})?", fullmatch=True)
_router = st.builds(RouterSpec, router_id=_id, host=_host, port=st.integers(1, 65535))


@given(
    routers=st.lists(_router, min_size=1, max_size=4),
    protocol=st.sampled_from(["http", "https"]),
    api_version=st.integers(1, 99),
    http2=st.booleans(),
)
def test_parse_of_build_is_identity(routers: list[RouterSpec], protocol: str, api_version: int,
                                    http2: bool) -> None:
    uri = MictlanXURI(routers=routers, protocol=protocol, api_version=api_version, http2=http2)
    assert MictlanXURI.parse(uri.build()) == uri


def test_router_urls_follow_uri_order_and_protocol() -> None:
    uri = MictlanXURI.parse("mictlanx://b@hb:2,a@ha:1/?protocol=https")
    assert uri.router_urls() == ("https://hb:2", "https://ha:1")


def test_uri_is_frozen() -> None:
    uri = MictlanXURI.parse(REFERENCE)
    with pytest.raises(AttributeError):
        uri.protocol = "https"  # type: ignore[misc]
