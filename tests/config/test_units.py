"""The duration and size syntax of the config file: what parses to what, what is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from revocd.units import parse_duration, parse_size

GOOD_DURATIONS = [
    ("250ms", timedelta(milliseconds=250)),
    ("90s", timedelta(seconds=90)),
    ("5m", timedelta(minutes=5)),
    ("2h", timedelta(hours=2)),
    ("1d", timedelta(days=1)),
    ("1w", timedelta(weeks=1)),
    ("1.5h", timedelta(minutes=90)),
    ("0s", timedelta(0)),
    (" 5 m ", timedelta(minutes=5)),
]


@pytest.mark.parametrize(("text", "expected"), GOOD_DURATIONS, ids=[t for t, _ in GOOD_DURATIONS])
def test_parse_duration_accepts(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


BAD_DURATIONS = [
    ("no-unit", "300"),
    ("int-not-string", 300),
    ("unknown-unit", "5y"),
    ("words", "5 minutes"),
    ("upper-case-unit", "5M"),
    ("negative", "-5m"),
    ("compound", "1h30m"),
    ("empty", ""),
    ("bool", True),
]


@pytest.mark.parametrize("text", [t for _, t in BAD_DURATIONS], ids=[i for i, _ in BAD_DURATIONS])
def test_parse_duration_refuses_with_hint(text: object) -> None:
    with pytest.raises(ValueError, match="is not a duration") as caught:
        parse_duration(text)  # type: ignore[arg-type]
    assert "use 90s, 5m, 2h, 1d" in str(caught.value)
    assert repr(text) in str(caught.value)


GOOD_SIZES = [
    ("200MiB", 200 * 1024**2),
    ("512KiB", 512 * 1024),
    ("1GiB", 1024**3),
    ("10MB", 10 * 1000**2),
    ("10M", 10 * 1000**2),
    ("4k", 4000),
    ("100B", 100),
    ("100", 100),
    (1048576, 1048576),
    (0, 0),
    ("1.5KiB", 1536),
]


@pytest.mark.parametrize(("text", "expected"), GOOD_SIZES, ids=[str(t) for t, _ in GOOD_SIZES])
def test_parse_size_accepts(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


BAD_SIZES = [
    ("lower-case-unit", "200mib", "is not a size"),
    ("words", "200 megabytes", "is not a size"),
    ("negative-int", -1, "is negative"),
    ("negative-string", "-1MiB", "is not a size"),
    ("float-not-string", 1.5, "is not a size"),
    ("bool", True, "is not a size"),
    ("empty", "", "is not a size"),
]


@pytest.mark.parametrize(
    ("text", "problem"), [(t, p) for _, t, p in BAD_SIZES], ids=[i for i, _, _ in BAD_SIZES]
)
def test_parse_size_refuses_with_hint(text: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        parse_size(text)  # type: ignore[arg-type]
    assert "use 512KiB, 200MiB, 1GiB" in str(caught.value)
