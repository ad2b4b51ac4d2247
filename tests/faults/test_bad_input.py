"""Scenario 6a: bad input, generated (pure, no server): URIs, ids, sizes, tags, Client.put checks.

Each property runs 1000 examples. The oracle is written independently of the code under test:

* URI: ``MictlanXURI.parse`` either raises ``InvalidURIError`` or returns a value that round-trips
  (``parse(build(x)) == x``); values built from valid parts always round-trip.
* ids: valid iff non-empty, at most 512 characters and matching
  ``[A-Za-z0-9]+([-_][A-Za-z0-9]+)*`` (ASCII); anything else raises ``InvalidArgumentError``.
* sizes: ``parse_size`` returns ``round(number * unit)`` for number+unit strings and raises
  ``InvalidArgumentError`` (never another exception) for everything else.
* tags: a str->str mapping without reserved names is returned unchanged; anything else raises
  ``InvalidArgumentError``.
* ``Client.put`` refuses bad ids, tags, rf and chunk sizes with ``InvalidArgumentError`` before any
  request: the client points at a closed port and its sessions count requests.
"""

from __future__ import annotations

import re
import socket
from fractions import Fraction
from typing import Any, Iterator, List

import pytest
import requests
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from mictlanx_sync import InvalidArgumentError, InvalidURIError, MictlanXURI, names
from mictlanx_sync import _protocol as P
from mictlanx_sync.client import Client
from mictlanx_sync.errors import MictlanXError
from mictlanx_sync.units import parse_size
from mictlanx_sync.uri import RouterSpec

pytestmark = pytest.mark.timeout(120)

PURE = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                database=None)
VALID_ID = re.compile(r"[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*")
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# characters that make ids and URIs interesting: separators, traversal, unicode look-alikes
NASTY = "-_./\\:@,?&=%# \t\n\x00~é١٢ﬁ\u200b\u202eİ"


def valid_ids() -> st.SearchStrategy[str]:
    part = st.text(ALNUM, min_size=1, max_size=6)
    return st.builds(lambda first, rest: first + "".join(sep + p for sep, p in rest), part,
                     st.lists(st.tuples(st.sampled_from("-_"), part), max_size=5))


def any_ids() -> st.SearchStrategy[str]:
    return st.one_of(
        valid_ids(),
        st.text(ALNUM + NASTY, max_size=40),
        st.text(max_size=30),
        st.sampled_from(["..", "../etc/passwd", "a/../../b", "%2e%2e%2f", "a\x00b", "CON", "a" * 512,
                         "a" * 513, "a" * 10_000, "-a", "a-", "a--b", "a_-b", "_a", "a_", "ａｂｃ"]),
        st.builds(lambda i, s: i + s, valid_ids(), st.sampled_from(["/", "..", " ", "\n", "é", "."])),
    )


def id_ok(value: str) -> bool:
    return 0 < len(value) <= 512 and VALID_ID.fullmatch(value) is not None


# ------------------------------------------------------------------------------------------ URIs
hosts = st.one_of(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.-]{0,20}", fullmatch=True),
    st.sampled_from(["localhost", "127.0.0.1", "[::1]", "my-host.example.org", "host/mictlanx",
                     "h/a/b_c~d"]),
)
router_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
specs = st.builds(lambda rid, host, port: RouterSpec(router_id=rid, host=host, port=port),
                  router_ids, hosts, st.integers(1, 65535))
uris = st.builds(lambda routers, proto, api, h2: MictlanXURI(routers=routers, protocol=proto,
                                                               api_version=api, http2=h2),
                 st.lists(specs, min_size=1, max_size=4), st.sampled_from(["http", "https"]),
                 st.integers(1, 10**6), st.booleans())


@PURE
@given(uris)
def test_uri_build_parse_round_trip(uri: MictlanXURI) -> None:
    assert MictlanXURI.parse(uri.build()) == uri


