"""The demo federation's PKI: three partner CAs (northwind and contoso cross-certified),
their leaf certificates, and what each publishes: a CRL, or the index file an
`openssl ocsp -index` responder answers from. Certificates and keys are written under
``pki/`` and ``certs/`` for the printed commands to use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CRL_VALIDITY = timedelta(minutes=10)
LEAVES = 6  # certificates per CA; #1 stays good, #2 starts revoked, the rest go one by one


@dataclass
class DemoCA:
    """A partner CA that issues certificates and publishes its revocations on demand."""

    partner: str
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    leaves: list[tuple[str, x509.Certificate]] = field(default_factory=list)
    revoked: list[tuple[int, datetime, x509.ReasonFlags]] = field(default_factory=list)
    crl_number: int = 0

    def issue(self, common_name: str, now: datetime) -> x509.Certificate:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509_name(self.partner, common_name)
        cert = certificate(subject, key, now, days=90, signer=(self.cert.subject, self.key))
        self.leaves.append((common_name, cert))
        return cert

    def revoke(self, cert: x509.Certificate, now: datetime, reason: x509.ReasonFlags) -> None:
        self.revoked.append((cert.serial_number, now, reason))

    def next_to_revoke(self) -> tuple[str, x509.Certificate] | None:
        """The first certificate not yet revoked, leaving the first one good for ever."""
        revoked = {serial for serial, _, _ in self.revoked}
        return next(((n, c) for n, c in self.leaves[1:] if c.serial_number not in revoked), None)

    def crl(self, now: datetime) -> bytes:
        self.crl_number += 1
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now)
            .next_update(now + CRL_VALIDITY)
            .add_extension(x509.CRLNumber(self.crl_number), critical=False)
        )
        for serial, when, reason in self.revoked:
            entry = (
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(when)
                .add_extension(x509.CRLReason(reason), critical=False)
                .build()
            )
            builder = builder.add_revoked_certificate(entry)
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def index(self) -> str:
        """The `openssl ca` database `openssl ocsp -index` answers from: one line per
        certificate, V (valid) or R (revoked, with time and reason). Serials are written
        the way the responder looks them up: uppercase hex, an even number of digits."""
        revoked = {serial: (when, reason) for serial, when, reason in self.revoked}
        lines = []
        for common_name, cert in self.leaves:
            expires = _index_time(cert.not_valid_after_utc)
            serial = f"{cert.serial_number:X}"
            serial = "0" * (len(serial) % 2) + serial
            subject = f"/O={self.partner}/CN={common_name}"
            if cert.serial_number in revoked:
                when, reason = revoked[cert.serial_number]
                status = f"R\t{expires}\t{_index_time(when)},{reason.value}"
            else:
                status = f"V\t{expires}\t"
            lines.append(f"{status}\t{serial}\tunknown\t{subject}\n")
        return "".join(lines)


def _index_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%y%m%d%H%M%SZ")


def x509_name(org: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca(
    partner: str,
    common_name: str,
    now: datetime,
    *,
    signer: DemoCA | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> x509.Certificate:
    key = key or ec.generate_private_key(ec.SECP256R1())
    issuer = (signer.cert.subject, signer.key) if signer else None
    return certificate(x509_name(partner, common_name), key, now, days=3650, signer=issuer, ca=True)


CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    now: datetime,
    *,
    days: int,
    signer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None = None,
    ca: bool = False,
    ocsp_signing: bool = False,
) -> x509.Certificate:
    """A certificate for `key`, issued by `signer` (its name and key), else self-signed."""
    issuer_name, signing_key = signer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(CA_KEY_USAGE, critical=True)
    if ocsp_signing:
        eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING])
        builder = builder.add_extension(eku, critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def _new_ca(partner: str, common_name: str, now: datetime) -> DemoCA:
    key = ec.generate_private_key(ec.SECP256R1())
    return DemoCA(partner, _ca(partner, common_name, now, key=key), key)


@dataclass(frozen=True)
class Federation:
    northwind: DemoCA  # CRL-only
    contoso: DemoCA  # CRL, cross-certified with northwind
    fabrikam: DemoCA  # OCSP-only
    contoso_by_northwind: x509.Certificate  # contoso's CA, certified by northwind
    northwind_by_contoso: x509.Certificate  # northwind's root, certified by contoso

    @property
    def cas(self) -> tuple[DemoCA, ...]:
        return (self.northwind, self.contoso, self.fabrikam)


def make_federation(now: datetime) -> Federation:
    northwind = _new_ca("northwind", "Northwind Root CA", now)
    contoso = _new_ca("contoso", "Contoso Issuing CA", now)
    fabrikam = _new_ca("fabrikam", "Fabrikam Issuing CA", now)
    return Federation(
        northwind,
        contoso,
        fabrikam,
        _ca("contoso", "Contoso Issuing CA", now, signer=northwind, key=contoso.key),
        _ca("northwind", "Northwind Root CA", now, signer=contoso, key=northwind.key),
    )


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_responder(pki: Path, now: datetime) -> None:
    """revocd's own OCSP signing identity (`trusted` mode): relying parties pin it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509_name("revocd demo", "revocd demo OCSP responder")
    cert = certificate(name, key, now, days=365, ocsp_signing=True)
    (pki / "responder.pem").write_bytes(pem(cert))
    (pki / "responder.key").write_bytes(pem_key(key))


def write_pki(directory: Path, fed: Federation, now: datetime) -> None:
    pki = directory / "pki"
    certs = directory / "certs"
    for folder in (pki, certs, directory / "mirror"):
        folder.mkdir(parents=True, exist_ok=True)
    (pki / "northwind-root.pem").write_bytes(pem(fed.northwind.cert))
    (pki / "northwind-root-by-contoso.pem").write_bytes(pem(fed.northwind_by_contoso))
    (pki / "contoso-issuing.pem").write_bytes(pem(fed.contoso.cert))
    (pki / "contoso-issuing-by-northwind.pem").write_bytes(pem(fed.contoso_by_northwind))
    (pki / "fabrikam-issuing.pem").write_bytes(pem(fed.fabrikam.cert))
    write_responder(pki, now)
    for ca in fed.cas:
        for i in range(1, LEAVES + 1):
            cert = ca.issue(f"{ca.partner}-{i}.example", now)
            (certs / f"{ca.partner}-{i}.pem").write_bytes(pem(cert))
        ca.revoke(ca.leaves[1][1], now, x509.ReasonFlags.key_compromise)
