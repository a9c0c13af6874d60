"""CRLs made by the real `openssl ca -gencrl` are accepted with the right entries."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from revocd.errors import Rejected
from revocd.evidence import CrlEvidence, RejectReason, RevocationReason
from revocd.serials import content_from_int
from revocd.verify.crl import CrlCheckContext, verify_crl
from tests.support.openssl_ca import OpensslCA

pytestmark = pytest.mark.peer
URL = "http://pki.openssl.example/ca.crl"


def context(ca: OpensslCA, crl: bytes) -> CrlCheckContext:
    """Checked a minute after the CRL was made (openssl stamps it with the real clock)."""
    cert = x509.load_pem_x509_certificate(ca.cert_pem)
    made = x509.load_der_x509_crl(crl).last_update_utc
    return CrlCheckContext(
        cert.public_bytes(serialization.Encoding.DER),
        "openssl-ca",
        URL,
        (URL,),
        made + timedelta(minutes=1),
        timedelta(minutes=5),
        10**7,
    )


def verify(ca: OpensslCA, crl: bytes) -> CrlEvidence:
    return verify_crl(crl, context(ca, crl))


@pytest.mark.parametrize("key", ["ec", "rsa"], ids=["ecdsa-ca", "rsa-ca"])
def test_openssl_ca_crls_with_reasons_and_a_hold(tmp_path: Path, key: str) -> None:
    ca = OpensslCA.create(tmp_path / "ca", key=key)
    serials = {name: ca.issue(name) for name in ("alice", "bob", "carol", "dave", "erin")}
    ca.revoke("alice", "keyCompromise")
    ca.revoke("bob", "certificateHold", "-crl_hold", "holdInstructionReject")
    ca.revoke("carol", "superseded")
    ca.revoke_compromised_at("erin", "20250101000000Z")

    first = verify(ca, ca.gencrl())
    assert first.meta.entry_count == 4
    reasons = {
        name: hit.reason
        for name, serial in serials.items()
        if (hit := first.index.lookup(content_from_int(serial))) is not None
    }
    assert reasons == {
        "alice": RevocationReason.KEY_COMPROMISE,
        "bob": RevocationReason.CERTIFICATE_HOLD,
        "carol": RevocationReason.SUPERSEDED,
        "erin": RevocationReason.KEY_COMPROMISE,
    }
    assert first.index.lookup(content_from_int(serials["dave"])) is None


def test_crl_numbers_increase_and_new_revocations_appear(tmp_path: Path) -> None:
    ca = OpensslCA.create(tmp_path / "ca")
    alice, bob = ca.issue("alice"), ca.issue("bob")
    empty = verify(ca, ca.gencrl())
    ca.revoke("alice", "cessationOfOperation")
    second = verify(ca, ca.gencrl())
    ca.revoke("bob", "affiliationChanged")
    third = verify(ca, ca.gencrl())
    numbers = [e.meta.crl_number for e in (empty, second, third)]
    assert numbers == [1, 2, 3]
    assert [e.meta.entry_count for e in (empty, second, third)] == [0, 1, 2]
    assert third.index.lookup(content_from_int(alice)).reason == 5  # type: ignore[union-attr]
    assert third.index.lookup(content_from_int(bob)).reason == 3  # type: ignore[union-attr]
    assert len({e.meta.tbs_sha256 for e in (empty, second, third)}) == 3


def test_openssl_agrees_with_what_revocd_accepts_and_refuses(tmp_path: Path) -> None:
    ca = OpensslCA.create(tmp_path / "ca")
    ca.issue("eve")
    ca.revoke("eve", "keyCompromise")
    der = ca.gencrl()
    out = ca.run("crl", "-inform", "DER", "-in", "crl.der", "-noout", "-CAfile", "ca.pem")
    assert "verify OK" in out
    assert verify(ca, der).meta.entry_count == 1

    other = OpensslCA.create(tmp_path / "other", common_name="OpenSSL CA")  # same name
    with pytest.raises(Rejected) as refused:
        verify_crl(der, context(other, der))
    assert refused.value.reason is RejectReason.BAD_SIGNATURE
