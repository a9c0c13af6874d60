"""The fast path of the entry walk: runs of entries in the shapes nearly every CRL uses.

Nearly every revokedCertificates entry of a real CRL has one of four byte layouts::

    30 L 02 s <serial, s octets> 17 0d YYMMDDhhmmssZ   [30 0c 30 0a 06 03 55 1d 15 04 03 0a 01 r]
    30 L 02 s <serial, s octets> 18 0f YYYYMMDDhhmmssZ [the same reasonCode block]

(short-form lengths, a 1-20 octet serial, and either no extensions or one non-critical
reasonCode). One compiled regular expression checks a whole run of such entries in C, and
exactly: each alternative fixes L for its (serial size, Time type, extension) combination,
so the lengths must agree with the contents; the serial must be minimal; the time must be
digits with month 01-12, day 01-31, hour 00-23, minute and second 00-59 and a final Z;
the reason must be a CRLReason (0-6, 8-10). Inside a validated run the Python loop only
unpacks each entry with one `struct` call and adds up small table lookups; the calendar
check (no 30 February) runs once per distinct date.

Anything the expression does not accept (long-form lengths, serials over 20 octets, other
or critical extensions, broken encodings) goes to the exact walker in `entries`, entry by
entry. Both produce byte-identical records (tests/verify/test_entry_runs.py).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from revocd.der import ReadOnlyBytes
from revocd.errors import Rejected
from revocd.evidence import RejectReason
from revocd.revoked import NO_REASON

MAX_FAST_SERIAL = 20
FAST_WIDTH = MAX_FAST_SERIAL + 1  # key width the fast path needs: length octet + serial
_UTC_SIZE, _GEN_SIZE = 15, 17  # whole Time TLVs
_REASON_BLOCK = bytes.fromhex("300c300a0603551d1504030a01")  # crlEntryExtensions up to r
_REASON_SIZE = len(_REASON_BLOCK) + 1
_Z = 0x5A  # the last octet of an entry without extensions
_EPOCH_DAY = datetime(1970, 1, 1, tzinfo=UTC).toordinal()

_MMDD = rb"(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
_HMS = rb"(?:[01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]Z"
_TIMES = {
    _UTC_SIZE: rb"\x17\x0d[0-9]{2}" + _MMDD + _HMS,
    _GEN_SIZE: rb"\x18\x0f[0-9]{4}" + _MMDD + _HMS,
}
_EXTENSIONS = {0: b"", _REASON_SIZE: re.escape(_REASON_BLOCK) + rb"[\x00-\x06\x08-\x0a]"}


def malformed(detail: str) -> Rejected:
    return Rejected(RejectReason.MALFORMED, f"revokedCertificates: {detail}")


def day_number(date: bytes, four_digit_year: bool) -> int:
    """Days since 1970-01-01 for b'YYMMDD' (RFC 5280: 50-99 -> 19xx) or b'YYYYMMDD'."""
    if not date.isdigit():
        raise malformed(f"revocationDate {date!r} is not digits")
    if four_digit_year:
        year, rest = int(date[:4]), date[4:]
    else:
        yy = int(date[:2])
        year, rest = (1900 + yy if yy >= 50 else 2000 + yy), date[2:]
    try:
        return datetime(year, int(rest[:2]), int(rest[2:4]), tzinfo=UTC).toordinal() - _EPOCH_DAY
    except ValueError:
        raise malformed(f"revocationDate {date!r} is not a calendar date") from None


def _shapes() -> Iterator[tuple[int, int, int, int]]:
    """(entry content length L, serial size, Time TLV size, extensions size)."""
    for size in range(1, MAX_FAST_SERIAL + 1):
        for time in (_UTC_SIZE, _GEN_SIZE):
            for extensions in (0, _REASON_SIZE):
                yield 2 + size + time + extensions, size, time, extensions


def _serial_pattern(size: int) -> bytes:
    head = rb"\x02" + re.escape(bytes((size,)))
    if size == 1:
        return head + rb"[\x00-\xff]"
    minimal = rb"(?:[\x01-\xfe][\x00-\xff]|\x00[\x80-\xff]|\xff[\x00-\x7f])"
    return head + minimal + (rb"[\x00-\xff]{%d}" % (size - 2) if size > 2 else b"")


def _run_pattern() -> re.Pattern[bytes]:
    by_length: dict[int, list[bytes]] = {}
    for length, size, time, extensions in _shapes():
        body = _serial_pattern(size) + _TIMES[time] + _EXTENSIONS[extensions]
        by_length.setdefault(length, []).append(body)
    entry = b"|".join(
        re.escape(bytes((length,))) + b"(?:" + b"|".join(bodies) + b")"
        for length, bodies in sorted(by_length.items())
    )
    # possessive: a run never backtracks, so 1,000,000 entries need no backtracking stack
    return re.compile(rb"(?:\x30(?:" + entry + rb"))*+")


FAST_RUN = _run_pattern()  # compiled once; immutable


def fast_run_end(d: ReadOnlyBytes, pos: int, end: int) -> int:
    """Where the run of fast-shape entries starting at `pos` ends (`pos` if none)."""
    match = FAST_RUN.match(d, pos, end)
    return match.end() if match else pos


Unpack = Callable[[ReadOnlyBytes, int], tuple[bytes, int, int, int, int]]
Pack = Callable[[bytes, int, int], bytes]


@dataclass(frozen=True, slots=True)
class RunTables:
    """Per-walk lookup tables (built once per walk, for one key width)."""

    shapes: dict[int, tuple[Unpack, Pack]]  # (L << 8 | serial size) -> unpack, pack
    hhmm: dict[int, int]  # b"hhmm" as a big-endian int -> seconds
    ss: dict[int, int]  # b"ss" as a big-endian int -> seconds
    reasons: tuple[int, ...]  # last octet of the entry -> reason code (Z: none)

    @classmethod
    def for_width(cls, width: int) -> RunTables:
        if width < FAST_WIDTH:
            raise ValueError(f"the fast entry path needs key width >= {FAST_WIDTH}, not {width}")
        shapes: dict[int, tuple[Unpack, Pack]] = {}
        for length, size, time, extensions in _shapes():
            # -> (length octet + serial, date key, hhmm, ss, last octet of the entry)
            skip = 0 if time == _UTC_SIZE else 2  # UTCTime's key keeps its tag: 17 0d YYMMDD
            unpack = struct.Struct(f">3x{size + 1}s{skip}xQIH{extensions}xB").unpack_from
            pack = struct.Struct(f">{size + 1}s{width - size - 1}xqB").pack
            shapes[length << 8 | size] = (unpack, pack)
        hhmm = {
            int.from_bytes(b"%02d%02d" % (h, m), "big"): h * 3600 + m * 60
            for h in range(24)
            for m in range(60)
        }
        ss = {int.from_bytes(b"%02d" % s, "big"): s for s in range(60)}
        reasons = tuple(
            NO_REASON if octet == _Z else (octet if octet <= 10 and octet != 7 else -1)
            for octet in range(256)
        )
        return cls(shapes, hhmm, ss, reasons)


def date_seconds(key: int) -> int:
    """Epoch seconds at 00:00 of a date key: UTCTime ``17 0d YYMMDD`` or GeneralizedTime
    ``YYYYMMDD``, read as one big-endian 8-octet integer."""
    raw = key.to_bytes(8, "big")
    if raw[0] == 0x17:
        return day_number(raw[2:], four_digit_year=False) * 86400
    return day_number(raw, four_digit_year=True) * 86400


def walk_run(
    d: ReadOnlyBytes, pos: int, end: int, tables: RunTables, days: dict[int, int], out: list[bytes]
) -> None:
    """Append the records of d[pos:end], a run that `FAST_RUN` matched exactly.

    `days` caches date key -> epoch seconds across calls; a date seen for the first time
    is checked against the calendar (raising Rejected for 30 February).
    """
    shapes, hhmm, ss, reasons = tables.shapes, tables.hhmm, tables.ss, tables.reasons
    append = out.append
    while True:
        try:
            while pos < end:
                length = d[pos + 1]
                unpack, pack = shapes[length << 8 | d[pos + 3]]
                key, date, hm, s, last = unpack(d, pos)
                append(pack(key, days[date] + hhmm[hm] + ss[s], reasons[last]))
                pos += length + 2
        except KeyError:
            # Only `days` can miss in a validated run (the expression bounds everything else).
            date = shapes[d[pos + 1] << 8 | d[pos + 3]][0](d, pos)[1]
            if date in days:
                raise
            days[date] = date_seconds(date)
            continue
        return
