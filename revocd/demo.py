"""`revocd demo`: a self-contained federation on 127.0.0.1, and revocd aggregating it.

Two partners publish CRLs over HTTP from a little partner web server started here:

* ``northwind``: a root CA, CRL-only;
* ``contoso``: a CA cross-certified by northwind (the cross-certificate is written next
  to the PKI, and contoso's certificates resolve to contoso whichever chain a relying
  party built).

While the demo runs, each partner revokes one of its certificates every few seconds
and republishes its CRL (CRL number + 1); revocd picks it up on its next poll. The demo
prints commands to try and keeps running until Ctrl-C. Everything lives in one
directory (a temporary one unless --dir is given), including the embedded store.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from revocd import logs
from revocd.config import load_config
from revocd.daemon import serve

CRL_VALIDITY = timedelta(minutes=10)
POLL_INTERVAL = "5s"


@dataclass
class DemoCA:
    """A partner CA that issues certificates and publishes a CRL on demand."""

    partner: str
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    leaves: list[tuple[str, x509.Certificate]] = field(default_factory=list)
    revoked: list[tuple[int, datetime, x509.ReasonFlags]] = field(default_factory=list)
    crl_number: int = 0

    def issue(self, common_name: str, now: datetime) -> x509.Certificate:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(self.partner, common_name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=90))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.leaves.append((common_name, cert))
        return cert

    def revoke(self, cert: x509.Certificate, now: datetime, reason: x509.ReasonFlags) -> None:
        self.revoked.append((cert.serial_number, now, reason))

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


def _name(org: str, common_name: str) -> x509.Name:
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
    subject = _name(partner, common_name)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(signer.cert.subject if signer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(signer.key if signer else key, hashes.SHA256())
    )


def make_federation(now: datetime) -> tuple[DemoCA, DemoCA, x509.Certificate]:
    """northwind (root) and contoso (root, cross-certified by northwind)."""
    nw_key = ec.generate_private_key(ec.SECP256R1())
    northwind = DemoCA("northwind", _ca("northwind", "Northwind Root CA", now, key=nw_key), nw_key)
    co_key = ec.generate_private_key(ec.SECP256R1())
    contoso = DemoCA("contoso", _ca("contoso", "Contoso Issuing CA", now, key=co_key), co_key)
    cross = _ca("contoso", "Contoso Issuing CA", now, signer=northwind, key=co_key)
    return northwind, contoso, cross


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def write_config(directory: Path, port: int, partner_url: str) -> Path:
    config = directory / "revocd.toml"
    config.write_text(
        f"""# Written by `revocd demo`.
[server]
listen = "127.0.0.1:{port}"

[store]
backend = "sqlite"
path = "revocd.db"

[responder]
cert = "pki/responder.pem"
key = "pki/responder.key"
max_age = "10m"
nonce = "echo"

[defaults]
poll_interval = "{POLL_INTERVAL}"
grace = "5m"
timeout = "5s"
max_crl_bytes = "10MiB"
clock_skew = "1m"

[[partner]]
name = "northwind"

  [[partner.issuer]]
  name = "northwind-root"
  cert = "pki/northwind-root.pem"
  crl = ["{partner_url}/northwind/root.crl"]

[[partner]]
name = "contoso"
grace = "10m"

  [[partner.issuer]]
  name = "contoso-issuing"
  cert = "pki/contoso-issuing.pem"
  crl = ["{partner_url}/contoso/issuing.crl", "file://{directory / "mirror" / "contoso.crl"}"]
"""
    )
    return config


class PartnerWeb:
    """The partners' CRL distribution points: one tiny aiohttp server for both."""

    def __init__(self) -> None:
        self.crls: dict[str, bytes] = {}
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/{partner}/{name}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    async def _serve(self, request: web.Request) -> web.Response:
        body = self.crls.get(request.path)
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(body=body, content_type="application/pkix-crl")

    async def close(self) -> None:
        if self._runner:
            await self._runner.cleanup()


def publish(site: PartnerWeb, directory: Path, northwind: DemoCA, contoso: DemoCA) -> None:
    now = datetime.now(UTC)
    site.crls["/northwind/root.crl"] = northwind.crl(now)
    contoso_crl = contoso.crl(now)
    site.crls["/contoso/issuing.crl"] = contoso_crl
    mirror = directory / "mirror" / "contoso.crl"
    tmp = mirror.with_suffix(".tmp")
    tmp.write_bytes(contoso_crl)
    tmp.replace(mirror)


