"""The revokedCertificates walker: DER bytes -> RevokedIndex, fast and strict.

cryptography's per-entry iteration costs ~2.5 s per million entries, so the entry list is
walked here over the bytes. Each entry is::

    SEQUENCE { userCertificate INTEGER, revocationDate Time,
               crlEntryExtensions Extensions OPTIONAL }

Two walkers, byte-identical in what they produce and what they refuse:

- runs of entries in the few shapes nearly every CRL uses (1-20 octet serial, no
  extension or one reasonCode) are validated by one regular expression in C and unpacked
  with one `struct` call each (`entry_runs`): ~0.7 us per entry;
- anything else goes through the exact walker below, entry by entry: definite minimal
  lengths, every entry exactly filled, minimal INTEGER serials, UTCTime as YYMMDDHHMMSSZ
  and GeneralizedTime as YYYYMMDDHHMMSSZ with a real calendar date and time, entry
  extensions fully parsed (reasonCode read, unknown critical ones refused). Dates, times
  of day and whole entry-extension blocks repeat, so each distinct one is parsed once.

Duplicate serials: a serial listed twice keeps all its records (deterministic, nothing
is dropped); `RevokedIndex.lookup` returns the first in key order, which is the earliest
revocation date when the dates are from 1970 on (the epoch is stored as signed
big-endian, so a pre-1970 date sorts after them). The serials stay revoked either way.
"""

from __future__ import annotations

import struct

from revocd.der import DerError, ReadOnlyBytes, expect, read_tlv
from revocd.errors import Rejected
from revocd.evidence import RejectReason
from revocd.revoked import NO_REASON, RevokedIndex
from revocd.serials import MAX_SERIAL_OCTETS
from revocd.verify.entry_runs import (
    FAST_WIDTH,
    RunTables,
    day_number,
    fast_run_end,
    malformed,
    walk_run,
)

_OID_REASON = bytes.fromhex("551d15")
_OID_INVALIDITY = bytes.fromhex("551d18")
_OID_CERT_ISSUER = bytes.fromhex("551d1d")
_CACHE_LIMIT = 100_000
_DEFAULT_WIDTH = FAST_WIDTH  # 1 length octet + 20 serial octets (RFC 5280's maximum)
_MAX_SLOW_BATCH = 4096


def _second_of_day(hms: bytes, text: bytes) -> int:
    """Seconds since midnight for b'HHMMSS'; raises Rejected if it is not a time of day."""
    if not hms.isdigit():
        raise malformed(f"revocationDate {text!r} is not digits")
    h, rest = divmod(int(hms), 10000)
    m, s = divmod(rest, 100)
    if h > 23 or m > 59 or s > 59:
        raise malformed(f"revocationDate {text!r} is not a time of day")
    return h * 3600 + m * 60 + s


def parse_entry_extensions(blob: bytes) -> int:
    """The reason code (or NO_REASON) from one entry's Extensions; raises Rejected."""
    try:
        outer = expect(blob, 0, 0x30)
        if outer.end != len(blob) or outer.length == 0:
            raise malformed("crlEntryExtensions must be a non-empty SEQUENCE filling the entry")
        reason = NO_REASON
        seen: set[bytes] = set()
        pos = outer.content_start
        while pos < outer.end:
            ext = expect(blob, pos, 0x30, outer.end)
            oid = expect(blob, ext.content_start, 0x06, ext.end)
            oid_bytes = blob[oid.content_start : oid.end]
            nxt = oid.end
            critical = False
            item = read_tlv(blob, nxt, ext.end)
            if item.tag == 0x01:
                if item.length != 1 or blob[item.content_start] not in (0x00, 0xFF):
                    raise malformed("entry extension critical flag is not a DER BOOLEAN")
                critical = blob[item.content_start] == 0xFF
                if not critical:
                    raise malformed("entry extension encodes the DEFAULT critical=FALSE")
                item = read_tlv(blob, item.end, ext.end)
            if item.tag != 0x04 or item.end != ext.end:
                raise malformed("entry extension value is not an OCTET STRING ending it")
            if oid_bytes in seen:
                raise malformed("an entry extension appears twice")
            seen.add(oid_bytes)
            value = blob[item.content_start : item.end]
            if oid_bytes == _OID_REASON:
                reason = _reason(value)
            elif oid_bytes == _OID_CERT_ISSUER:
                raise Rejected(
                    RejectReason.UNSUPPORTED_SCOPE,
                    "an entry carries certificateIssuer (an indirect CRL); indirect CRLs "
                    "are not supported yet",
                )
            elif oid_bytes == _OID_INVALIDITY:
                pass  # informational: revocd reports the revocation date
            elif critical:
                raise Rejected(
                    RejectReason.UNKNOWN_CRITICAL_EXTENSION,
                    f"an entry carries an unknown critical extension (OID bytes "
                    f"{oid_bytes.hex()}); RFC 5280 forbids using this CRL",
                )
            pos = ext.end
    except DerError as error:
        raise malformed(str(error)) from None
    return reason


def _reason(value: bytes) -> int:
    if len(value) != 3 or value[0] != 0x0A or value[1] != 0x01:
        raise malformed(f"reasonCode {value.hex()} is not a one-octet ENUMERATED")
    code = value[2]
    if code > 10 or code == 7:
        raise malformed(f"reasonCode {code} is not a CRLReason (0-6, 8-10)")
    return code


class BoundaryMiss(Exception):
    """A guessed split point of the entry list is not an entry boundary (not an error of
    the CRL: the caller walks the list in one piece instead)."""


def build_index(der: bytes, start: int, end: int) -> tuple[RevokedIndex, int]:
    """Walk the entries in der[start:end] (the revokedCertificates content).

    Returns the index and the number of entries.
    """
    width, records = walk_sorted(der, start, end, _DEFAULT_WIDTH, guessed_end=False)
    return RevokedIndex(width, b"".join(records)), len(records)


def walk_sorted(
    der: ReadOnlyBytes, start: int, end: int, width: int, *, guessed_end: bool
) -> tuple[int, list[bytes]]:
    """Walk entries from `start` (a true entry boundary) to `end`, sorted into one run.

    With `guessed_end`, `end` is a guess from `find_boundary`: landing anywhere but exactly on
    it raises BoundaryMiss (and landing on it proves the guess right). Returns the key width
    used (at least `width`) and the sorted records; a top-level function, so a process pool
    can run it on one part of a big CRL while another part runs elsewhere.
    """
    while True:
        try:
            records = _walk(der, start, end, width)
        except Rejected:
            if guessed_end:
                raise BoundaryMiss from None
            raise
        if isinstance(records, int):  # a serial longer than `width` allows: widen and redo
            width = records + 1
            continue
        records.sort()
        return width, records


def find_boundary(der: bytes, start: int, end: int, near: int) -> int | None:
    """An offset in [near, end) that looks like the start of an entry followed by more
    entries (or the end of the list). A guess only: `walk_sorted(..., guessed_end=True)` on the
    preceding part confirms it."""
    limit = min(end, near + 65536)
    pos = max(near, start)
    while pos < limit:
        pos = der.find(b"\x30", pos, limit)
        if pos < 0:
            return None
        if _plausible_chain(der, pos, end, 4):
            return pos
        pos += 1
    return None


def _plausible_chain(der: bytes, pos: int, end: int, count: int) -> bool:
    for _ in range(count):
        if pos == end:
            return True
        try:
            entry = expect(der, pos, 0x30, end)
            serial = expect(der, entry.content_start, 0x02, entry.end)
            when = read_tlv(der, serial.end, entry.end)
        except DerError:
            return False
        if when.tag not in (0x17, 0x18) or when.length not in (13, 15):
            return False
        pos = entry.end
    return True


