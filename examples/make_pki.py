"""Write the small PKI that `config.example.toml` points at, into `examples/pki/`.

Run `python examples/make_pki.py` to regenerate it. The files are checked in so the
example config loads as-is (`revocd check-config --config config.example.toml`); they
are throwaway keys for an example and must never be trusted for anything.

Writes:
  acme-issuing.pem         self-signed CA of partner "acme"
  acme-revocd-ocsp.pem/.key  OCSP signing cert issued to revocd by acme-issuing ("delegated")
  globex-root.pem          self-signed CA of partner "globex"
  responder.pem/.key       revocd's own OCSP signing identity ("trusted" mode)
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OUT = Path(__file__).resolve().parent / "pki"
# Fixed validity so regenerating does not change dates; long enough to outlive the example.
NOT_BEFORE = datetime(2025, 1, 1, tzinfo=UTC)
NOT_AFTER = NOT_BEFORE + timedelta(days=365 * 30)


def _name(common_name: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, *, ca: bool
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_key_usage(ca=ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def make_ca(common_name: str, org: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(common_name, org)
    return _builder(subject, subject, key, ca=True).sign(key, hashes.SHA256()), key


def make_ocsp_signer(
    common_name: str,
    org: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """An OCSP signing certificate: issued by `issuer`, or self-signed when None."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(common_name, org)
    issuer_name, signer = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
    builder = _builder(subject, issuer_name, key, ca=False).add_extension(
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False
    )
    return builder.sign(signer, hashes.SHA256()), key


def write_cert(cert: x509.Certificate, stem: str) -> None:
    (OUT / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def write_key(key: ec.EllipticCurvePrivateKey, stem: str) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (OUT / f"{stem}.key").write_bytes(pem)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    acme = make_ca("ACME Issuing CA", "ACME (example)")
    write_cert(acme[0], "acme-issuing")
    acme_ocsp = make_ocsp_signer("revocd OCSP for ACME", "ACME (example)", acme)
    write_cert(acme_ocsp[0], "acme-revocd-ocsp")
    write_key(acme_ocsp[1], "acme-revocd-ocsp")
    globex = make_ca("Globex Root CA", "Globex (example)")
    write_cert(globex[0], "globex-root")
    responder = make_ocsp_signer("revocd responder", "revocd (example)", None)
    write_cert(responder[0], "responder")
    write_key(responder[1], "responder")
    print(f"wrote example PKI to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
