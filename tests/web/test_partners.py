"""GET /v1/partners and the page at GET /: every partner, issuer and source, with freshness
computed from the clock at read time, and whatever the sources last did."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from revocd.clock import ManualClock
from revocd.metrics import Metrics
from revocd.status.board import SourceBoard
from revocd.status.cache import StatusCache
from revocd.web import keys
from revocd.web.app import make_app
from tests.support.pki import T0
from tests.web.conftest import (
    ACME_MIRROR,
    ACME_URL,
    CRL_NUMBER,
    GLOBEX_URL,
    ClientFactory,
    World,
    acme_meta,
    build_world,
)
from tests.web.openapi import call

Client = TestClient[Any, Any]


async def partners(client: Client) -> dict[str, Any]:
    code, body = await call(client, "GET", "/v1/partners", "/v1/partners")
    assert code == 200
    return body


def by_url(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        source["url"]: source
        for partner in body["partners"]
        for issuer in partner["issuers"]
        for source in issuer["sources"]
    }


async def test_partners_and_issuers(client: Client, world: World) -> None:
    body = await partners(client)
    assert body["checked_at"] == "2026-01-01T02:00:00Z"
    assert [p["name"] for p in body["partners"]] == ["acme", "globex"]
    acme, globex = body["partners"]
    assert (acme["grace_seconds"], acme["poll_interval_seconds"]) == (3600, 300)
    issuer = acme["issuers"][0]
    key = world.key("acme-issuing")
    assert issuer == {
        **issuer,
        "name": "acme-issuing",
        "subject": "CN=Acme CA,O=revocd tests",
        "key_sha1": key.key_sha1.hex(),
        "key_sha256": key.key_sha256.hex(),
        "freshness": "fresh",
        "crl_number": CRL_NUMBER,
        "this_update": "2026-01-01T00:00:00Z",
        "next_update": "2026-01-02T00:00:00Z",
        "entry_count": 4,
        "sticky_count": 1,
    }
    bridge = globex["issuers"][0]
    assert (bridge["name"], bridge["subject"], bridge["freshness"]) == (
        "globex-bridge",
        "CN=Globex CA,O=revocd tests",
        "none",
    )
    assert (bridge["crl_number"], bridge["entry_count"], bridge["sticky_count"]) == (None, None, 0)


async def test_a_source_that_never_answered(client: Client) -> None:
    source = by_url(await partners(client))[GLOBEX_URL]
    assert source == {
        "type": "crl",
        "url": GLOBEX_URL,
        "freshness": "none",
        "state": "none",
        "failing": False,
        "behind": False,
        "last_success": None,
        "last_error": None,
        "last_error_at": None,
        "last_reject_reason": None,
        "crl_number": None,
        "this_update": None,
        "next_update": None,
        "entry_count": None,
    }


async def test_source_state_from_the_board(client: Client, world: World) -> None:
    world.board.update(
        world.source("acme-issuing", ACME_MIRROR),
        meta=replace(
            acme_meta(),
            source_url=ACME_MIRROR,
            crl_number=CRL_NUMBER - 1,
            this_update=T0 - timedelta(days=1),
            next_update=T0 + timedelta(hours=3),
            entry_count=3,
        ),
        last_success=T0 - timedelta(days=1),
        failing=True,
        behind=True,
        last_error="CRL signature does not verify with the issuer's key (bad_signature)",
        last_error_at=T0 + timedelta(hours=1),
        last_reject_reason="bad_signature",
    )
    sources = by_url(await partners(client))
    mirror = sources[ACME_MIRROR]
    assert {k: mirror[k] for k in mirror if k not in ("type", "url")} == {
        "freshness": "fresh",
        "state": "fresh",
        "failing": True,
        "behind": True,
        "last_success": "2025-12-31T00:00:00Z",
        "last_error": "CRL signature does not verify with the issuer's key (bad_signature)",
        "last_error_at": "2026-01-01T01:00:00Z",
        "last_reject_reason": "bad_signature",
        "crl_number": CRL_NUMBER - 1,
        "this_update": "2025-12-31T00:00:00Z",
        "next_update": "2026-01-01T03:00:00Z",
        "entry_count": 3,
    }
    primary = sources[ACME_URL]
    assert (primary["failing"], primary["last_success"], primary["crl_number"]) == (
        False,
        "2026-01-01T00:00:00Z",
        CRL_NUMBER,
    )


@pytest.mark.parametrize(
    ("at", "primary", "mirror"),
    [
        (timedelta(hours=2), "fresh", "fresh"),
        (timedelta(hours=3, minutes=30), "fresh", "stale"),
        (timedelta(hours=4), "fresh", "expired"),
        (timedelta(days=1, minutes=1), "stale", "expired"),
        (timedelta(days=1, hours=1), "expired", "expired"),
    ],
    ids=["both-fresh", "mirror-stale", "mirror-expired", "primary-stale", "both-expired"],
)
async def test_freshness_follows_the_clock(
    client: Client, world: World, at: timedelta, primary: str, mirror: str
) -> None:
    """Nothing is written to the board between reads: only the clock moves."""
    world.board.update(
        world.source("acme-issuing", ACME_MIRROR),
        meta=replace(acme_meta(), source_url=ACME_MIRROR, next_update=T0 + timedelta(hours=3)),
    )
    world.clock.set(T0 + at)
    body = await partners(client)
    sources = by_url(body)
    assert (sources[ACME_URL]["freshness"], sources[ACME_MIRROR]["freshness"]) == (primary, mirror)
    assert body["partners"][0]["issuers"][0]["freshness"] == primary
    assert body["checked_at"] == (T0 + at).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("at", "expiring_before", "freshness", "state"),
    [
        (timedelta(hours=3, minutes=30), timedelta(minutes=15), "stale", "stale"),
        (timedelta(hours=3, minutes=50), timedelta(minutes=15), "stale", "expiring"),
        (timedelta(hours=3, minutes=35), timedelta(minutes=30), "stale", "expiring"),
        (timedelta(hours=4), timedelta(minutes=15), "expired", "expired"),
    ],
    ids=["stale", "expiring", "expiring-after-a-reload", "expired"],
)
async def test_state_is_freshness_with_expiring(
    client: Client,
    world: World,
    at: timedelta,
    expiring_before: timedelta,
    freshness: str,
    state: str,
) -> None:
    """`state` names the source as the alerts do: `expiring` in the last `[alerts]
    expiring_before` of the grace (1 h here), from the value a reload last assigned."""
    world.board.update(
        world.source("acme-issuing", ACME_MIRROR),
        meta=replace(acme_meta(), source_url=ACME_MIRROR, next_update=T0 + timedelta(hours=3)),
    )
    world.app[keys.PARTNERS].expiring_before = expiring_before  # what a reload assigns
    world.clock.set(T0 + at)
    mirror = by_url(await partners(client))[ACME_MIRROR]
    assert (mirror["freshness"], mirror["state"]) == (freshness, state)


async def test_page_lists_every_partner_issuer_and_source(client: Client, world: World) -> None:
    world.board.update(
        world.source("globex-bridge", GLOBEX_URL),
        failing=True,
        last_error="connection refused",
        last_error_at=T0,
    )
    response = await client.get("/")
    assert (response.status, response.content_type) == (200, "text/html")
    page = await response.text()
    for text in ("acme", "globex", "acme-issuing", "globex-bridge", ACME_URL, ACME_MIRROR):
        assert text in page
    assert 'connection refused<br><span class="when">at 2026-01-01T00:00:00Z' in page
    assert "failing" in page
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


async def test_page_escapes_hostile_names(aiohttp_client: ClientFactory) -> None:
    hostile = '<script>alert("acme")</script>'
    world = build_world(acme_name=hostile, globex_name="globex & <b>co</b>")
    world.board.update(
        world.source("acme-issuing", ACME_URL), last_error="<img src=x onerror=alert(1)>"
    )
    client: Client = await aiohttp_client(world.app)
    page = await (await client.get("/")).text()
    assert page.count("<script") == 1  # the page's own, allowed by hash (tests/web/test_page.py)
    assert "<b>" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(&quot;acme&quot;)&lt;/script&gt;" in page
    assert "globex &amp; &lt;b&gt;co&lt;/b&gt;" in page
    body = await partners(client)
    assert body["partners"][0]["name"] == hostile


async def test_page_without_partners(aiohttp_client: ClientFactory) -> None:
    app = make_app(
        cache=StatusCache(()),
        board=SourceBoard(()),
        clock=ManualClock(T0),
        partners=(),
        metrics=Metrics(),
    )
    client: Client = await aiohttp_client(app)
    assert "no partners configured" in await (await client.get("/")).text()
    assert (await partners(client))["partners"] == []
