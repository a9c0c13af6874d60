"""Regenerate the checked-in CRL vectors: `python tests/vectors/make_vectors.py`.

Each vector is one CRL named by its one property, all issued by `vectors-ca.pem`; the
table in README.md says what revocd must do with each. Run again only to add vectors:
the CA key is kept so existing vectors stay valid.
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
from tests.support.dercrl import assemble_crl  # noqa: E402
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
    }
    assert encode_tlv  # the DER helpers are what assemble_crl uses
    for name, data in vectors.items():
        (HERE / name).write_bytes(data)
        print(f"wrote {name} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
