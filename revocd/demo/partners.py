"""The partners' own publication points, run by the demo next to revocd: one aiohttp
server for the CRL distribution points, and fabrikam's OCSP responder, a real
``openssl ocsp -index`` subprocess that the demo starts and stops.

openssl 3.0's responder serves one connection at a time, reloads its index only when it
goes back to accept a connection, and wedges on a connection that sends nothing; so
readiness is its "ACCEPT" line (never a TCP probe), and after each index change the demo
sends it one real request, after which every client sees the new index. It listens on
every interface (``-port`` takes only a number in 3.0).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from revocd.daemon import die_with_parent
from revocd.demo.pki import DemoCA, Federation, certificate, pem, pem_key, x509_name

OCSP_VALIDITY_MINUTES = 1  # fabrikam's responder: nextUpdate = thisUpdate + 1 minute
ACCEPT = re.compile(rb"ACCEPT .*:(\d+) ")


class PartnerWeb:
    """The partners' CRL distribution points: one tiny aiohttp server for all of them."""

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


def _replace(path: Path, data: bytes) -> None:
    """Write a whole new file in one step: a reader sees the old one or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def publish_crls(site: PartnerWeb, directory: Path, federation: Federation) -> None:
    now = datetime.now(UTC)
    site.crls["/northwind/root.crl"] = federation.northwind.crl(now)
    contoso_crl = federation.contoso.crl(now)
    site.crls["/contoso/issuing.crl"] = contoso_crl
    _replace(directory / "mirror" / "contoso.crl", contoso_crl)


class PartnerResponder:
    """fabrikam's own OCSP responder: `openssl ocsp -index index.txt -port ...`, signing
    with an OCSP certificate fabrikam's CA issued to it."""

    def __init__(self, folder: Path, ca: DemoCA, now: datetime) -> None:
        self.folder = folder
        self.ca = ca
        self.url = ""
        self.pid = 0
        self._process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "ca.pem").write_bytes(pem(ca.cert))
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509_name(ca.partner, "Fabrikam OCSP Responder")
        issuer = (ca.cert.subject, ca.key)
        cert = certificate(subject, key, now, days=30, signer=issuer, ocsp_signing=True)
        (folder / "responder.pem").write_bytes(pem(cert))
        (folder / "responder.key").write_bytes(pem_key(key))
        (folder / "index.txt.attr").write_text("unique_subject = no\n")
        self.write_index()

    def write_index(self) -> None:
        _replace(self.folder / "index.txt", self.ca.index().encode())

    async def start(self) -> str:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise SystemExit(
                "revocd demo: the OCSP-only partner needs the openssl command "
                "(Debian/Ubuntu: apt-get install openssl)"
            )
        log = (self.folder / "responder.log").open("ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                openssl, "ocsp", "-index", "index.txt", "-port", "0",
                "-rsigner", "responder.pem", "-rkey", "responder.key", "-CA", "ca.pem",
                "-nmin", str(OCSP_VALIDITY_MINUTES), "-ignore_err",
                cwd=self.folder,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                preexec_fn=die_with_parent,  # never outlives a killed demo
            )  # fmt: skip
        finally:
            log.close()
        self.pid = self._process.pid
        stdout = self._process.stdout
        assert stdout is not None
        async with asyncio.timeout(10):
            while line := await stdout.readline():
                if found := ACCEPT.search(line):
                    self.url = f"http://127.0.0.1:{int(found.group(1))}/"
                    break
        if not self.url:
            raise SystemExit(
                f"revocd demo: openssl ocsp exited before it was ready; see "
                f"{self.folder / 'responder.log'}"
            )
        self._drain = asyncio.create_task(self._discard(stdout))
        return self.url

    @staticmethod
    async def _discard(stdout: asyncio.StreamReader) -> None:
        while await stdout.read(4096):  # a full pipe would stall the responder
            pass

    async def nudge(self, session: aiohttp.ClientSession) -> None:
        """Make the responder reload a changed index: it looks at the file only between
        two requests, so after this one every client gets answers from the new index."""
        _, cert = self.ca.leaves[0]
        sha1 = hashes.SHA1()  # noqa: S303 - the CertID hash every responder knows (RFC 5019)
        request = ocsp.OCSPRequestBuilder().add_certificate(cert, self.ca.cert, sha1)
        body = request.build().public_bytes(serialization.Encoding.DER)
        headers = {"Content-Type": "application/ocsp-request"}
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.post(self.url, data=body, headers=headers) as response:
                await response.read()

    async def close(self) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain
