"""The JDK's own OCSP client (PKIXRevocationChecker, OpenJDK 17) as a relying party against
revocd's responder: good, revoked (with its reason), and an issuer revocd does not serve;
with a pinned trusted responder and with a delegated one. The JDK sends its small requests
as GETs, URL-encoded its own way, so the repeated ones are answered from the pre-signed
responses by the GET hot path."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from revocd.ocsp.signing import Signer
from revocd.web import keys
from tests.support.peers import need_binary
from tests.support.pki import issue, make_ca
from tests.support.relying import app_for, pem

pytestmark = [pytest.mark.peer, pytest.mark.slow]

SOURCE = Path(__file__).resolve().parent.parent / "support" / "java" / "OcspCheck.java"


@pytest.fixture(scope="module")
def java_client(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The client compiled once: `java -cp DIR OcspCheck ...`."""
    javac = need_binary("javac")
    out = tmp_path_factory.mktemp("java")
    subprocess.run([javac, "-d", str(out), str(SOURCE)], check=True, capture_output=True)
    return [need_binary("java"), "-cp", str(out), "OcspCheck"]


@pytest.mark.parametrize("mode", ["trusted", "delegated"])
async def test_the_jdk_accepts_good_and_refuses_revoked(
    aiohttp_client, tmp_path, java_client, mode
):
    ca = make_ca("Partner Issuing CA")
    good, _ = issue(ca, "alice", serial=0x2002)
    bad, _ = issue(ca, "mallory", serial=0x1001)
    if mode == "trusted":
        identity = make_ca("revocd responder")  # self-signed; the relying party pins it
        signer = Signer(identity.cert, identity.key, embed=False)
        pinned = [pem(tmp_path / "responder.pem", identity.cert)]
    else:
        cert, key = issue(ca, "revocd ocsp", ocsp_signing=True)
        signer = Signer(cert, key, embed=True)
        pinned = []
    client = await aiohttp_client(app_for(ca, signer, revoked=[0x1001]))
    url = str(client.make_url("/ocsp"))
    ca_pem = pem(tmp_path / "ca.pem", ca.cert)

    async def check(leaf: x509.Certificate, anchor: str = ca_pem) -> str:
        leaf_pem = pem(tmp_path / f"{leaf.serial_number:x}.pem", leaf)
        process = await asyncio.create_subprocess_exec(
            *java_client, anchor, leaf_pem, url, *pinned,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await process.communicate()
        return out.decode().strip()

    for _ in range(2):  # the second time from the pre-signed responses
        assert await check(good) == "good"
        assert await check(bad) == "revoked KEY_COMPROMISE"
    stranger = make_ca("Not Served CA")  # revocd answers `unauthorized`: no verdict
    outsider, _ = issue(stranger, "eve", serial=0x3003)
    refused = await check(outsider, pem(tmp_path / "stranger.pem", stranger.cert))
    assert refused == "error UNSPECIFIED OCSP response error: UNAUTHORIZED"  # the JDK's words
    registry = client.app[keys.METRICS].registry
    assert (
        registry.get_sample_value(
            "revocd_ocsp_requests_total", {"method": "GET", "status": "successful"}
        )
        == 4
    )  # the JDK's requests are small enough for GET
    assert registry.get_sample_value("revocd_ocsp_presigned_total", {"result": "hit"}) == 2
