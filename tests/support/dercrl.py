"""Assemble big signed CRLs directly as DER (cryptography's CRL builder is quadratic).

Only what the end-to-end tests need: ECDSA-SHA256 or RSA-SHA256 signatures, a CRL
number, UTCTime dates, keyCompromise reason codes on every other entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from revocd.der import encode_tlv
from revocd.serials import content_from_int
from tests.support.pki import CA

ECDSA_SHA256 = encode_tlv(0x30, bytes.fromhex("06082a8648ce3d040302"))
RSA_SHA256 = encode_tlv(0x30, bytes.fromhex("06092a864886f70d01010b0500"))
REASON_KEY_COMPROMISE = encode_tlv(
    0x30, encode_tlv(0x30, bytes.fromhex("0603551d15") + encode_tlv(0x04, b"\x0a\x01\x01"))
)


def utctime(when: datetime) -> bytes:
    """RFC 5280 Time: UTCTime through 2049, GeneralizedTime from 2050."""
    if when.year >= 2050:
        return encode_tlv(0x18, when.strftime("%Y%m%d%H%M%SZ").encode())
    return encode_tlv(0x17, when.strftime("%y%m%d%H%M%SZ").encode())


def entries_der(serials: Iterable[int], revoked_at: datetime) -> bytes:
    when = utctime(revoked_at)
    out = []
    for i, serial in enumerate(serials):
        body = encode_tlv(0x02, content_from_int(serial)) + when
        if i % 2:
            body += REASON_KEY_COMPROMISE
        out.append(encode_tlv(0x30, body))
    return b"".join(out)


def assemble_crl(
    ca: CA,
    serials: Iterable[int],
    *,
    number: int,
    this_update: datetime,
    next_update: datetime | None,
) -> bytes:
    algorithm = ECDSA_SHA256 if isinstance(ca.key, ec.EllipticCurvePrivateKey) else RSA_SHA256
    crl_number = encode_tlv(
        0x30,
        bytes.fromhex("0603551d14") + encode_tlv(0x04, encode_tlv(0x02, content_from_int(number))),
    )
    tbs = encode_tlv(
        0x30,
        encode_tlv(0x02, b"\x01")
        + algorithm
        + ca.cert.subject.public_bytes()
        + utctime(this_update)
        + (utctime(next_update) if next_update is not None else b"")
        + encode_tlv(0x30, entries_der(serials, this_update))
        + encode_tlv(0xA0, encode_tlv(0x30, crl_number)),
    )
    if isinstance(ca.key, ec.EllipticCurvePrivateKey):
        signature = ca.key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    else:
        assert isinstance(ca.key, rsa.RSAPrivateKey)
        signature = ca.key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    return encode_tlv(0x30, tbs + algorithm + encode_tlv(0x03, b"\x00" + signature))
