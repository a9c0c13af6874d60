"""Go's golang.org/x/crypto/ocsp (the OCSP library of Go programs: Caddy's certmagic,
cfssl) as a relying party against revocd's delegated responder: POST and GET (the plain
base64 in the path, slashes and all), SHA-1 and SHA-256 CertIDs, good and revoked with
its reason; every response parsed and verified by Go against the partner's CA."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from revocd.ocsp.signing import Signer
from revocd.web import keys
from tests.support.peers import need_binary, need_path
from tests.support.pki import issue, make_ca
from tests.support.relying import KEY_COMPROMISE, app_for, pem

pytestmark = [pytest.mark.peer, pytest.mark.slow]

SOURCE = Path(__file__).resolve().parent.parent / "support" / "go" / "ocspcheck.go"
GOPATH = Path("/usr/share/gocode")  # Debian's golang-golang-x-crypto-dev


@pytest.fixture(scope="module")
def go_client(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The client built once, offline, from Debian's x/crypto sources."""
    go = need_binary("go")
    need_path(GOPATH / "src" / "golang.org" / "x" / "crypto" / "ocsp", "golang-golang-x-crypto-dev")
    out = tmp_path_factory.mktemp("go")
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOCACHE": str(out / "cache"),
        "GOFLAGS": "",
    }
    binary = out / "ocspcheck"
    subprocess.run(
        [go, "build", "-o", str(binary), str(SOURCE)], check=True, capture_output=True, env=env
    )
    return str(binary)


async def test_go_verifies_good_and_revoked_over_post_and_get(aiohttp_client, tmp_path, go_client):
    ca = make_ca("Partner Issuing CA")
    cert, key = issue(ca, "revocd ocsp", ocsp_signing=True)
    client = await aiohttp_client(app_for(ca, Signer(cert, key, embed=True), revoked=[0x1001]))
    url = str(client.make_url("/ocsp"))
    ca_pem = pem(tmp_path / "ca.pem", ca.cert)
    good = pem(tmp_path / "good.pem", issue(ca, "alice", serial=0x2002)[0])
    bad = pem(tmp_path / "bad.pem", issue(ca, "mallory", serial=0x1001)[0])

    async def check(leaf: str, method: str, hash_name: str) -> str:
        process = await asyncio.create_subprocess_exec(
            go_client, ca_pem, leaf, url, method, hash_name,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await process.communicate()
        return out.decode().strip()

    for method in ("post", "get", "get"):  # the second GET from the pre-signed responses
        for hash_name in ("sha1", "sha256"):
            assert await check(good, method, hash_name) == "good"
            assert await check(bad, method, hash_name) == f"revoked {KEY_COMPROMISE}"
    registry = client.app[keys.METRICS].registry
    gets = registry.get_sample_value(
        "revocd_ocsp_requests_total", {"method": "GET", "status": "successful"}
    )
    assert gets == 8