def write_responder(pki: Path, now: datetime) -> None:
    """revocd's own OCSP signing identity (`trusted` mode): relying parties pin it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("revocd demo", "revocd demo OCSP responder")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (pki / "responder.pem").write_bytes(_pem(cert))
    (pki / "responder.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def commands_to_try(port: int, directory: Path, northwind: DemoCA, contoso: DemoCA) -> str:
    url = f"http://127.0.0.1:{port}"
    certs = directory / "certs"
    pki = directory / "pki"
    nw_leaf = certs / "northwind-1.pem"
    co_leaf = certs / "contoso-1.pem"
    nw_serial = f"{northwind.leaves[0][1].serial_number:x}"
    return f"""
revocd demo is running: revocd on {url}, partners' CRLs on a local web server.
Files (PKI, config, store): {directory}
Every few seconds a partner revokes one of its certificates; watch the answers change.

Try:
  curl -s {url}/v1/partners | python3 -m json.tool
  curl -s {url}/v1/status/northwind-root/{nw_serial}
  {sys.argv[0]} status --url {url}
  {sys.argv[0]} query --url {url} --cert {nw_leaf}
  {sys.argv[0]} query --url {url} --cert {co_leaf} --json
  curl -s -X POST -H 'Content-Type: application/json' \\
       -d '{{"queries": [{{"issuer": "northwind-root", "serial": "{nw_serial}"}}]}}' {url}/v1/status
  {sys.argv[0]} fetch --config {directory / "revocd.toml"}
  openssl ocsp -issuer {pki / "northwind-root.pem"} -cert {certs / "northwind-2.pem"} \\
       -url {url}/ocsp -VAfile {pki / "responder.pem"}
  open {url}/ in a browser for the freshness page

Ctrl-C to stop.
"""


async def _revoker(site: PartnerWeb, directory: Path, cas: list[DemoCA], every: float) -> None:
    reasons = itertools.cycle(
        [
            x509.ReasonFlags.key_compromise,
            x509.ReasonFlags.superseded,
            x509.ReasonFlags.cessation_of_operation,
            x509.ReasonFlags.certificate_hold,
        ]
    )
    turn = itertools.cycle(cas)
    while True:
        await asyncio.sleep(every)
        ca = next(turn)
        revoked = {serial for serial, _, _ in ca.revoked}
        # keep the first certificate of each CA good, so there is always a "good" to show
        candidates = [(n, c) for n, c in ca.leaves[1:] if c.serial_number not in revoked]
        if not candidates:
            continue
        name, cert = candidates[0]
        reason = next(reasons)
        ca.revoke(cert, datetime.now(UTC), reason)
        publish(site, directory, *cas)
        print(
            f"demo: {ca.partner} revoked {name} (serial {cert.serial_number:x}, {reason.value}); "
            f"CRL {ca.crl_number} published",
            flush=True,
        )


async def _main(port: int, directory: Path, every: float, log_format: str) -> None:
    now = datetime.now(UTC)
    northwind, contoso, cross = make_federation(now)
    pki = directory / "pki"
    certs = directory / "certs"
    for folder in (pki, certs, directory / "mirror"):
        folder.mkdir(parents=True, exist_ok=True)
    (pki / "northwind-root.pem").write_bytes(_pem(northwind.cert))
    (pki / "contoso-issuing.pem").write_bytes(_pem(contoso.cert))
    (pki / "contoso-issuing-by-northwind.pem").write_bytes(_pem(cross))
    write_responder(pki, now)
    for ca in (northwind, contoso):
        for i in range(1, 6):
            cert = ca.issue(f"{ca.partner}-{i}.example", now)
            (certs / f"{ca.partner}-{i}.pem").write_bytes(_pem(cert))
    site = PartnerWeb()
    partner_url = await site.start()
    publish(site, directory, northwind, contoso)
    config = load_config(write_config(directory, port, partner_url))
    logs.configure(log_format, "warning")
    print(commands_to_try(port, directory, northwind, contoso), flush=True)
    revoker = asyncio.create_task(_revoker(site, directory, [northwind, contoso], every))
    try:
        await serve(config)
    finally:
        revoker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await revoker
        await site.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_demo(port: int, directory: Path | None, every: float, log_format: str) -> int:
    port = port or _free_port()
    temporary = directory is None
    folder = Path(tempfile.mkdtemp(prefix="revocd-demo-")) if directory is None else directory
    folder.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(_main(port, folder.resolve(), every, log_format))
    except KeyboardInterrupt:
        pass
    finally:
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)
    return 0
