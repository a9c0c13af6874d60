"""A compact, immutable table of revoked serials, for one CRL (or one sticky set).

A dict of Python objects costs ~175 bytes per entry; this table costs about
``key_width + 9`` bytes (~30 for 20-octet serials), so a 1,000,000-entry CRL fits in
~30 MB and loads from the store as one blob.

Layout: ``blob`` is a sequence of fixed-size records sorted by key::

    key (key_width octets) | revoked_at (8 octets, signed big-endian epoch seconds) | reason (1)

A key is ``len(content)`` (1 octet) + the serial's DER INTEGER content octets, padded with
zeros to ``key_width``. The length prefix makes the padding unambiguous, so DER ``ff``
(-1) and ``00ff`` (255) get different keys. ``reason`` is the RFC 5280 CRLReason code,
or 255 when the entry has no reasonCode extension.

The blob may be several sorted *runs* one after the other (`runs` gives each run's record
count): a big CRL is indexed by several worker processes in parallel, each sorting its own
part, and merging them would cost another pass. Lookup is a binary search per run (~20
slice comparisons for 1M entries).
"""

from __future__ import annotations

import bisect
import mmap
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO

from revocd.der import ReadOnlyBytes

NO_REASON = 255
_TAIL = struct.Struct(">qB")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FORMAT_VERSION = 2
_RUN = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class Revocation:
    serial: bytes  # DER INTEGER content octets
    revoked_at: datetime
    reason: int | None  # RFC 5280 CRLReason code, None when the CRL entry has none


def epoch_seconds(when: datetime) -> int:
    return int((when - _EPOCH).total_seconds())


def from_epoch(seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


def make_key(serial: bytes, key_width: int) -> bytes:
    return bytes((len(serial),)) + serial + bytes(key_width - 1 - len(serial))


def serial_of(key: bytes) -> bytes:
    return key[1 : 1 + key[0]]


class _Keys:
    """A sequence view of the keys in a blob, so `bisect` can search it without copying."""

    __slots__ = ("_blob", "_count", "_record", "_width")

    def __init__(self, blob: ReadOnlyBytes, width: int, record: int) -> None:
        self._blob = blob
        self._width = width
        self._record = record
        self._count = len(blob) // record

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i: int) -> bytes:
        start = i * self._record
        return self._blob[start : start + self._width]


@dataclass(frozen=True, slots=True)
class RevokedIndex:
    key_width: int
    blob: ReadOnlyBytes
    runs: tuple[int, ...] = ()  # record counts of the sorted runs; () means one run

    def __post_init__(self) -> None:
        if self.key_width < 1 or len(self.blob) % self.record_size:
            raise ValueError("revoked index blob is not a whole number of records")
        if self.runs and sum(self.runs) != len(self.blob) // self.record_size:
            raise ValueError("revoked index runs do not add up to its records")

    @property
    def record_size(self) -> int:
        return self.key_width + _TAIL.size

    def __len__(self) -> int:
        return len(self.blob) // self.record_size

    @property
    def nbytes(self) -> int:
        return len(self.blob)

    @classmethod
    def empty(cls) -> RevokedIndex:
        return cls(1, b"")

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[bytes, int, int]]) -> RevokedIndex:
        """Build from (serial content, revoked_at epoch seconds, reason code or NO_REASON).

        A serial listed twice keeps its first record (earliest key order is arbitrary for
        duplicates, so callers that care pass de-duplicated input).
        """
        items = list(entries)
        if not items:
            return cls.empty()
        width = 1 + max(len(serial) for serial, _, _ in items)
        records = sorted(make_key(s, width) + _TAIL.pack(t, r) for s, t, r in items)
        return cls(width, b"".join(_dedupe(records, width)))

    def lookup(self, serial: bytes) -> Revocation | None:
        if len(serial) >= self.key_width:
            return None
        key = make_key(serial, self.key_width)
        keys = _Keys(self.blob, self.key_width, self.record_size)
        low = 0
        for count in self.runs or (len(keys),):
            high = low + count
            i = bisect.bisect_left(keys, key, low, high)
            if i < high and keys[i] == key:
                return self._record(i, serial)
            low = high
        return None

    def __iter__(self) -> Iterator[Revocation]:
        size = self.record_size
        for start in range(0, len(self.blob), size):
            length = self.blob[start]
            serial = self.blob[start + 1 : start + 1 + length]
            yield self._record(start // size, serial)

    def run_bounds(self) -> list[range]:
        """The byte offsets in `blob` of each sorted run of records."""
        bounds, start = [], 0
        for count in self.runs or (len(self),):
            bounds.append(range(start, start + count * self.record_size))
            start += count * self.record_size
        return bounds

    def sorted_keys(self, width: int) -> list[bytes]:
        """Every key in order, at `width` (at least `key_width`): a wider key is the same
        key padded with zeros, so two indexes of different widths can be compared."""
        if width < self.key_width:
            raise ValueError(f"key width {width} is narrower than the index's {self.key_width}")
        blob, size, own = self.blob, self.record_size, self.key_width
        pad = bytes(width - own)
        keys = [blob[s : s + own] + pad for s in range(0, len(blob), size)]
        if len(self.runs) > 1:
            keys.sort()  # Timsort merges already sorted runs in linear time
        return keys

    def _record(self, i: int, serial: bytes) -> Revocation:
        start = i * self.record_size + self.key_width
        seconds, reason = _TAIL.unpack_from(self.blob, start)
        return Revocation(serial, from_epoch(seconds), None if reason == NO_REASON else reason)

    def header(self) -> bytes:
        """Persistable form, part 1: version, key width, run count, run lengths."""
        runs = self.runs or (len(self),)
        return bytes((_FORMAT_VERSION, self.key_width, len(runs))) + b"".join(
            _RUN.pack(n) for n in runs
        )

    @staticmethod
    def read_header(file: IO[bytes]) -> bytes:
        """`header()`, read from `file` (checked by `from_parts`)."""
        start = file.read(3)
        return start + file.read(start[2] * _RUN.size if len(start) == 3 else 0)

    @classmethod
    def from_parts(cls, header: bytes, blob: ReadOnlyBytes) -> RevokedIndex:
        """From `header()` and `blob`, stored apart so that saving never copies the blob (a
        mapped blob is kept as it is)."""
        if len(header) < 3 or header[0] != _FORMAT_VERSION:
            raise ValueError("unknown revoked index format; was it written by a newer revocd?")
        width, count = header[1], header[2]
        if len(header) != 3 + count * _RUN.size:
            raise ValueError("revoked index header is truncated")
        runs = tuple(_RUN.unpack_from(header, 3 + i * _RUN.size)[0] for i in range(count))
        kept = blob if isinstance(blob, mmap.mmap) else bytes(blob)
        return cls(width, kept, runs if count > 1 else ())


def _dedupe(records: list[bytes], width: int) -> Iterator[bytes]:
    previous = b""
    for record in records:
        key = record[:width]
        if key != previous:
            yield record
            previous = key
