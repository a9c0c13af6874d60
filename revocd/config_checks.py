"""The offline checks behind `load_config`: problem collection, certificates, URLs."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from revocd.errors import ConfigError

SUPPORTED_SCHEMES = ("http", "https", "file")


class Problems:
    """Collects every problem of one config file; raises them together."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.items: list[tuple[str, str]] = []

    def add(self, key: str, problem: str) -> None:
        self.items.append((key, problem))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        if len(self.items) == 1:
            key, problem = self.items[0]
            raise ConfigError(self.path, key, problem)
        lines = [f"{self.path}: {key}: {problem}" for key, problem in self.items]
        error = ConfigError(
            self.path, self.items[0][0], f"{len(self.items)} problems:\n" + "\n".join(lines)
        )
        raise error


def load_certificate(path: Path) -> x509.Certificate:
    """One certificate, PEM or DER. Raises ValueError naming what is wrong."""
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        certs = x509.load_pem_x509_certificates(data)
        if len(certs) != 1:
            raise ValueError(
                f"holds {len(certs)} certificates; put exactly one CA certificate in it"
            )
        return certs[0]
    return x509.load_der_x509_certificate(data)


def load_issuer_certificate(problems: Problems, path: Path, key: str) -> x509.Certificate | None:
    try:
        cert = load_certificate(path)
    except ValueError as error:
        problems.add(key, f"{path} is not a PEM or DER certificate ({error})")
        return None
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = constraints.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        problems.add(
            key,
            f"{path} ({cert.subject.rfc4514_string()}) is not a CA certificate "
            "(basicConstraints cA is not true); configure the CA that signs the CRLs",
        )
        return None
    return cert


def check_url(problems: Problems, url: object, key: str, base: Path) -> str | None:
    if not isinstance(url, str) or not url.strip():
        problems.add(key, f"must be a URL string, not {url!r}")
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("ldap", "ldaps"):
        problems.add(
            key,
            f"{url}: LDAP distribution points are not supported yet; publish the CRL over "
            "http(s) or mirror it to a file: URL",
        )
        return None
    if scheme not in SUPPORTED_SCHEMES:
        problems.add(
            key, f"{url}: unsupported URL scheme {scheme or '(none)'!r} (use http, https or file)"
        )
        return None
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            problems.add(key, f"{url}: file URLs must be absolute: file:///path/to/issuing.crl")
            return None
        return url
    if not parts.hostname:
        problems.add(key, f"{url}: has no host")
        return None
    try:
        _ = parts.port
    except ValueError:
        problems.add(key, f"{url}: bad port")
        return None
    return url


def check_key_pair(problems: Problems, cert_path: Path, key_path: Path, key: str) -> None:
    try:
        cert = load_certificate(cert_path)
    except ValueError as error:
        problems.add(key, f"{cert_path} is not a certificate ({error})")
        return
    try:
        private = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        problems.add(key, f"{key_path} is not an unencrypted PEM private key ({error})")
        return
    ours = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    theirs = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if ours != theirs:
        problems.add(key, f"{key_path} does not match the public key of {cert_path}")
