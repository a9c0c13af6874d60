"""The checked-in vectors (tests/vectors/README.md) give the outcomes the table promises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from revocd.errors import Rejected
from revocd.verify.crl import CrlCheckContext, verify_crl

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
CA = x509.load_pem_x509_certificate((VECTORS / "vectors-ca.pem").read_bytes())
CTX = CrlCheckContext(
    CA.public_bytes(serialization.Encoding.DER),
    "vectors",
    "file:///v.crl",
    ("file:///v.crl",),
    datetime(2026, 6, 1, tzinfo=UTC),
    timedelta(minutes=5),
    10**6,
)


@pytest.mark.parametrize(
    ("name", "outcome"),
    [
        ("crl-complete.der", "accepted"),
        ("crl-negative-serial.der", "accepted"),
        ("crl-generalizedtime-2050.der", "accepted"),
        ("crl-trailing-garbage.der", "malformed"),
        ("crl-delta.der", "unsupported_scope"),
        ("crl-unknown-critical-entry-extension.der", "unknown_critical_extension"),
        ("crl-no-next-update.der", "bad_validity"),
        ("crl-signed-by-another-key.der", "bad_signature"),
    ],
    ids=lambda v: v.removesuffix(".der"),
)
def test_vector(name, outcome):
    data = (VECTORS / name).read_bytes()
    if outcome != "accepted":
        with pytest.raises(Rejected) as refused:
            verify_crl(data, CTX)
        assert refused.value.reason.value == outcome
        return
    evidence = verify_crl(data, CTX)
    assert evidence.meta.entry_count >= 1


def test_negative_serial_vector_keeps_minus_one_and_255_apart():
    index = verify_crl((VECTORS / "crl-negative-serial.der").read_bytes(), CTX).index
    assert index.lookup(b"\xff") is not None
    assert index.lookup(b"\x00\xff") is not None
    assert len(index) == 2


def test_generalizedtime_vector_reads_the_2051_date():
    index = verify_crl((VECTORS / "crl-generalizedtime-2050.der").read_bytes(), CTX).index
    (entry,) = list(index)
    assert entry.revoked_at == datetime(2051, 6, 1, tzinfo=UTC)


def test_every_vector_is_listed_in_the_readme():
    readme = (VECTORS / "README.md").read_text()
    for path in VECTORS.glob("*.der"):
        assert f"`{path.name}`" in readme
