"""Size strings <-> bytes (PROTOCOL §1.2: decimal units, only KiB/MiB/... are binary)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mictlanx_sync.errors import InvalidArgumentError, MictlanXError
from mictlanx_sync.units import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("256kb", 256_000),
        ("1MB", 1_000_000),
        ("10mb", 10_000_000),
        ("25MB", 25_000_000),
        ("1MiB", 1_048_576),
        ("1KiB", 1024),
        ("2kib", 2048),
        ("1GiB", 2**30),
        ("1TiB", 2**40),
        ("1gb", 10**9),
        ("1tb", 10**12),
        ("1k", 1000),
        ("3m", 3_000_000),
        ("512", 512),
        ("512b", 512),
        ("512 bytes", 512),
        ("0", 0),
        ("1.5kb", 1500),
        ("1.23 MB", 1_230_000),
        ("  64 KB  ", 64_000),
        (".5kb", 500),
    ],
)
def test_parse_size_strings(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("value", [0, 1, 42, 256_000, 10**12])
def test_parse_size_ints_pass_through(value: int) -> None:
    result = parse_size(value)
    assert result == value
    assert type(result) is int


@pytest.mark.parametrize(
    "value",
    ["", "   ", "abc", "kb", "-1", "-1kb", "1 zb", "1..5kb", "1e3", "0x10", "1,000", "1 2 kb", "²kb"],
)
def test_parse_size_refuses_garbage_strings(value: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_size(value)
    assert repr(value) in str(info.value) or "unit" in str(info.value)


@pytest.mark.parametrize("value", [-1, -256_000])
def test_parse_size_refuses_negative_ints(value: int) -> None:
    with pytest.raises(InvalidArgumentError, match="negative"):
        parse_size(value)


@pytest.mark.parametrize("value", [True, False])
def test_parse_size_refuses_bool(value: bool) -> None:
    with pytest.raises(InvalidArgumentError):
        parse_size(value)


@pytest.mark.parametrize("value", [1.5, None, b"1kb", [1]])
def test_parse_size_refuses_other_types(value: object) -> None:
    with pytest.raises(InvalidArgumentError):
        parse_size(value)  # type: ignore[arg-type]


def test_parse_size_error_is_value_error_and_mictlanx_error() -> None:
    with pytest.raises(ValueError):
        parse_size("nope")
    with pytest.raises(MictlanXError):
        parse_size("nope")


@pytest.mark.parametrize(
    ("num_bytes", "binary", "expected"),
    [
        (0, False, "0 bytes"),
        (512, False, "512 bytes"),
        (999, False, "999 bytes"),
        (1000, False, "1 KB"),
        (1_234_567, False, "1.23 MB"),
        (40_000, False, "40 KB"),
        (10**9, False, "1 GB"),
        (10**12, False, "1 TB"),
        (10**15, False, "1000 TB"),
        (1023, True, "1023 bytes"),
        (1024, True, "1 KiB"),
        (1_048_576, True, "1 MiB"),
        (1536, True, "1.5 KiB"),
    ],
)
def test_format_size_examples(num_bytes: int, binary: bool, expected: str) -> None:
    assert format_size(num_bytes, binary=binary) == expected


def test_format_size_refuses_negative() -> None:
    with pytest.raises(InvalidArgumentError):
        format_size(-1)


@given(st.integers(min_value=0, max_value=10**16), st.booleans())
def test_format_size_round_trips_within_rounding(num_bytes: int, binary: bool) -> None:
    back = parse_size(format_size(num_bytes, binary=binary))
    if num_bytes < (1024 if binary else 1000):
        assert back == num_bytes
    else:
        # two decimals on a value >= 1 of the unit: at most 0.5% off
        assert abs(back - num_bytes) <= num_bytes * 0.005 + 1
