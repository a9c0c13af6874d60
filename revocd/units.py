"""Human units in the config: durations ("90s", "5m", "2h", "1d") and sizes ("200MiB")."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_DURATION_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB|k|K|M|G)?\s*$")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "k": 1000,
    "K": 1000,
    "KB": 1000,
    "M": 1000**2,
    "MB": 1000**2,
    "G": 1000**3,
    "GB": 1000**3,
}

DURATION_HINT = "use 90s, 5m, 2h, 1d"
SIZE_HINT = "use 512KiB, 200MiB, 1GiB"


def parse_duration(text: str) -> timedelta:
    """Parse "90s", "5m", "2h", "1d", "1w", "250ms". Raises ValueError with a hint."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a duration ({DURATION_HINT})")
    try:
        return float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration ({DURATION_HINT})") from None


def parse_size(text: str | int) -> int:
    """Parse "200MiB", "512KiB", "10MB" or a plain byte count. Raises ValueError with a hint."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"{text!r} is negative ({SIZE_HINT})")
        return text
    match = _SIZE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a size ({SIZE_HINT})")
    try:
        return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])
    except (OverflowError, ValueError):
        raise ValueError(f"{text!r} is too large a size ({SIZE_HINT})") from None


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling of a duration, for messages and `revocd status`."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
