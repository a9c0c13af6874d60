"""The fast entry walker agrees with cryptography's own parse, entry for entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revocd.revoked import epoch_seconds
from revocd.serials import content_from_int
from revocd.verify.crl import CrlCheckContext, verify_crl
from tests.support.pki import T0, Entry, make_ca, make_crl

CA = make_ca("Property CA")
CTX = CrlCheckContext(
    CA.cert.public_bytes(serialization.Encoding.DER),
    "p",
    "u",
    ("u",),
    T0 + timedelta(hours=1),
    timedelta(minutes=5),
    10**7,
)
REASONS = [None, *x509.ReasonFlags]

entries = st.lists(
    st.builds(
        Entry,
        serial=st.integers(min_value=1, max_value=2**159 - 1),
        revoked_at=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)).map(
            lambda d: d.replace(microsecond=0, tzinfo=UTC)
        ),
        reason=st.sampled_from(REASONS),
    ),
    max_size=30,
    unique_by=lambda e: e.serial,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries)
def test_walker_matches_cryptography(items):
    der = make_crl(CA, items, number=1)
    evidence = verify_crl(der, CTX)
    theirs = list(x509.load_der_x509_crl(der))
    assert evidence.meta.entry_count == len(theirs)
    for revoked in theirs:
        ours = evidence.index.lookup(content_from_int(revoked.serial_number))
        assert ours is not None
        assert epoch_seconds(ours.revoked_at) == epoch_seconds(revoked.revocation_date_utc)
        try:
            reason = revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            reason = None
        expected = None if reason is None else CODES[reason]
        assert ours.reason == expected


CODES = {
    x509.ReasonFlags.unspecified: 0,
    x509.ReasonFlags.key_compromise: 1,
    x509.ReasonFlags.ca_compromise: 2,
    x509.ReasonFlags.affiliation_changed: 3,
    x509.ReasonFlags.superseded: 4,
    x509.ReasonFlags.cessation_of_operation: 5,
    x509.ReasonFlags.certificate_hold: 6,
    x509.ReasonFlags.remove_from_crl: 8,
    x509.ReasonFlags.privilege_withdrawn: 9,
    x509.ReasonFlags.aa_compromise: 10,
}