URI_PIECES = st.sampled_from(["mictlanx://", "MICTLANX://", "http://", "r0@", "@", "host", "localhost",
                              ":", ":80", ":0", ":65536", ":99999999999999999999", ",", "/", "/path",
                              "?", "protocol=http", "protocol=ftp", "&", "api_version=4", "api_version=-1",
                              "http2=1", "http2=maybe", "x=1", "=", "[::1]", " ", "%", "é", "\x00",
                              "1", "a.b", "#"])


@PURE
@given(st.one_of(st.lists(URI_PIECES, max_size=12).map("".join), st.text(max_size=60),
                 st.builds(lambda s: "mictlanx://" + s, st.text(ALNUM + NASTY + "[]", max_size=50))))
@example("mictlanx://r@h:1,/?protocol=http")
@example("mictlanx://h:80?protocol=http&protocol=https")
def test_uri_parse_raises_typed_or_round_trips(text: str) -> None:
    try:
        parsed = MictlanXURI.parse(text)
    except InvalidURIError:
        return
    assert MictlanXURI.parse(parsed.build()) == parsed
    for url in parsed.router_urls():
        assert url.startswith(("http://", "https://"))


# ------------------------------------------------------------------------------------------- ids
@PURE
@given(any_ids())
def test_check_id_matches_the_sanitization_rule(value: str) -> None:
    if id_ok(value):
        assert P.check_id(value, "key") == value
        assert P.sanitize_str(value) == value
    else:
        with pytest.raises(InvalidArgumentError):
            P.check_id(value, "key")


@PURE
@given(st.one_of(st.none(), st.integers(), st.binary(max_size=5), st.lists(st.text(max_size=3), max_size=2)))
def test_check_id_refuses_non_strings(value: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        P.check_id(value, "bucket_id")


# ----------------------------------------------------------------------------------------- sizes
UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "KB": 10**3, "m": 10**6, "mb": 10**6, "MB": 10**6,
         "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12, "kib": 2**10, "KiB": 2**10, "MiB": 2**20,
         "GiB": 2**30, "TiB": 2**40, "bytes": 1}


@PURE
@given(st.integers(0, 10**7), st.integers(0, 999), st.sampled_from(sorted(UNITS)), st.sampled_from(["", " "]))
def test_parse_size_number_and_unit(whole: int, frac: int, unit: str, space: str) -> None:
    text = f"{whole}.{frac:03d}{space}{unit}" if frac else f"{whole}{space}{unit}"
    exact = Fraction(text[:len(text) - len(unit)].strip()) * UNITS[unit]
    expected = int(exact + Fraction(1, 2))  # round half up, exactly (no float rounding)
    assert parse_size(text) == expected


SIZE_SOUP = st.one_of(
    st.text(max_size=20),
    st.text("0123456789.kKmMgGtTiIbB -+eE_,", max_size=15),
    st.builds(lambda n, u: n + u, st.text("0123456789", min_size=20, max_size=290),
              st.sampled_from(["", "kb", "TiB"])),
    st.sampled_from(["", " ", "-1", "-1kb", "1e3", "nan", "inf", "1..2", ".", "0x10", "1 k b", "1kbb",
                     "١٢kb", "10 PB"]),
)


@PURE
@given(SIZE_SOUP)
def test_parse_size_never_raises_untyped(text: str) -> None:
    try:
        value = parse_size(text)
    except InvalidArgumentError:
        return
    assert isinstance(value, int) and value >= 0


@PURE
@given(st.text("0123456789", min_size=310, max_size=400), st.sampled_from(["", "b", "kb", "TiB", " MB"]))
def test_parse_size_huge_numbers_are_typed_errors(digits: str, unit: str) -> None:
    try:
        parse_size(digits.lstrip("0") + "1" + unit)
    except InvalidArgumentError:
        pass  # a typed refusal is fine; so would be the exact integer


def test_client_put_huge_chunk_size_is_a_typed_error(offline_client: Client) -> None:
    with pytest.raises(InvalidArgumentError):
        offline_client.put("bucket", "key", b"payload", chunk_size="9" * 400)


