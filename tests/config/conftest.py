"""A directory with a small PKI for config tests: CAs, a non-CA, responder pairs.

`Workdir.write(text)` writes `revocd.toml` next to `pki/`, so configs name certificates by
relative path exactly as an operator would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.pki import CA, PrivateKey, cross_certify, issue, make_ca

# The test certificates are valid from T0 - 1y to T0 + 10y (tests.support.pki).
NOW = datetime(2026, 6, 1, tzinfo=UTC)

ACME = """
[[partner]]
name = "acme"

  [[partner.issuer]]
  name = "acme-issuing"
  cert = "pki/acme.pem"
  crl = ["http://pki.acme.example/issuing.crl"]
"""


@dataclass
class Workdir:
    root: Path
    acme: CA
    globex: CA

    def write(self, text: str, name: str = "revocd.toml") -> Path:
        path = self.root / name
        path.write_text(text)
        return path


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_pair(pki: Path, stem: str, pair: tuple[x509.Certificate, PrivateKey]) -> None:
    cert, key = pair
    _write_cert(pki / f"{stem}.pem", cert)
    (pki / f"{stem}.key").write_bytes(CA(cert, key).key_pem())


@dataclass(frozen=True)
class Pki:
    acme: CA
    globex: CA
    cas: dict[str, CA]  # written as <stem>.pem/.key
    pairs: dict[str, tuple[x509.Certificate, PrivateKey]]  # leaf certificates and keys
    acme_cross: x509.Certificate  # acme's name and key, issued by globex


@pytest.fixture(scope="session")
def pki() -> Pki:
    """Made once per session: key generation is the slow part of these tests."""
    acme = make_ca("ACME Issuing CA")
    globex = make_ca("Globex Root CA")
    expired = make_ca(
        "Expired CA",
        not_before=datetime(2020, 1, 1, tzinfo=UTC),
        not_after=datetime(2021, 1, 1, tzinfo=UTC),
    )
    return Pki(
        acme=acme,
        globex=globex,
        cas={
            "acme": acme,
            "globex": globex,
            "no_crl_sign": make_ca("No CRLSign CA", key_usage_crl_sign=False),
            "no_key_usage": make_ca("No KeyUsage CA", key_usage_crl_sign=None),
            "not_ca": make_ca("Not Really A CA", is_ca=False),
            "expired": expired,
        },
        pairs={
            "leaf": issue(acme, "www.acme.example"),
            "acme_ocsp": issue(acme, "revocd OCSP for ACME", ocsp_signing=True),
            "acme_no_eku": issue(acme, "revocd without EKU"),
            "globex_ocsp": issue(globex, "revocd OCSP for Globex", ocsp_signing=True),
        },
        acme_cross=cross_certify(acme, globex),
    )


@pytest.fixture
def work(tmp_path: Path, pki: Pki) -> Workdir:
    directory = tmp_path / "pki"
    for stem, ca in pki.cas.items():
        ca.write(directory, stem)
    for stem, pair in pki.pairs.items():
        _write_pair(directory, stem, pair)
    (directory / "acme.der").write_bytes(pki.acme.cert.public_bytes(serialization.Encoding.DER))
    (directory / "two.pem").write_bytes(pki.acme.pem() + pki.globex.pem())
    _write_cert(directory / "acme-cross.pem", pki.acme_cross)
    (directory / "garbage.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n")
    (directory / "empty.der").write_bytes(b"")
    return Workdir(tmp_path, pki.acme, pki.globex)
