"""The federation as configured: partners, their issuers, and the sources of evidence.

An issuer is identified the way OCSP identifies it: by the hash of its subject name and
the hash of its public key, with SHA-1 and SHA-256 both indexed. Cross-signed copies of
one CA (same subject, same key, different issuer) therefore share one `IssuerKey`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from revocd.der import read_tlv


class SigningMode(StrEnum):
    TRUSTED = "trusted"
    DELEGATED = "delegated"
    PASSTHROUGH = "passthrough"


class SourceKind(StrEnum):
    CRL = "crl"
    OCSP = "ocsp"


@dataclass(frozen=True, slots=True)
class OcspPolicy:
    """The upstream OCSP tunables of [defaults] (`ocsp_*`, `max_ocsp_bytes`), overridable
    per partner; docs/configuration.md says how to choose each."""

    timeout: timedelta = timedelta(seconds=5)
    concurrency: int = 8  # upstream requests in flight per OCSP source
    nonce: bool = True
    refresh_window: timedelta = timedelta(hours=24)
    max_bytes: int = 64 * 1024
    probe_interval: timedelta = timedelta(minutes=5)
    # how long an upstream answer without nextUpdate counts as fresh, from its producedAt;
    # 0 rejects such answers
    default_validity: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Policy:
    """The tunables of [defaults], overridable per partner."""

    poll_interval: timedelta
    grace: timedelta
    timeout: timedelta
    max_crl_bytes: int
    clock_skew: timedelta
    ocsp: OcspPolicy = field(default_factory=OcspPolicy)


@dataclass(frozen=True, slots=True)
class IssuerKey:
    """OCSP's view of a CA: name and key hashes, SHA-1 and SHA-256."""

    name_sha1: bytes
    key_sha1: bytes
    name_sha256: bytes
    key_sha256: bytes

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> IssuerKey:
        name = cert.subject.public_bytes()
        # OCSP hashes the BIT STRING value of subjectPublicKey (RFC 6960 4.1.1): the raw
        # key bytes, not the whole SubjectPublicKeyInfo.
        key = _subject_public_key_bits(cert)
        return cls(
            name_sha1=hashlib.sha1(name, usedforsecurity=False).digest(),
            key_sha1=hashlib.sha1(key, usedforsecurity=False).digest(),
            name_sha256=hashlib.sha256(name).digest(),
            key_sha256=hashlib.sha256(key).digest(),
        )

    @property
    def id(self) -> str:
        """Stable storage identity: survives renaming the issuer in the config."""
        return f"{self.name_sha256.hex()}:{self.key_sha256.hex()}"

    def hex_ids(self) -> tuple[str, str]:
        """The identifiers a person may type for this issuer: hex SHA-1 and SHA-256 key hash."""
        return self.key_sha1.hex(), self.key_sha256.hex()


def ocsp_hashes(cert: x509.Certificate, algorithm: str) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of a CA for a CertID hashed with `algorithm`
    (sha1, sha256, sha384, sha512)."""
    name = hashlib.new(algorithm, cert.subject.public_bytes(), usedforsecurity=False).digest()
    key = hashlib.new(algorithm, _subject_public_key_bits(cert), usedforsecurity=False).digest()
    return name, key


def _subject_public_key_bits(cert: x509.Certificate) -> bytes:
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # SubjectPublicKeyInfo ::= SEQUENCE { algorithm, subjectPublicKey BIT STRING }
    outer = read_tlv(spki, 0)
    inner = outer.content_start
    algorithm = read_tlv(spki, inner)
    bits = read_tlv(spki, algorithm.end)
    # skip the BIT STRING's unused-bits octet
    return spki[bits.content_start + 1 : bits.end]


@dataclass(frozen=True, slots=True)
class Source:
    """One place evidence comes from, attached to one issuer."""

    partner: str
    issuer: str
    kind: SourceKind
    url: str

    @property
    def id(self) -> str:
        """Stable identity used as the store key, in logs and metric labels."""
        return f"{self.partner}/{self.issuer}/{self.kind.value}/{self.url}"

    def describe(self) -> str:
        return f"partner {self.partner} / issuer {self.issuer} / {self.url}"


@dataclass(frozen=True, slots=True)
class Issuer:
    name: str
    partner: str
    cert_path: Path
    cert: x509.Certificate
    key: IssuerKey
    crl_urls: tuple[str, ...]
    ocsp_urls: tuple[str, ...]
    signing: SigningMode
    responder_cert: Path | None
    responder_key: Path | None
    # signing = "passthrough": who signs when the partner's response cannot be relayed
    # (trusted or delegated; None for the other modes)
    passthrough_fallback: SigningMode | None = None

    @property
    def signer_mode(self) -> SigningMode:
        """The mode revocd signs with itself: `signing`, or the fallback of passthrough."""
        if self.signing is SigningMode.PASSTHROUGH:
            return self.passthrough_fallback or SigningMode.TRUSTED
        return self.signing

    @property
    def sources(self) -> tuple[Source, ...]:
        crl = tuple(Source(self.partner, self.name, SourceKind.CRL, u) for u in self.crl_urls)
        ocsp = tuple(Source(self.partner, self.name, SourceKind.OCSP, u) for u in self.ocsp_urls)
        return crl + ocsp


@dataclass(frozen=True, slots=True)
class Partner:
    name: str
    policy: Policy
    issuers: tuple[Issuer, ...]
