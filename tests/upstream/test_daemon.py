"""The daemon's wiring, in process: an OCSP-only issuer answered over the JSON API (as the
OpenAPI document promises), its source's health in /v1/partners and /metrics, and replica
processes kept for `workers = 2` (they copy the upstream answers: tests/e2e/
test_replicas_upstream.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import ClientSession
from aiohttp.test_utils import TestClient

from revocd.config import load_config
from revocd.daemon import (
    REPLICAS,
    Overrides,
    build_app,
    open_store,
    restore_upstream,
    upstream_targets,
)
from revocd.serials import content_from_int
from revocd.status.answer import CertStatus
from revocd.upstream.cache import UpstreamCache
from revocd.upstream.client import OcspClient
from revocd.upstream.health import HealthBoard
from revocd.upstream.query import Upstream
from revocd.upstream.verify import UpstreamAnswer
from tests.support.pki import make_ca
from tests.upstream.conftest import Rig
from tests.upstream.test_scripted import respond
from tests.web.openapi import validate

ClientFactory = Callable[..., Any]


def config_for(tmp: Path, rig: Rig, good: str, bad: str) -> Path:
    rig.pki.ca.write(tmp, "partner")
    make_ca("revocd responder").write(tmp, "responder")
    path = tmp / "revocd.toml"
    path.write_text(
        f"""
[server]
listen = "127.0.0.1:0"
workers = 2

[store]
path = "revocd.db"

[responder]
cert = "responder.pem"
key = "responder.key"

[[partner]]
name = "initech"

  [[partner.issuer]]
  name = "initech-issuing"
  cert = "partner.pem"
  ocsp = ["{good}"]

[[partner]]
name = "hooli"

  [[partner.issuer]]
  name = "hooli-issuing"
  cert = "hooli.pem"
  ocsp = ["{bad}"]  # answers signed by the Initech CA: not Hooli's
"""
    )
    make_ca("Hooli CA").write(tmp, "hooli")
    return path


async def ready(client: TestClient[Any, Any]) -> None:
    for _ in range(200):
        if (await client.get("/readyz")).status == 200:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("never ready")


async def test_json_answers_partners_and_metrics(
    rig: Rig, tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    good = await rig.serve(respond(rig))
    bad = await rig.serve(respond(rig))
    config = load_config(config_for(tmp_path, rig, good.url, bad.url))
    app = build_app(
        config,
        Overrides(clock=rig.clock, executor_factory=lambda: ThreadPoolExecutor(1)),
    )
    assert REPLICAS in app  # replicas serve upstream answers too (started by serve())
    client: TestClient[Any, Any] = await aiohttp_client(app)
    await ready(client)

    response = await client.get("/v1/status/initech-issuing/42")
    body = await response.json()
    validate("/v1/status/{issuer}/{serial}", "get", 200, body)
    assert body["status"] == "good"
    assert body["source"] == {"type": "ocsp", "url": good.url, "crl_number": None}

    response = await client.post(
        "/v1/status",
        json={"queries": [
            {"issuer": "initech-issuing", "serial": "43"},
            {"issuer": "hooli-issuing", "serial": "43"},
            {"issuer": "nobody", "serial": "43"},
        ]},
    )  # fmt: skip
    batch = await response.json()
    validate("/v1/status", "post", 200, batch)
    statuses = [
        (r.get("status"), r.get("unknown_reason"), r.get("error")) for r in batch["results"]
    ]
    assert statuses == [
        ("good", None, None),
        ("unknown", "upstream_rejected", None),
        (None, None, "unknown_issuer"),
    ]

    partners = await (await client.get("/v1/partners")).json()
    validate("/v1/partners", "get", 200, partners)
    health = {
        issuer["name"]: (source["health"], source["reason"], source["failing"])
        for partner in partners["partners"]
        for issuer in partner["issuers"]
        for source in issuer["sources"]
    }
    assert health == {
        "initech-issuing": ("ok", None, False),
        "hooli-issuing": ("failing", "signer_not_authorized", True),  # not Hooli's key
    }
    metrics = await (await client.get("/metrics")).text()
    assert "revocd_upstream_requests_total{" in metrics
    assert 'state="failing"} 1.0' in metrics


async def test_a_restart_restores_answers_and_deletes_the_expired_ones(
    rig: Rig, tmp_path: Path
) -> None:
    """Every serial ever asked gets a row; a row past its nextUpdate + grace can never be
    served again, so a restart (and the hourly pass) deletes it, never a revoked one."""
    config = load_config(config_for(tmp_path, rig, "http://127.0.0.1:9/", "http://127.0.0.1:9/"))
    (issuer, policy), _ = upstream_targets(config)
    now = rig.clock.now()
    gone = now - policy.grace - timedelta(minutes=1)  # nextUpdate + grace passed a minute ago

    def stored(serial: int, status: CertStatus, next_update: datetime) -> UpstreamAnswer:
        return UpstreamAnswer(
            status=status, serial=content_from_int(serial),
            this_update=next_update - timedelta(hours=1), next_update=next_update,
            produced_at=next_update - timedelta(hours=1),
            revoked_at=now - timedelta(days=9) if status is CertStatus.REVOKED else None,
            reason=1 if status is CertStatus.REVOKED else None, next_update_given=True,
            delegated=False, has_nonce=False, der=b"response %d" % serial,
        )  # fmt: skip

    store = open_store(config.store)
    await store.open()
    try:
        for serial, status, next_update in [
            (1, CertStatus.GOOD, gone),
            (2, CertStatus.UNKNOWN, gone),
            (3, CertStatus.REVOKED, gone),
            (4, CertStatus.GOOD, now + timedelta(hours=1)),
        ]:
            await store.save_upstream(
                issuer.key.id, "http://ocsp/", stored(serial, status, next_update), now
            )
        async with ClientSession() as session:
            cache = UpstreamCache(
                Upstream(OcspClient(session), HealthBoard(), rig.clock), rig.clock
            )
            assert await restore_upstream(config, store, cache, now) == 2
        held = {int.from_bytes(h.serial, "big"): h.answer.status for h in cache.held() if h.answer}
        assert held == {3: CertStatus.REVOKED, 4: CertStatus.GOOD}
        assert len(await store.load_upstream(issuer.key.id)) == 2
    finally:
        await store.close()
