"""Build (once, cached) a big signed CRL by assembling its DER directly.

cryptography's CertificateRevocationListBuilder is quadratic (200k entries take ~100 s),
so the entries are written as DER bytes and only the tbsCertList is signed. Entries are
realistic: 16-20 octet positive random serials, UTCTime revocation dates spread over the
two years before 2026, about half with a reasonCode extension; CRLs of different numbers
list the same entries.

Run it (``python -m bench.bigcrl [entries]``) to print the generation time, the CPU time
of `verify_crl` on the result, and what ``openssl crl -CAfile`` says about its signature.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from revocd.der import encode_tlv
from revocd.serials import content_from_int

# Revocation dates hang on a fixed day, not on the build time: two CRLs of the bench CA
# (numbers 1 and 2) then list the same entries byte for byte, as a CA's consecutive CRLs do.
_DATES_END = datetime(2026, 1, 1, tzinfo=UTC)
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
    folder: Path,
    key: ec.EllipticCurvePrivateKey,
    cert: x509.Certificate,
    entries: int = 1_000_000,
    crl_number: int = 1,
) -> tuple[Path, str]:
    """Write (or reuse) a CRL with `entries` entries signed by `key` for `cert`; returns its
    path and one listed serial (hex) to probe. Cached by entry count and CA key (a new bench
    CA never reuses an old CRL); thisUpdate is now, nextUpdate in 7 days, rebuilt when the
    file is a day old."""
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    tag = f"{entries}-{crl_number}-{hashlib.sha256(spki).hexdigest()[:12]}"
    path = folder / f"big-{tag}.crl"
    probe_path = folder / f"big-{tag}.probe"
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
        when = _DATES_END - timedelta(seconds=rng.randrange(2 * 365 * 86400))
        body = encode_tlv(0x02, content_from_int(serial)) + _utc(when)
        if i % 2:
            body += reason
        parts.append(encode_tlv(0x30, body))
    number = encode_tlv(
        0x30,
        bytes.fromhex("0603551d14")
        + encode_tlv(0x04, encode_tlv(0x02, content_from_int(crl_number))),
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


def measure(entries: int) -> None:
    """Print generation time, verify_crl CPU time (best of 3) and openssl's verdict."""
    import shutil
    import subprocess
    import time

    from revocd.verify.crl import CrlCheckContext, verify_crl

    folder = Path(__file__).resolve().parent / ".cache"
    folder.mkdir(exist_ok=True)
    ca_cert, ca_key = bench_ca(folder)
    started = time.perf_counter()
    crl, probe = big_crl(folder, ca_key, ca_cert, entries)
    made = time.perf_counter() - started
    data = crl.read_bytes()
    print(f"{crl.name}: {len(data):,} bytes, {entries:,} entries; ready in {made:.1f} s")

    ctx = CrlCheckContext(
        issuer_cert_der=ca_cert.public_bytes(serialization.Encoding.DER),
        issuer_name="bench",
        source_url=crl.as_uri(),
        configured_urls=(crl.as_uri(),),
        now=datetime.now(UTC),
        clock_skew=timedelta(minutes=5),
        max_crl_bytes=len(data),
    )
    timings = []
    for _ in range(3):
        cpu, wall = time.process_time(), time.perf_counter()
        evidence = verify_crl(data, ctx)
        timings.append((time.process_time() - cpu, time.perf_counter() - wall))
    cpu, wall = min(timings)
    assert evidence.meta.entry_count == entries
    assert evidence.index.lookup(content_from_int(int(probe, 16))) is not None
    print(f"verify_crl: {cpu:.2f} s CPU ({wall:.2f} s wall), best of 3")

    openssl = shutil.which("openssl")
    if openssl is None:
        print("openssl: not installed, signature not cross-checked")
        return
    cpu_before = time.perf_counter()
    result = subprocess.run(
        [openssl, "crl", "-inform", "DER", "-in", str(crl), "-noout", "-CAfile",
         str(folder / "bench-ca.crt")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    verdict = (result.stdout + result.stderr).strip() or f"exit {result.returncode}"
    print(f"openssl crl -CAfile: {verdict} ({time.perf_counter() - cpu_before:.2f} s)")


if __name__ == "__main__":
    import sys

    measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
