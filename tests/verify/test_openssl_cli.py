"""CRLs made by the real `openssl ca -gencrl` are accepted with the right entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from revocd.serials import content_from_int
from revocd.verify.crl import CrlCheckContext, verify_crl
from tests.support.opensslca import OpensslCA

pytestmark = pytest.mark.peer


def context(ca: OpensslCA) -> CrlCheckContext:
    cert = x509.load_pem_x509_certificate(ca.cert_pem.read_bytes())
    return CrlCheckContext(
        cert.public_bytes(serialization.Encoding.DER),
        "openssl-ca",
        "file:///crl.der",
        ("file:///crl.der",),
        datetime.now(UTC),
        timedelta(minutes=5),
        10**7,
    )


def test_openssl_ca_crls_with_reasons_and_holds(tmp_path):
    ca = OpensslCA.create(tmp_path / "ca")
    serials = {name: ca.issue(name) for name in ("alice", "bob", "carol", "dave")}
    ca.revoke("alice", "keyCompromise")
    ca.revoke("bob", "certificateHold")
    ca.revoke("carol", "superseded")

    first = verify_crl(ca.gencrl(), context(ca))
    assert first.meta.entry_count == 3
    reasons = {
        name: hit.reason
        for name, serial in serials.items()
        if (hit := first.index.lookup(content_from_int(serial))) is not None
    }
    assert reasons == {"alice": 1, "bob": 6, "carol": 4}

    second = verify_crl(ca.gencrl(), context(ca))
    assert second.meta.crl_number == first.meta.crl_number + 1
    assert second.meta.tbs_sha256 != first.meta.tbs_sha256


def test_openssl_verifies_what_revocd_accepts(tmp_path):
    ca = OpensslCA.create(tmp_path / "ca")
    ca.issue("eve")
    ca.revoke("eve", "cessationOfOperation")
    der = ca.gencrl()
    out = ca.run("crl", "-inform", "DER", "-in", "crl.der", "-noout", "-CAfile", "ca.pem")
    assert "verify OK" in out
    assert verify_crl(der, context(ca)).meta.entry_count == 1
