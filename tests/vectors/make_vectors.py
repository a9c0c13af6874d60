"""Make the checked-in CRL vectors: `python tests/vectors/make_vectors.py [--all]`.

Each vector is one CRL named by its one property, all issued by `vectors-ca.pem`; the
table in README.md says what revocd must do with each. By default only missing vectors
are written (ECDSA signatures are randomised, so rewriting would churn every file);
`--all` rewrites them all. The CA key is kept so existing vectors stay valid.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from revocd.der import encode_tlv  # noqa: E402
from tests.support.dercrl import (  # noqa: E402
    assemble_crl,
    raw_crl,
    raw_entry,
    reason_extensions,
    sign_tbs,
    signature_algorithm,
    utctime,
)
from tests.support.pki import CA, Entry, make_ca, make_crl  # noqa: E402

T = datetime(2026, 1, 1, tzinfo=UTC)
LONG = T + timedelta(days=36500)


def vectors_ca() -> CA:
    key_path = HERE / "vectors-ca.key"
    if key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        cert = x509.load_pem_x509_certificate((HERE / "vectors-ca.pem").read_bytes())
        return CA(cert, key)
    ca = make_ca("revocd vectors CA", not_after=T + timedelta(days=36500))
    ca.write(HERE, "vectors-ca")
    return ca


def only_some_reasons() -> x509.IssuingDistributionPoint:
    return x509.IssuingDistributionPoint(
        full_name=None,
        relative_name=None,
        only_contains_user_certs=False,
        only_contains_ca_certs=False,
        only_some_reasons=frozenset({x509.ReasonFlags.key_compromise}),
        indirect_crl=False,
        only_contains_attribute_certs=False,
    )


def v1_with_extensions(ca: CA) -> bytes:
    """No version field (v1), yet crlExtensions (a CRL number): RFC 5280 requires v2."""
    number = encode_tlv(0x30, bytes.fromhex("0603551d14") + encode_tlv(0x04, b"\x02\x01\x0d"))
    algorithm = signature_algorithm(ca)
    tbs = encode_tlv(
        0x30,
        algorithm
        + ca.cert.subject.public_bytes()
        + utctime(T)
        + utctime(LONG)
        + encode_tlv(0x30, raw_entry(b"\x05", utctime(T)))
        + encode_tlv(0xA0, encode_tlv(0x30, number)),
    )
    signature = sign_tbs(ca.key, tbs)
    return encode_tlv(0x30, tbs + algorithm + encode_tlv(0x03, b"\x00" + signature))


def entry_length_one_short() -> bytes:
    """An entry in the common shape whose SEQUENCE length is one less than its content."""
    body = encode_tlv(0x02, b"\x05") + utctime(T) + reason_extensions(b"\x0a\x01\x01")
    return bytes((0x30, len(body) - 1)) + body


def main() -> None:
    ca = vectors_ca()
    good = make_crl(ca, [Entry(0x1001)], number=5, this_update=T, next_update=LONG)
    vectors = {
        "crl-complete.der": good,
        "crl-negative-serial.der": assemble_crl(
            ca, [-1, 255], number=6, this_update=T, next_update=LONG
        ),
        "crl-generalizedtime-2050.der": make_crl(
            ca,
            [Entry(0x2001, revoked_at=datetime(2051, 6, 1, tzinfo=UTC))],
            number=7,
            this_update=T,
            next_update=LONG,
        ),
        "crl-trailing-garbage.der": good + b"\x00\x00",
        "crl-delta.der": make_crl(
            ca,
            [],
            number=8,
            this_update=T,
            next_update=LONG,
            extensions=[(x509.DeltaCRLIndicator(5), True)],
        ),
        "crl-unknown-critical-entry-extension.der": make_crl(
            ca,
            [
                Entry(
                    0x3001,
                    extra_extensions=[
                        (
                            x509.UnrecognizedExtension(
                                x509.ObjectIdentifier("1.3.6.1.4.1.55555.9"), b"\x05\x00"
                            ),
                            True,
                        )
                    ],
                )
            ],
            number=9,
            this_update=T,
            next_update=LONG,
        ),
        "crl-no-next-update.der": assemble_crl(ca, [1], number=10, this_update=T, next_update=None),
        "crl-signed-by-another-key.der": make_crl(
            ca, [], number=11, this_update=T, next_update=LONG, signer=make_ca("x").key
        ),
        "crl-idp-only-some-reasons.der": make_crl(
            ca,
            [Entry(0x4001)],
            number=12,
            this_update=T,
            next_update=LONG,
            extensions=[(only_some_reasons(), True)],
        ),
        "crl-non-minimal-serial.der": raw_crl(
            ca,
            [raw_entry(b"\x00\x01", utctime(T))],
            this_update=utctime(T),
            next_update=utctime(LONG),
        ),
        "crl-revocation-date-month-13.der": raw_crl(
            ca,
            [raw_entry(b"\x05", encode_tlv(0x17, b"251301000000Z"))],
            this_update=utctime(T),
            next_update=utctime(LONG),
        ),
        "crl-reason-code-7.der": raw_crl(
            ca,
            [raw_entry(b"\x05", utctime(T), reason_extensions(b"\x0a\x01\x07"))],
            this_update=utctime(T),
            next_update=utctime(LONG),
        ),
        "crl-revocation-date-february-30.der": raw_crl(
            ca,
            [raw_entry(b"\x05", encode_tlv(0x17, b"260230000000Z"))],
            this_update=utctime(T),
            next_update=utctime(LONG),
        ),
        "crl-entry-length-one-short.der": raw_crl(
            ca,
            [raw_entry(b"\x04", utctime(T)), entry_length_one_short()],
            this_update=utctime(T),
            next_update=utctime(LONG),
        ),
        "crl-v1-with-extensions.der": v1_with_extensions(ca),
    }
    rewrite = "--all" in sys.argv[1:]
    for name, data in vectors.items():
        path = HERE / name
        if path.exists() and not rewrite:
            continue
        path.write_bytes(data)
        print(f"wrote {name} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