@PURE
@given(st.one_of(st.integers(max_value=-1), st.booleans(), st.floats(), st.none(), st.binary(max_size=3)))
def test_parse_size_refuses_non_sizes(value: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        parse_size(value)


# ------------------------------------------------------------------------------------------ tags
tag_keys = st.one_of(st.text(max_size=12), st.sampled_from(sorted(P.RESERVED_TAGS)), st.integers(), st.none())
tag_values = st.one_of(st.text(max_size=20), st.integers(), st.none(), st.binary(max_size=3),
                       st.lists(st.text(max_size=2), max_size=2))


@PURE
@given(st.dictionaries(tag_keys, tag_values, max_size=6))
def test_check_tags(tags: dict) -> None:
    ok = all(isinstance(k, str) and k and isinstance(v, str) and k not in P.RESERVED_TAGS
             for k, v in tags.items())
    if ok:
        assert P.check_tags(tags) == tags
    else:
        with pytest.raises(InvalidArgumentError):
            P.check_tags(tags)


@PURE
@given(st.one_of(st.lists(st.text(max_size=3), max_size=3), st.text(max_size=5), st.integers(),
                 st.tuples(st.text(max_size=2))))
def test_check_tags_refuses_non_mappings(tags: Any) -> None:
    assume(tags != "" and tags != [] and tags != 0)
    with pytest.raises(InvalidArgumentError):
        P.check_tags(tags)


# --------------------------------------------------------------------------------- Client.put
class _NoRequests(requests.Session):
    """A session that records every request and refuses to send it."""

    sent: List[str] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        _NoRequests.sent.append(f"{method} {url}")
        raise requests.exceptions.ConnectionError(f"test: no request expected ({method} {url})")


@pytest.fixture(scope="module")
def offline_client() -> Iterator[Client]:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with Client(f"mictlanx://r0@127.0.0.1:{port}/?protocol=http", session_factory=_NoRequests) as client:
        yield client


bad_tags = st.one_of(
    st.dictionaries(st.sampled_from(sorted(P.RESERVED_TAGS)), st.text(max_size=3), min_size=1, max_size=2),
    st.dictionaries(st.text(max_size=3), st.one_of(st.integers(), st.none()), min_size=1, max_size=2),
    st.just({"": "x"}), st.just({"updated_at": "yesterday"}), st.just(["a"]),
)


@PURE
@given(bucket=any_ids(), key=any_ids(), tags=st.one_of(st.none(), bad_tags, st.just({"ok": "1"})),
       rf=st.one_of(st.just(1), st.integers(-3, 0), st.just(True), st.just(1.5), st.just("2")),
       chunk_size=st.one_of(st.none(), st.just("64kb"), st.just(0), st.just("0kb"), st.just("-1"),
                            st.just("lots"), st.just(-5)))
def test_client_put_validates_before_any_request(offline_client: Client, bucket: str, key: str,
                                                  tags: Any, rf: Any, chunk_size: Any) -> None:
    tags_ok = tags is None or tags == {"ok": "1"}
    size_ok = chunk_size in (None, "64kb")
    # any name maps to a key, so a key is bad only when it is not a name
    valid = id_ok(bucket) and names.name_problem(key) is None and tags_ok and rf == 1 and rf is not True \
        and size_ok
    assume(not valid)  # a valid call would go to the network; this property is about refusals
    before = len(_NoRequests.sent)
    try:
        offline_client.put(bucket, key, b"payload", tags=tags, rf=rf, chunk_size=chunk_size)
    except InvalidArgumentError:
        pass
    except MictlanXError as exc:  # NetworkError or TransferError: it tried to send
        pytest.fail(f"expected InvalidArgumentError before any request, got {exc!r}")
    else:
        pytest.fail("an invalid put was accepted")
    assert len(_NoRequests.sent) == before, _NoRequests.sent[before:]
