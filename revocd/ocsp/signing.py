"""Who signs an OCSP response, and how: revocd's own key (`trusted`) or a certificate the
partner CA issued to revocd (`delegated`, embedded in the response as the only cert, so Go's
x/crypto/ocsp accepts it too). EC and RSA keys; signing runs wherever the caller puts it
(RSA is slow: the responder keeps it off the event loop)."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from revocd.config_checks import load_certificate
from revocd.der import encode_tlv, read_tlv

ECDSA_SHA256 = encode_tlv(0x30, bytes.fromhex("06082a8648ce3d040302"))
RSA_SHA256 = encode_tlv(0x30, bytes.fromhex("06092a864886f70d01010b0500"))


@dataclass(frozen=True)
class Signer:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    embed: bool  # delegated: include the responder certificate in every response

    @functools.cached_property
    def key_hash(self) -> bytes:
        """SHA-1 of the responder's subjectPublicKey BIT STRING value (ResponderID byKey)."""
        spki = self.cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        outer = read_tlv(spki, 0)
        algorithm = read_tlv(spki, outer.content_start)
        bits = read_tlv(spki, algorithm.end)
        return hashlib.sha1(spki[bits.content_start + 1 : bits.end], usedforsecurity=False).digest()

    @property
    def algorithm(self) -> bytes:
        return ECDSA_SHA256 if isinstance(self.key, ec.EllipticCurvePrivateKey) else RSA_SHA256

    @property
    def slow(self) -> bool:
        """RSA-2048 signs in ~0.3 ms (P-256: ~0.03 ms): worth a thread, which runs in
        parallel because cryptography releases the GIL while OpenSSL signs."""
        return isinstance(self.key, rsa.RSAPrivateKey)

    def sign(self, tbs: bytes) -> bytes:
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            return self.key.sign(tbs, ec.ECDSA(hashes.SHA256()))
        return self.key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())

    @functools.cached_property
    def _certs(self) -> tuple[bytes, ...]:
        return (self.cert.public_bytes(serialization.Encoding.DER),) if self.embed else ()

    def certs(self) -> list[bytes]:
        return list(self._certs)


def load_signer(cert_path: Path, key_path: Path, *, embed: bool) -> Signer:
    cert = load_certificate(cert_path)
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TypeError(f"{key_path}: OCSP signing supports EC and RSA keys")
    return Signer(cert, key, embed)
