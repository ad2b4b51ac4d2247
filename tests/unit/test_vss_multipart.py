"""The streaming multipart/form-data parser of the local VSS."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mictlanx_sync.vss.multipart import MultipartError, boundary_from_content_type, iter_field

B = b"XyZ-boundary-123"


def _body(parts, boundary=B, preamble=b"", epilogue=b"\r\n"):
    out = preamble
    for name, content in parts:
        out += b"--" + boundary + b"\r\n"
        out += b'Content-Disposition: form-data; name="' + name + b'"; filename="k"\r\n'
        out += b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n"
    return out + b"--" + boundary + b"--" + epilogue


def _split(data, cuts):
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


def test_extracts_the_data_part():
    content = os.urandom(100_000)
    body = _body([(b"data", content)])
    assert b"".join(iter_field([body], B, "data")) == content


def test_skips_other_parts_and_keeps_the_first_data_part():
    body = _body([(b"other", b"x" * 10), (b"data", b"payload"), (b"data", b"second")],
                 preamble=b"ignored preamble\r\n")
    assert b"".join(iter_field([body], B, "data")) == b"payload"


def test_content_that_almost_contains_the_boundary():
    content = b"\r\n--XyZ-boundary-12\r\n--XyZ" + b"\r\n-" * 50
    body = _body([(b"data", content)])
    assert b"".join(iter_field(_split(body, range(0, len(body), 3)), B, "data")) == content


@settings(max_examples=200, deadline=None)
@given(content=st.binary(max_size=600), cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=20))
def test_any_split_of_the_input_gives_the_same_bytes(content, cuts):
    body = _body([(b"data", content)])
    assert b"".join(iter_field(_split(body, cuts), B, "data")) == content


def test_streams_in_pieces_without_joining():
    content = os.urandom(1 << 20)
    body = _body([(b"data", content)])
    pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)]
    out = list(iter_field(pieces, B, "data"))
    assert len(out) > 4 and max(len(p) for p in out) <= 65536 + 100
    assert b"".join(out) == content


@pytest.mark.parametrize("cut", [1, 10, 60, 150, -20, -3, -1])
def test_truncated_bodies_are_refused(cut):
    body = _body([(b"data", b"hello world" * 20)], epilogue=b"")
    with pytest.raises(MultipartError):
        b"".join(iter_field([body[:cut]], B, "data"))


def test_missing_part_and_garbage_are_refused():
    with pytest.raises(MultipartError, match="no part named"):
        b"".join(iter_field([_body([(b"file", b"x")])], B, "data"))
    with pytest.raises(MultipartError):
        b"".join(iter_field([b"not multipart at all" * 1000], B, "data"))
    with pytest.raises(MultipartError):
        b"".join(iter_field([], B, "data"))


def test_boundary_from_content_type():
    assert boundary_from_content_type("multipart/form-data; boundary=abc") == b"abc"
    assert boundary_from_content_type('multipart/form-data; charset=x; boundary="a b"') == b"a b"
    for bad in (None, "application/json", "multipart/form-data"):
        with pytest.raises(MultipartError):
            boundary_from_content_type(bad)
