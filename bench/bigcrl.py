"""Build (once, cached) a big signed CRL by assembling its DER directly.

cryptography's CertificateRevocationListBuilder is quadratic (200k entries take ~100 s),
so the entries are written as DER bytes and only the tbsCertList is signed. Entries are
realistic: 16-20 octet positive random serials, UTCTime revocation dates spread over two
years, about half with a reasonCode extension.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from revocd.der import encode_tlv
from revocd.serials import content_from_int

ECDSA_SHA256 = encode_tlv(0x30, bytes.fromhex("06082a8648ce3d040302"))


def bench_ca(folder: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A CA key and certificate, kept in `folder` so the cached CRL stays valid."""
    key_path, cert_path = folder / "bench-ca.key", folder / "bench-ca.crt"
    if key_path.exists() and cert_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "revocd bench CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _utc(when: datetime) -> bytes:
    return encode_tlv(0x17, when.strftime("%y%m%d%H%M%SZ").encode())


def big_crl(
    folder: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate, entries: int
) -> tuple[Path, str]:
    """Write (or reuse) a CRL with `entries` entries; returns its path and one listed serial
    (hex) to probe. thisUpdate is now, nextUpdate in 7 days (rebuilt when older than 1 day)."""
    path = folder / f"big-{entries}.crl"
    probe_path = folder / f"big-{entries}.probe"
    fresh = path.exists() and (
        datetime.now(UTC).timestamp() - path.stat().st_mtime < 86400 and probe_path.exists()
    )
    if fresh:
        return path, probe_path.read_text()
    rng = random.Random(entries)
    now = datetime.now(UTC).replace(microsecond=0)
    reason = encode_tlv(
        0x30, encode_tlv(0x30, bytes.fromhex("0603551d15") + encode_tlv(0x04, b"\x0a\x01\x01"))
    )
    parts = []
    probe = 0
    for i in range(entries):
        serial = rng.getrandbits(8 * rng.randint(16, 20) - 1) | 1
        if i == entries // 2:
            probe = serial
        when = now - timedelta(seconds=rng.randrange(2 * 365 * 86400))
        body = encode_tlv(0x02, content_from_int(serial)) + _utc(when)
        if i % 2:
            body += reason
        parts.append(encode_tlv(0x30, body))
    number = encode_tlv(
        0x30, bytes.fromhex("0603551d14") + encode_tlv(0x04, encode_tlv(0x02, b"\x01"))
    )
    tbs = encode_tlv(
        0x30,
        encode_tlv(0x02, b"\x01")
        + ECDSA_SHA256
        + cert.subject.public_bytes()
        + _utc(now)
        + _utc(now + timedelta(days=7))
        + encode_tlv(0x30, b"".join(parts))
        + encode_tlv(0xA0, encode_tlv(0x30, number)),
    )
    signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    der = encode_tlv(0x30, tbs + ECDSA_SHA256 + encode_tlv(0x03, b"\x00" + signature))
    path.write_bytes(der)
    probe_path.write_text(f"{probe:x}")
    return path, f"{probe:x}"


if __name__ == "__main__":
    import sys
    import time

    folder = Path(__file__).resolve().parent / ".cache"
    folder.mkdir(exist_ok=True)
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    t0 = time.perf_counter()
    ca_cert, ca_key = bench_ca(folder)
    crl, serial = big_crl(folder, ca_key, ca_cert, count)
    print(f"{crl}: {crl.stat().st_size} bytes in {time.perf_counter() - t0:.1f} s; probe {serial}")
