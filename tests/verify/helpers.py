"""Shared CRL-building helpers for the verification tests: one issuing CA, a context."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ObjectIdentifier

from revocd.der import encode_tlv
from revocd.verify.crl import CrlCheckContext
from tests.support.dercrl import raw_crl, utctime
from tests.support.pki import CA, T0, Entry, make_ca, make_crl

URL = "http://pki.acme.example/issuing.crl"
NOW = T0 + timedelta(hours=1)
SKEW = timedelta(minutes=5)
UNKNOWN = ObjectIdentifier("1.3.6.1.4.1.55555.1")
ECDSA_SHA384 = encode_tlv(0x30, bytes.fromhex("06082a8648ce3d040303"))

ISSUING = make_ca("Acme Issuing CA")
OTHER = make_ca("Someone Else")
NO_CRL_SIGN = make_ca("No CRL Sign", key_usage_crl_sign=False)


def ctx(
    ca: CA, *, urls: tuple[str, ...] = (URL,), now: datetime = NOW, max_bytes: int = 10**7
) -> CrlCheckContext:
    return CrlCheckContext(
        issuer_cert_der=ca.cert.public_bytes(serialization.Encoding.DER),
        issuer_name="acme-issuing",
        source_url=URL,
        configured_urls=urls,
        now=now,
        clock_skew=SKEW,
        max_crl_bytes=max_bytes,
    )


def idp(**kw: object) -> tuple[x509.ExtensionType, bool]:
    args: dict[str, object] = {
        "full_name": None,
        "relative_name": None,
        "only_contains_user_certs": False,
        "only_contains_ca_certs": False,
        "only_some_reasons": None,
        "indirect_crl": False,
        "only_contains_attribute_certs": False,
    }
    args.update(kw)
    return x509.IssuingDistributionPoint(**args), True  # type: ignore[arg-type]


def idp_url(url: str) -> tuple[x509.ExtensionType, bool]:
    return idp(full_name=[x509.UniformResourceIdentifier(url)])


def crl(*entries: Entry | int, **kw: object) -> bytes:
    return make_crl(ISSUING, list(entries), **kw)  # type: ignore[arg-type]


def raw(*entries: bytes, **kw: object) -> bytes:
    """A hand-assembled CRL by ISSUING: thisUpdate T0, nextUpdate T0 + 7 days by default."""
    kw.setdefault("this_update", utctime(T0))
    kw.setdefault("next_update", utctime(T0 + timedelta(days=7)))
    return raw_crl(ISSUING, list(entries), **kw)  # type: ignore[arg-type]
