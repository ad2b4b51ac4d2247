"""names: any Unicode name <-> a valid MictlanX key, deterministic, collision-free, valid keys kept."""

from __future__ import annotations

import unicodedata
from typing import List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mictlanx_sync import _protocol as P
from mictlanx_sync import names as N
from mictlanx_sync.errors import InvalidArgumentError

# Any printable-or-not Unicode except control characters and lone surrogates (both refused).
_chars = st.characters(blacklist_categories=("Cc", "Cs"))
_segment = st.one_of(
    st.text(_chars, min_size=1, max_size=12),
    st.sampled_from(["2024", "cat.jpg", "data.csv", ".", "..", " ", "a b", "日本", "Café", "x" * 40]),
)
_paths = st.lists(_segment, min_size=1, max_size=6).map("/".join)
_long = st.text(_chars, min_size=200, max_size=400)


def _fits(name: str) -> bool:
    return 0 < len(name.encode("utf-8")) <= N.MAX_NAME_BYTES


names = st.one_of(st.text(_chars, min_size=1, max_size=40), _paths, _long,
                  st.sampled_from(["/", "//", "a/", "/a", "a.b", "a b", "a--b", "_a", "a_"])).filter(_fits)
_alnum = st.text("abcXYZ0189", min_size=1, max_size=20)
valid_keys = st.tuples(_alnum, st.lists(st.tuples(st.sampled_from("-_"), _alnum), max_size=8)).map(
    lambda t: t[0] + "".join(sep + part for sep, part in t[1]))


@settings(max_examples=1000)
@given(names)
def test_any_name_maps_to_a_valid_deterministic_key(name: str) -> None:
    key = N.key_for(name)
    assert P.check_id(key, "key") == key
    assert N.key_for(name) == key and N.key_for(str(name)) == key  # deterministic
    assert N.key_for(key) == key  # idempotent: a key is a name of itself
    if key != name:
        assert len(key) <= N.MAX_MAPPED_KEY_LENGTH
        # chunk keys of the mapped key (up to 20-digit indices) are valid ids too
        assert P.check_id(P.chunk_key(key, 10 ** 19), "chunk key")
        assert key.endswith(N.key_for(name)[-N.HASH_CHARS:])
    assert N.name_of(key, N.name_tags(name, key)) == name


@settings(max_examples=40, suppress_health_check=[HealthCheck.large_base_example, HealthCheck.too_slow])
@given(st.lists(names, min_size=10, max_size=120, unique=True))
def test_distinct_names_never_share_a_key(batch: List[str]) -> None:
    keys = [N.key_for(name) for name in batch]
    assert len(set(keys)) == len(batch)


@settings(max_examples=300)
@given(valid_keys)
def test_valid_keys_are_stored_under_themselves(key: str) -> None:
    assert N.is_key(key)
    assert N.key_for(key) == key
    assert N.name_tags(key, key) == {}
    assert N.name_of(key, {}) == key


def test_look_alike_names_get_different_keys() -> None:
    family = ["report.pdf", "report-pdf", "report pdf", "report/pdf", "report_pdf", "reportpdf", "report..pdf"]
    keys = [N.key_for(n) for n in family]
    assert len(set(keys)) == len(family)
    assert N.key_for("report-pdf") == "report-pdf"
    assert N.key_for("report.pdf").startswith("report-pdf-")
    assert N.key_for("2024/cat.jpg").startswith("2024_cat-jpg-")


def test_the_hash_is_of_the_exact_bytes() -> None:
    nfc = unicodedata.normalize("NFC", "café.txt")
    nfd = unicodedata.normalize("NFD", "café.txt")
    assert nfc != nfd and N.key_for(nfc) != N.key_for(nfd)
    assert N.slug(nfc) == N.slug(nfd) == "cafe-txt"


def test_names_without_ascii_map_to_the_hash_alone() -> None:
    key = N.key_for("日本")
    assert len(key) == N.HASH_CHARS and P.check_id(key) == key


def test_the_longest_name_maps_to_a_short_key() -> None:
    name = "é" * (N.MAX_NAME_BYTES // 2)
    key = N.key_for(name)
    assert len(key) <= N.MAX_MAPPED_KEY_LENGTH
    assert N.key_for("a/" * 512) != N.key_for("a/" * 511 + "b")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("", "empty"), ("a\x00b", r"U\+0000"), ("line\nbreak", r"U\+000A"), ("tab\there", r"U\+0009"),
     ("del\x7f", r"U\+007F"), ("c1\x85", r"U\+0085"), ("lone\ud800", "surrogate"),
     ("x" * (N.MAX_NAME_BYTES + 1), "1025 bytes"), ("é" * 513, "1026 bytes"), (b"bytes", "string"),
     (None, "string"), (5, "string")],
)
def test_bad_names_are_refused(name: object, fragment: str) -> None:
    with pytest.raises(InvalidArgumentError, match=fragment):
        N.key_for(name)
    with pytest.raises(InvalidArgumentError):
        N.check_name(name)


def test_a_name_tag_that_does_not_map_back_is_ignored() -> None:
    key = N.key_for("a.txt")
    assert N.name_of(key, {P.TAG_NAME: "b.txt"}) == key
    assert N.name_of(key, {P.TAG_NAME: "a\x00"}) == key
    assert N.name_of(key, {P.TAG_NAME: "a.txt"}) == "a.txt"


def test_the_name_tag_is_reserved() -> None:
    with pytest.raises(InvalidArgumentError, match="reserved"):
        P.check_tags({P.TAG_NAME: "x"})
