"""The entry walk is exact whichever path an entry takes (fast runs or the exact walker).

Entries are hand-assembled from a model (serial value, date, extensions), so negative and
over-long serials, GeneralizedTime and every extension shape are covered; the expected
index comes from the model, not from revocd's parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revocd.der import encode_tlv
from revocd.errors import Rejected
from revocd.evidence import RejectReason
from revocd.revoked import Revocation
from revocd.serials import content_from_int
from revocd.verify.entries import build_index
from tests.support.dercrl import raw_entry

REASON_OID = bytes.fromhex("0603551d15")
INVALIDITY_OID = bytes.fromhex("0603551d18")
CRITICAL = b"\x01\x01\xff"
UNKNOWN_OID = encode_tlv(0x06, bytes.fromhex("2b0601040183b2230101"))
REASONS = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10]
EXTENSION_SHAPES = [
    "none",
    "reason",
    "reason-critical",
    "invalidity",
    "reason-and-invalidity",
    "unknown-non-critical",
]


def time_tlv(when: datetime, generalized: bool) -> bytes:
    if generalized:
        return encode_tlv(0x18, f"{when.year:04d}{when:%m%d%H%M%S}Z".encode())
    return encode_tlv(0x17, f"{when:%y%m%d%H%M%S}Z".encode())


def extension(oid: bytes, value: bytes, critical: bool = False) -> bytes:
    return encode_tlv(0x30, oid + (CRITICAL if critical else b"") + encode_tlv(0x04, value))


def extensions(shape: str, reason: int) -> tuple[bytes, int | None]:
    """(crlEntryExtensions TLV or b"", the reason code revocd must read)."""
    code = extension(REASON_OID, bytes((0x0A, 1, reason)))
    invalidity = extension(INVALIDITY_OID, encode_tlv(0x18, b"20240101000000Z"))
    parts = {
        "none": [],
        "reason": [code],
        "reason-critical": [extension(REASON_OID, bytes((0x0A, 1, reason)), critical=True)],
        "invalidity": [invalidity],
        "reason-and-invalidity": [code, invalidity],
        "unknown-non-critical": [extension(UNKNOWN_OID, b"\x05\x00")],
    }[shape]
    has_reason = shape.startswith("reason")
    return (encode_tlv(0x30, b"".join(parts)) if parts else b""), reason if has_reason else None


@dataclass(frozen=True)
class Model:
    serial: int
    when: datetime
    generalized: bool
    shape: str
    reason: int

    def der(self) -> bytes:
        block, _ = extensions(self.shape, self.reason)
        return raw_entry(
            content_from_int(self.serial), time_tlv(self.when, self.generalized), block
        )

    def expected(self) -> Revocation:
        _, reason = extensions(self.shape, self.reason)
        return Revocation(content_from_int(self.serial), self.when, reason)


def models() -> st.SearchStrategy[Model]:
    @st.composite
    def one(draw: st.DrawFn) -> Model:
        generalized = draw(st.booleans())
        low, high = (
            (datetime(1, 1, 1), datetime(9999, 12, 31))
            if generalized
            else (datetime(1950, 1, 1), datetime(2049, 12, 31, 23, 59, 59))
        )
        when = draw(st.datetimes(min_value=low, max_value=high))
        return Model(
            serial=draw(
                st.one_of(
                    st.integers(min_value=1, max_value=2**159 - 1),  # RFC 5280 serials
                    st.integers(min_value=-(2**240), max_value=2**240),  # broken CAs
                )
            ),
            when=when.replace(microsecond=0, tzinfo=UTC),
            generalized=generalized,
            shape=draw(st.sampled_from(EXTENSION_SHAPES)),
            reason=draw(st.sampled_from(REASONS)),
        )

    return one()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(models(), max_size=40, unique_by=lambda m: m.serial))
def test_every_entry_shape_is_indexed_exactly(items: list[Model]) -> None:
    data = b"".join(m.der() for m in items)
    index, count = build_index(data, 0, len(data))
    assert count == len(items)
    assert sorted(index, key=lambda r: r.serial) == sorted(
        (m.expected() for m in items), key=lambda r: r.serial
    )
    for m in items:
        assert index.lookup(content_from_int(m.serial)) == m.expected()


GOOD = raw_entry(b"\x10\x01", encode_tlv(0x17, b"260101000000Z"))
REASON_BLOCK = bytes.fromhex("300c300a0603551d1504030a01")


def entry(serial: bytes, time: bytes, tail: bytes = b"", length_delta: int = 0) -> bytes:
    body = encode_tlv(0x02, serial) + time + tail
    return bytes((0x30, len(body) + length_delta)) + body


def utc(text: bytes) -> bytes:
    return encode_tlv(0x17, text)


# Entries that look like the common shapes but are not DER, or not dates, or not reasons.
BROKEN = [
    ("length-one-short", entry(b"\x05", utc(b"260101000000Z"), length_delta=-1)),
    ("length-one-long", entry(b"\x05", utc(b"260101000000Z"), length_delta=1)),
    ("serial-leading-zero", entry(b"\x00\x05", utc(b"260101000000Z"))),
    ("serial-leading-ff", entry(b"\xff\x85", utc(b"260101000000Z"))),
    ("month-00", entry(b"\x05", utc(b"260001000000Z"))),
    ("day-32", entry(b"\x05", utc(b"260132000000Z"))),
    ("february-30", entry(b"\x05", utc(b"260230000000Z"))),
    ("generalized-february-29-2100", entry(b"\x05", encode_tlv(0x18, b"21000229000000Z"))),
    ("hour-24", entry(b"\x05", utc(b"260101240000Z"))),
    ("minute-60", entry(b"\x05", utc(b"260101006000Z"))),
    ("second-60", entry(b"\x05", utc(b"260101000060Z"))),
    ("no-z", entry(b"\x05", utc(b"260101000000+"))),
    ("utctime-with-century", entry(b"\x05", utc(b"20260101000000Z"))),
    ("letters-in-date", entry(b"\x05", utc(b"26O101000000Z"))),
    ("reason-7", entry(b"\x05", utc(b"260101000000Z"), REASON_BLOCK + b"\x07")),
    ("reason-11", entry(b"\x05", utc(b"260101000000Z"), REASON_BLOCK + b"\x0b")),
    ("reason-block-cut", entry(b"\x05", utc(b"260101000000Z"), REASON_BLOCK)),
]


@pytest.mark.parametrize("position", ["alone", "after-good-entries"])
@pytest.mark.parametrize("broken", [b for _, b in BROKEN], ids=[i for i, _ in BROKEN])
def test_broken_entries_are_malformed_wherever_they_are(broken: bytes, position: str) -> None:
    data = (GOOD * 50 if position != "alone" else b"") + broken
    with pytest.raises(Rejected) as refused:
        build_index(data, 0, len(data))
    assert refused.value.reason is RejectReason.MALFORMED


def test_a_serial_listed_twice_keeps_both_and_answers_the_earliest() -> None:
    early, late = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)
    data = entry(b"\x05", time_tlv(late, False), REASON_BLOCK + b"\x04") + entry(
        b"\x05", time_tlv(early, False), REASON_BLOCK + b"\x01"
    )
    index, count = build_index(data, 0, len(data))
    assert count == 2
    assert index.lookup(b"\x05") == Revocation(b"\x05", early, 1)


def test_ten_thousand_common_entries_with_rare_odd_ones() -> None:
    """Fast runs broken by entries only the exact walker takes (a long serial, an
    invalidityDate, a critical reasonCode) still give every entry, each exactly once."""
    base = datetime(2025, 3, 1, tzinfo=UTC)
    items = []
    for i in range(10_000):
        shape = "reason" if i % 2 else "none"
        if i % 997 == 0:
            shape = ("invalidity", "reason-critical", "reason-and-invalidity")[i % 3]
        serial = (i + 1) << (8 * 25 if i == 5000 else 100)
        when = base + timedelta(seconds=37 * i)
        items.append(Model(serial, when, False, shape, REASONS[i % len(REASONS)]))
    data = b"".join(m.der() for m in items)
    index, count = build_index(data, 0, len(data))
    assert count == len(items)
    assert index.key_width == 1 + len(content_from_int(items[5000].serial))
    for m in [*items[::97], items[5000], items[997], items[1994]]:
        assert index.lookup(content_from_int(m.serial)) == m.expected()
