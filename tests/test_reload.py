"""Reloading the daemon's configuration, in process (build_app + the app's Reloader, the
same one SIGHUP runs): partners added and removed while requests keep being answered,
unchanged sources not refetched, an invalid file refused with the running config kept."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from structlog.testing import capture_logs

from revocd.config import load_config
from revocd.daemon import RELOADER, Overrides, build_app
from revocd.model import IssuerKey
from tests.support.aiopartner import AioPartner
from tests.support.pki import CA, Entry, make_ca, make_crl

ClientFactory = Callable[..., Any]
ACME_CA = make_ca("Acme Issuing CA")
BETA_CA = make_ca("Beta Issuing CA")


def window() -> dict[str, datetime]:
    now = datetime.now(UTC).replace(microsecond=0)
    return {"this_update": now - timedelta(minutes=1), "next_update": now + timedelta(days=1)}


def partner_toml(name: str, url: str, poll: str = "1h") -> str:
    return f"""
[[partner]]
name = "{name}"
poll_interval = "{poll}"

  [[partner.issuer]]
  name = "{name}-issuing"
  cert = "pki/{name}.pem"
  crl = ["{url}"]
"""


def write(path: Path, *partners: str, extra: str = "") -> Path:
    path.write_text(
        f"""
[server]
listen = "127.0.0.1:0"
workers = 1

[store]
path = "revocd.db"

[responder]
cert = "pki/responder.pem"
key = "pki/responder.key"
{extra}
"""
        + "".join(partners)
    )
    return path


def ocsp_request(ca: CA, serial: int) -> bytes:
    key = IssuerKey.from_certificate(ca.cert)
    return (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(key.name_sha1, key.key_sha1, serial, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )


async def ocsp_status(client: TestClient[Any, Any], ca: CA, serial: int) -> str:
    response = await client.post(
        "/ocsp",
        data=ocsp_request(ca, serial),
        headers={"Content-Type": "application/ocsp-request"},
    )
    parsed = ocsp.load_der_ocsp_response(await response.read())
    if parsed.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return parsed.response_status.name.lower()
    return parsed.certificate_status.name.lower()


async def eventually(what: str, check: Callable[[], Any], timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def status(client: TestClient[Any, Any], issuer: str, serial: str) -> tuple[int, Any]:
    response = await client.get(f"/v1/status/{issuer}/{serial}")
    return response.status, await response.json()


async def metric(client: TestClient[Any, Any], line_start: str) -> str | None:
    text = await (await client.get("/metrics")).text()
    return next((ln for ln in text.splitlines() if ln.startswith(line_start)), None)


def hits(partner: AioPartner, path: str) -> int:
    return sum(1 for p, _ in partner.requests if p == path)


async def start(
    tmp_path: Path, partner: AioPartner, aiohttp_client: ClientFactory, *partners: str
) -> tuple[TestClient[Any, Any], Any, Path]:
    ACME_CA.write(tmp_path / "pki", "acme")
    BETA_CA.write(tmp_path / "pki", "beta")
    make_ca("revocd responder").write(tmp_path / "pki", "responder")
    path = write(tmp_path / "revocd.toml", *partners)
    app = build_app(load_config(path), Overrides(executor_factory=lambda: ThreadPoolExecutor(1)))
    client: TestClient[Any, Any] = await aiohttp_client(app)
    return client, app, path


async def test_add_then_remove_a_partner_while_answering(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    partner = await AioPartner().start()
    try:
        partner.publish("/acme.crl", make_crl(ACME_CA, [Entry(0x1001)], **window()))
        partner.publish("/beta.crl", make_crl(BETA_CA, [Entry(0x2002)], **window()))
        acme = partner_toml("acme", partner.url("/acme.crl"))
        beta = partner_toml("beta", partner.url("/beta.crl"))
        client, app, path = await start(tmp_path, partner, aiohttp_client, acme)

        async def acme_revoked() -> bool:
            code, body = await status(client, "acme-issuing", "1001")
            return code == 200 and body["status"] == "revoked"

        await eventually("acme's CRL", acme_revoked)
        assert await ocsp_status(client, ACME_CA, 0x1001) == "revoked"  # now pre-signed
        assert (await status(client, "beta-issuing", "2002"))[0] == 404

        # requests keep being answered while reloading
        failures: list[object] = []
        stop = asyncio.Event()

        async def ask() -> None:
            while not stop.is_set():
                code, body = await status(client, "acme-issuing", "1001")
                if code != 200 or body["status"] != "revoked":
                    failures.append((code, body))
                if await ocsp_status(client, ACME_CA, 0x1001) != "revoked":
                    failures.append("ocsp")

        asker = asyncio.create_task(ask())
        write(path, acme, beta)
        with capture_logs() as logs:
            changes = await app[RELOADER].reload()
        assert changes is not None
        assert changes.issuers_added == ("beta-issuing",)

        async def beta_revoked() -> bool:
            code, body = await status(client, "beta-issuing", "2002")
            return code == 200 and body["status"] == "revoked"

        await eventually("beta's CRL", beta_revoked)
        stop.set()
        await asker
        assert failures == []
        assert hits(partner, "/acme.crl") == 1  # unchanged: not fetched again
        reloaded = [e for e in logs if e["event"] == "config_reloaded"]
        assert reloaded[0]["sources_added"] == 1
        assert reloaded[0]["sources_unchanged"] == 1
        partners = await (await client.get("/v1/partners")).json()
        assert [p["name"] for p in partners["partners"]] == ["acme", "beta"]
        assert await metric(client, 'revocd_config_reloads_total{result="applied"} 1.0')

        # remove acme: unknown issuer in JSON and OCSP, beta still answers
        write(path, beta)
        assert await app[RELOADER].reload() is not None
        code, body = await status(client, "acme-issuing", "1001")
        assert code == 404
        assert body["error"] == "unknown_issuer"
        assert await ocsp_status(client, ACME_CA, 0x1001) == "unauthorized"
        assert await ocsp_status(client, BETA_CA, 0x2002) == "revoked"
        partners = await (await client.get("/v1/partners")).json()
        assert [p["name"] for p in partners["partners"]] == ["beta"]
        gauges = [
            line
            for line in (await (await client.get("/metrics")).text()).splitlines()
            if line.startswith(("revocd_source_freshness{", "revocd_issuer_revoked_entries{"))
        ]
        assert gauges
        assert not [line for line in gauges if 'partner="acme"' in line]  # counters stay
    finally:
        await partner.close()


async def test_an_invalid_file_is_refused_and_the_running_config_stays(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    partner = await AioPartner().start()
    try:
        partner.publish("/acme.crl", make_crl(ACME_CA, [Entry(0x1001)], **window()))
        acme = partner_toml("acme", partner.url("/acme.crl"))
        client, app, path = await start(tmp_path, partner, aiohttp_client, acme)

        async def acme_revoked() -> bool:
            code, body = await status(client, "acme-issuing", "1001")
            return code == 200 and body["status"] == "revoked"

        await eventually("acme's CRL", acme_revoked)
        write(path, partner_toml("acme", partner.url("/acme.crl"), poll="5x"))
        with capture_logs() as logs:
            assert await app[RELOADER].reload() is None
        failed = [e for e in logs if e["event"] == "config_reload_failed"]
        assert failed[0]["log_level"] == "error"
        assert "revocd.toml" in failed[0]["error"]
        assert "poll_interval" in failed[0]["error"]
        assert await acme_revoked()
        assert await metric(client, 'revocd_config_reloads_total{result="failed"} 1.0')
        assert await metric(client, 'revocd_config_reloads_total{result="applied"}') is None

        path.write_text("not [valid toml")
        assert await app[RELOADER].reload() is None
        assert await metric(client, 'revocd_config_reloads_total{result="failed"} 2.0')
        assert await acme_revoked()
    finally:
        await partner.close()
