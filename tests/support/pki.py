"""Test PKIs made with `cryptography`: CAs, leaf certificates and CRLs with any property.

Small and explicit on purpose: each helper takes what a test wants to vary. Big CRLs
(100k+ entries) are not built here (cryptography's builder is quadratic): see
bench/crl_ingest.py, which assembles the DER itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def new_key(kind: str = "ec") -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def name(common_name: str, org: str = "revocd tests") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass
class CA:
    cert: x509.Certificate
    key: PrivateKey
    next_serial: int = 0x1000

    @property
    def name(self) -> x509.Name:
        return self.cert.subject

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write(self, directory: Path, stem: str) -> Path:
        """Write `<stem>.pem` (and `<stem>.key`); returns the certificate path."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{stem}.pem"
        path.write_bytes(self.pem())
        (directory / f"{stem}.key").write_bytes(self.key_pem())
        return path


def make_ca(
    common_name: str = "Test CA",
    *,
    key: PrivateKey | None = None,
    issuer: CA | None = None,
    not_before: datetime = T0 - timedelta(days=365),
    not_after: datetime = T0 + timedelta(days=3650),
    key_usage_crl_sign: bool | None = True,
    is_ca: bool = True,
) -> CA:
    """A CA certificate; self-signed unless `issuer` is given (a cross-certificate or a
    subordinate). `key_usage_crl_sign=None` leaves keyUsage out entirely."""
    key = key or new_key()
    subject = name(common_name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.name if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if key_usage_crl_sign is not None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=key_usage_crl_sign,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    signer = issuer.key if issuer else key
    return CA(builder.sign(signer, hashes.SHA256()), key)


def cross_certify(subject_ca: CA, by: CA) -> x509.Certificate:
    """A cross-certificate: `subject_ca`'s name and key, issued by `by`."""
    return make_ca(
        subject_ca.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value,  # type: ignore[arg-type]
        key=subject_ca.key,
        issuer=by,
    ).cert


def issue(
    ca: CA,
    common_name: str = "leaf.example",
    *,
    serial: int | None = None,
    ocsp_signing: bool = False,
    key: PrivateKey | None = None,
    not_before: datetime = T0 - timedelta(days=30),
    not_after: datetime = T0 + timedelta(days=365),
) -> tuple[x509.Certificate, PrivateKey]:
    key = key or new_key()
    if serial is None:
        serial = ca.next_serial
        ca.next_serial += 1
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(ca.name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if ocsp_signing:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False
        )
    return builder.sign(ca.key, hashes.SHA256()), key


@dataclass(frozen=True)
class Entry:
    serial: int
    revoked_at: datetime = T0 - timedelta(days=1)
    reason: x509.ReasonFlags | None = x509.ReasonFlags.key_compromise
    extra_extensions: Sequence[tuple[x509.ExtensionType, bool]] = field(default_factory=tuple)


def make_crl(
    ca: CA,
    entries: Iterable[Entry | int] = (),
    *,
    number: int | None = 1,
    this_update: datetime = T0,
    next_update: datetime = T0 + timedelta(days=7),
    signer: PrivateKey | None = None,
    issuer_name: x509.Name | None = None,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    pem: bool = False,
) -> bytes:
    """A CRL signed by `ca` (or `signer`), as DER (or PEM). Entries may be bare serials."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_name or ca.name)
        .last_update(this_update)
        .next_update(next_update)
    )
    if number is not None:
        builder = builder.add_extension(x509.CRLNumber(number), critical=False)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
    )
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    for item in entries:
        entry = item if isinstance(item, Entry) else Entry(item)
        revoked = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(entry.revoked_at)
        )
        if entry.reason is not None:
            revoked = revoked.add_extension(x509.CRLReason(entry.reason), critical=False)
        for ext, critical in entry.extra_extensions:
            revoked = revoked.add_extension(ext, critical=critical)
        builder = builder.add_revoked_certificate(revoked.build())
    crl = builder.sign(signer or ca.key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.PEM if pem else serialization.Encoding.DER)
