"""The fast entry walker agrees with cryptography's own parse, entry for entry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revocd.der import encode_tlv
from revocd.errors import Rejected
from revocd.evidence import RevocationReason
from revocd.revoked import Revocation
from revocd.serials import content_from_int
from revocd.verify.crl import verify_crl
from revocd.verify.entries import build_index
from tests.support.dercrl import raw_entry, reason_extensions, utctime
from tests.support.pki import T0, Entry, make_crl
from tests.verify.helpers import ISSUING, ctx

REASON_EXTENSION = reason_extensions(b"\x0a\x01\x01")[2:]  # one Extension TLV
CODES = {flag: RevocationReason[flag.name.upper()] for flag in x509.ReasonFlags}

entries = st.lists(
    st.builds(
        Entry,
        serial=st.integers(min_value=1, max_value=2**159 - 1),  # up to 20 octets
        revoked_at=st.datetimes(
            min_value=datetime(1950, 1, 1), max_value=datetime(2120, 12, 31, 23, 59, 59)
        ).map(lambda d: d.replace(microsecond=0, tzinfo=UTC)),
        reason=st.sampled_from([None, *x509.ReasonFlags]),
    ),
    max_size=25,
    unique_by=lambda e: e.serial,
)


def reason_of(revoked: x509.RevokedCertificate) -> RevocationReason | None:
    try:
        flag = revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return None
    return CODES[flag]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries)
def test_walker_matches_cryptography(items: list[Entry]) -> None:
    der = make_crl(ISSUING, items, number=1, next_update=datetime(2121, 1, 1, tzinfo=UTC))
    evidence = verify_crl(der, ctx(ISSUING))
    theirs = {
        content_from_int(r.serial_number): Revocation(
            content_from_int(r.serial_number), r.revocation_date_utc, reason_of(r)
        )
        for r in x509.load_der_x509_crl(der)
    }
    assert evidence.meta.entry_count == len(theirs)
    assert {r.serial: r for r in evidence.index} == theirs


def test_the_walker_widens_for_serials_longer_than_20_octets() -> None:
    # RFC 5280 caps serials at 20 octets, but CAs exist that break it: keep them exact.
    long_serial = b"\x01" + bytes(29)
    when = utctime(T0)
    data = raw_entry(b"\x05", when) + raw_entry(
        long_serial, when, reason_extensions(b"\x0a\x01\x01")
    )
    index, count = build_index(data, 0, len(data))
    assert count == 2
    assert index.lookup(long_serial) == Revocation(long_serial, T0, RevocationReason(1))
    assert index.lookup(b"\x05") == Revocation(b"\x05", T0, None)


@pytest.mark.parametrize(
    ("entry", "detail"),
    [
        (raw_entry(b"", utctime(T0)), "length 0"),
        (raw_entry(b"\x05", utctime(T0))[:-1], "runs past the list"),
        (raw_entry(b"\x05", utctime(T0)) + b"\x30", "truncated"),
        (raw_entry(b"\x05", b"\x04\x00"), "not a DER Time"),
        (raw_entry(b"\x05", b"\x18\x0d" + b"250101000000Z"), "not a DER Time"),
        (raw_entry(b"\x05", utctime(T0), b"\x30\x00"), "non-empty"),
        (
            raw_entry(b"\x05", utctime(T0), encode_tlv(0x30, REASON_EXTENSION * 2)),
            "twice",
        ),
    ],
    ids=[
        "empty-serial",
        "entry-cut-short",
        "dangling-byte",
        "date-not-a-time",
        "generalizedtime-with-utctime-length",
        "empty-extensions",
        "reason-twice",
    ],
)
def test_the_walker_refuses_broken_entries(entry: bytes, detail: str) -> None:
    with pytest.raises(Rejected) as refused:
        build_index(entry, 0, len(entry))
    assert refused.value.reason.value == "malformed"
    assert detail in refused.value.detail


def test_utctime_years_split_at_1950() -> None:
    data = raw_entry(b"\x01", b"\x17\x0d500101000000Z") + raw_entry(
        b"\x02", b"\x17\x0d491231235959Z"
    )
    index, _ = build_index(data, 0, len(data))
    assert [r.revoked_at for r in sorted(index, key=lambda r: r.serial)] == [
        datetime(1950, 1, 1, tzinfo=UTC),
        datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC),
    ]
