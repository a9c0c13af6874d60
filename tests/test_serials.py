"""Serials are DER INTEGER values: sign matters, leading zeros are not decoration."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revocd.serials import (
    content_from_int,
    int_from_content,
    is_minimal,
    parse_serial_hex,
    serial_hex,
)


@pytest.mark.parametrize(
    ("content", "text"),
    [
        (b"\xff", "-1"),
        (b"\x00\xff", "ff"),
        (b"\x00", "0"),
        (b"\x7f", "7f"),
        (b"\x80", "-80"),
        (b"\x01\x00", "100"),
    ],
    ids=["der-ff-is-minus-1", "der-00ff-is-255", "zero", "7f", "der-80-is-minus-128", "256"],
)
def test_serial_hex_shows_the_value(content, text):
    assert serial_hex(content) == text
    assert parse_serial_hex(text) == content


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("0A:1B", 0x0A1B),
        ("0x0a1b", 0x0A1B),
        ("00FF", 255),
        (" ff ", 255),
        ("-1", -1),
    ],
    ids=["openssl-colons", "0x-prefix", "leading-zero-is-value", "whitespace", "negative"],
)
def test_people_type_serials_many_ways(typed, value):
    assert int_from_content(parse_serial_hex(typed)) == value


@pytest.mark.parametrize(
    "bad",
    ["", "xyz", "-", "0x", "12g4", "a" * 300],
    ids=["empty", "letters", "dash", "0x", "g", "too-long"],
)
def test_bad_serials_are_refused_with_a_hint(bad):
    with pytest.raises(ValueError, match="not a hex number"):
        parse_serial_hex(bad)


@given(st.integers(min_value=-(2**160), max_value=2**160))
def test_content_round_trips_and_is_minimal_der(value):
    content = content_from_int(value)
    assert int_from_content(content) == value
    assert is_minimal(content)


@pytest.mark.parametrize(
    ("content", "minimal"),
    [(b"\x00\x7f", False), (b"\xff\x80", False), (b"\x00\x80", True), (b"", False)],
    ids=["redundant-00", "redundant-ff", "needed-00", "empty"],
)
def test_minimal_encoding(content, minimal):
    assert is_minimal(content) is minimal
