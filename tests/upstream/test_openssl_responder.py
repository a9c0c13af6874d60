"""Against a real `openssl ocsp -index ... -port` responder over a real `openssl ca`
database: signing with a delegated OCSP certificate and with the CA key, GET and POST,
good / revoked / unknown, nonces echoed.

openssl 3.0's responder is fragile: it serves one connection at a time and wedges on a
connection that sends nothing, so readiness is its "ACCEPT" line, never a TCP probe.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from revocd.clock import SystemClock
from revocd.model import Issuer
from revocd.serials import content_from_int
from revocd.status.answer import CertStatus
from revocd.upstream.cache import UpstreamCache
from revocd.upstream.client import OcspClient, build_request
from revocd.upstream.health import HealthBoard
from revocd.upstream.outcome import Accepted
from revocd.upstream.query import Upstream
from revocd.upstream.verify import verify_upstream
from tests.support.openssl_ca import OpensslCA
from tests.support.peers import need_binary
from tests.support.pki import CA, issue
from tests.upstream.conftest import POLICY, make_issuer

pytestmark = [pytest.mark.peer, pytest.mark.slow]

ACCEPT = re.compile(rb"ACCEPT .*:(\d+) ")


async def start_responder(
    ca: OpensslCA, signer: Path, key: Path
) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        need_binary("openssl"), "ocsp", "-index", "index.txt", "-port", "0",
        "-rsigner", str(signer), "-rkey", str(key), "-CA", "ca.pem", "-nmin", "5",
        "-ignore_err",
        cwd=ca.dir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    async with asyncio.timeout(10):
        while match := await process.stdout.readline():
            if found := ACCEPT.search(match):
                return process, f"http://127.0.0.1:{int(found.group(1))}/"
    raise AssertionError("openssl ocsp exited before it printed ACCEPT")


class Partner:
    def __init__(self, tmp: Path) -> None:
        self.ca = OpensslCA.create(tmp / "ca", common_name="OpenSSL Partner CA")
        self.good = self.ca.issue("good")
        self.revoked = self.ca.issue("revoked")
        self.ca.revoke("revoked", "keyCompromise")
        cert = x509.load_pem_x509_certificate(self.ca.cert_pem)
        key = serialization.load_pem_private_key((self.ca.dir / "ca.key").read_bytes(), None)
        now = datetime.now(UTC)
        responder, responder_key = issue(
            CA(cert, key),  # type: ignore[arg-type]
            "OpenSSL Partner OCSP",
            ocsp_signing=True,
            not_before=now - timedelta(days=1),
            not_after=now + timedelta(days=30),
        )
        CA(responder, responder_key).write(self.ca.dir, "responder")
        self.cert = cert


@pytest.fixture(scope="module")
def partner(tmp_path_factory: pytest.TempPathFactory) -> Partner:
    return Partner(tmp_path_factory.mktemp("openssl-partner"))


@pytest.fixture(params=["delegated", "ca-key"])
async def responder(
    request: pytest.FixtureRequest, partner: Partner
) -> AsyncIterator[tuple[Issuer, str]]:
    stem = "responder" if request.param == "delegated" else "ca"
    signer = partner.ca.dir / f"{stem}.pem"
    key = partner.ca.dir / f"{stem}.key"
    process, url = await start_responder(partner.ca, signer, key)
    try:
        yield make_issuer(CA(partner.cert, None), (url,)), request.param  # type: ignore[arg-type]
    finally:
        process.terminate()
        await process.wait()


async def test_good_revoked_and_unknown_through_the_cache(
    responder: tuple[Issuer, str], partner: Partner
) -> None:
    issuer, mode = responder
    async with aiohttp.ClientSession(trust_env=False) as session:
        upstream = Upstream(OcspClient(session), HealthBoard(), SystemClock())
        cache = UpstreamCache(upstream, SystemClock())
        good = await cache.lookup(issuer, POLICY, content_from_int(partner.good))
        revoked = await cache.lookup(issuer, POLICY, content_from_int(partner.revoked))
        unknown = await cache.lookup(issuer, POLICY, content_from_int(0x7777))
        await cache.close()
    for result in (good, revoked, unknown):
        assert result.failure is None, result.failure
        assert result.answer is not None
        assert result.answer.has_nonce  # openssl echoes the nonce revocd sent
        assert result.answer.next_update_given  # -nmin 5
        assert result.answer.next_update - result.answer.this_update == timedelta(minutes=5)
        assert result.answer.delegated is (mode == "delegated")
    assert good.answer is not None
    assert revoked.answer is not None
    assert unknown.answer is not None
    assert good.answer.status is CertStatus.GOOD
    assert revoked.answer.status is CertStatus.REVOKED
    assert revoked.answer.reason == 1  # keyCompromise
    assert unknown.answer.status is CertStatus.UNKNOWN


async def test_post_and_no_nonce(responder: tuple[Issuer, str], partner: Partner) -> None:
    issuer, _ = responder
    policy = replace(POLICY, ocsp=replace(POLICY.ocsp, nonce=False))
    request = build_request(issuer.cert, content_from_int(partner.revoked), nonce=None)
    async with aiohttp.ClientSession(trust_env=False) as session:
        body = await OcspClient(session).send(
            issuer.ocsp_urls[0],
            request.der,
            timeout=policy.ocsp.timeout,
            max_bytes=policy.ocsp.max_bytes,
            use_get=False,
        )
        answer = verify_upstream(
            body,
            issuer=issuer.cert,
            asked=request.asked,
            now=datetime.now(UTC),
            clock_skew=policy.clock_skew,
            default_validity=policy.ocsp.default_validity,
        )
        assert answer.status is CertStatus.REVOKED
        assert not answer.has_nonce
        # and once more through Upstream, on the same kept-alive session
        outcome = await Upstream(OcspClient(session), HealthBoard(), SystemClock()).ask(
            issuer, policy, content_from_int(partner.good)
        )
    assert isinstance(outcome, Accepted), outcome
    assert outcome.answer.status is CertStatus.GOOD
