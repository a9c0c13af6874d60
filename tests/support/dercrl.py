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


# Raw building blocks for tests that need a CRL cryptography's builder will not make
# (non-minimal serials, impossible dates, mismatched algorithms, odd issuer encodings).


def signature_algorithm(ca: CA) -> bytes:
    return ECDSA_SHA256 if isinstance(ca.key, ec.EllipticCurvePrivateKey) else RSA_SHA256


def sign_tbs(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, tbs: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())


def raw_entry(serial: bytes, when: bytes, extensions: bytes = b"") -> bytes:
    """One revokedCertificates entry from raw serial content octets, a Time TLV and
    (optionally) the whole crlEntryExtensions SEQUENCE TLV."""
    return encode_tlv(0x30, encode_tlv(0x02, serial) + when + extensions)


def reason_extensions(code_der: bytes) -> bytes:
    """crlEntryExtensions holding one reasonCode whose value is the given DER bytes."""
    return encode_tlv(
        0x30, encode_tlv(0x30, bytes.fromhex("0603551d15") + encode_tlv(0x04, code_der))
    )


def raw_crl(
    ca: CA,
    entries: Iterable[bytes] | None,
    *,
    this_update: bytes,
    next_update: bytes | None,
    issuer: bytes | None = None,
    crl_extensions: bytes = b"",
    inner_algorithm: bytes | None = None,
    outer_algorithm: bytes | None = None,
) -> bytes:
    """A signed CRL from raw parts: `entries` are entry TLVs (None: no list at all),
    `crl_extensions` the concatenated Extension TLVs (wrapped in [0] here)."""
    algorithm = signature_algorithm(ca)
    tbs = encode_tlv(
        0x30,
        encode_tlv(0x02, b"\x01")
        + (inner_algorithm or algorithm)
        + (issuer if issuer is not None else ca.cert.subject.public_bytes())
        + this_update
        + (next_update or b"")
        + (encode_tlv(0x30, b"".join(entries)) if entries is not None else b"")
        + (encode_tlv(0xA0, encode_tlv(0x30, crl_extensions)) if crl_extensions else b""),
    )
    signature = sign_tbs(ca.key, tbs)
    outer = outer_algorithm or algorithm
    return encode_tlv(0x30, tbs + outer + encode_tlv(0x03, b"\x00" + signature))
