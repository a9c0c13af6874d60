"""The daemon's wiring, in process: an OCSP-only issuer answered over the JSON API (as the
OpenAPI document promises), its source's health in /v1/partners and /metrics, and replica
processes kept for `workers = 2` (they copy the upstream answers: tests/e2e/
test_replicas_upstream.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from revocd.config import load_config
from revocd.daemon import REPLICAS, Overrides, build_app
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