def _walk(d: ReadOnlyBytes, pos: int, end: int, width: int) -> list[bytes] | int:
    """Sorted-later records of d[pos:end], or the serial size that needs a wider key.

    Fast runs first; after an entry the fast path refuses, the exact walker takes 1, 2,
    4, ... entries before the fast path is tried again, so a CRL of only unusual entries
    costs one failed match per batch, not per entry.
    """
    exact = _Exact(width)
    fast = RunTables.for_width(width) if width >= FAST_WIDTH else None
    days: dict[int, int] = {}
    out: list[bytes] = []
    batch = 1
    try:
        while pos < end:
            if fast is not None:
                run_end = fast_run_end(d, pos, end)
                if run_end > pos:
                    walk_run(d, pos, run_end, fast, days, out)
                    pos, batch = run_end, 1
                    continue
            for _ in range(batch):
                result = exact.entry(d, pos, end)
                if isinstance(result, int):  # a serial longer than `width` allows
                    return result
                out.append(result[0])
                pos = result[1]
                if pos >= end:
                    break
            batch = min(2 * batch, _MAX_SLOW_BATCH)
    except IndexError:
        raise malformed("truncated entry list") from None
    if pos != end:
        raise malformed("entry list does not end where its SEQUENCE does")
    return out


class _Exact:
    """The exact walker, one entry at a time, with its per-walk caches."""

    __slots__ = ("days", "extensions", "packs", "seconds", "width")

    def __init__(self, width: int) -> None:
        self.width = width
        # one struct per serial length: length octet, serial, zero padding, epoch, reason
        self.packs = [struct.Struct(f">B{n}s{width - 1 - n}xqB").pack for n in range(width)]
        self.days: dict[bytes, int] = {}
        self.seconds: dict[bytes, int] = {}
        self.extensions: dict[bytes, int] = {}

    def entry(self, d: ReadOnlyBytes, pos: int, end: int) -> tuple[bytes, int] | int:
        """(record, offset past the entry), or the serial size if it needs a wider key.

        Raises Rejected; IndexError on truncation (the caller maps it to malformed).
        """
        if d[pos] != 0x30:
            raise malformed(f"entry at offset {pos} is not a SEQUENCE")
        n = d[pos + 1]
        if n < 0x80:
            p = pos + 2
        elif n == 0x81:
            n = d[pos + 2]
            p = pos + 3
            if n < 0x80:
                raise malformed(f"non-minimal length at offset {pos}")
        elif n == 0x82:
            n = (d[pos + 2] << 8) | d[pos + 3]
            p = pos + 4
            if n < 0x100:
                raise malformed(f"non-minimal length at offset {pos}")
        else:
            raise malformed(f"entry at offset {pos} is implausibly long")
        entry_end = p + n
        if entry_end > end:
            raise malformed(f"entry at offset {pos} runs past the list")
        # userCertificate INTEGER
        if d[p] != 0x02:
            raise malformed(f"entry at offset {pos} does not start with an INTEGER serial")
        size = d[p + 1]
        if size == 0 or size > MAX_SERIAL_OCTETS:
            raise malformed(f"serial at offset {p} has length {size}")
        if size >= self.width:
            return size
        q = p + 2 + size
        serial = d[p + 2 : q]
        if size > 1 and (
            (serial[0] == 0 and serial[1] < 0x80) or (serial[0] == 0xFF and serial[1] >= 0x80)
        ):
            raise malformed(f"serial {serial.hex()} is not minimally encoded")
        # revocationDate Time
        tag = d[q]
        length = d[q + 1]
        text = d[q + 2 : q + 2 + length]
        q += 2 + length
        if tag == 0x17 and length == 13 and text[12] == 0x5A:
            date, hms = text[:6], text[6:12]
            four = False
        elif tag == 0x18 and length == 15 and text[14] == 0x5A:
            date, hms = text[:8], text[8:14]
            four = True
        else:
            raise malformed(f"revocationDate at offset {q - 2 - length} is not a DER Time")
        day = self.days.get(date)
        if day is None:
            day = day_number(date, four)
            if len(self.days) < _CACHE_LIMIT:
                self.days[date] = day
        second = self.seconds.get(hms)
        if second is None:
            second = _second_of_day(hms, text)
            self.seconds[hms] = second  # at most 86,400 distinct values
        # crlEntryExtensions
        if q == entry_end:
            reason = NO_REASON
        elif q < entry_end:
            blob = d[q:entry_end]
            cached = self.extensions.get(blob)
            if cached is None:
                cached = parse_entry_extensions(blob)
                if len(self.extensions) < _CACHE_LIMIT:
                    self.extensions[blob] = cached
            reason = cached
        else:
            raise malformed(f"entry at offset {pos} overruns its length")
        return self.packs[size](size, serial, day * 86400 + second, reason), entry_end
