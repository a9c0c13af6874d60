"""The shared misbehaving partner (tests/support/partner.py) does what other suites rely on."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime

import aiohttp
import pytest

from tests.support.partner import Mode, PartnerServer

CRL = b"\x30\x03\x02\x01\x01"
T = datetime(2026, 1, 1, tzinfo=UTC)


async def raw_get(url: str, **headers: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, await response.read()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({}, 200, id="unconditional"),
        pytest.param({"If-None-Match": '"other", "v1"'}, 304, id="etag-in-a-list"),
        pytest.param({"If-None-Match": 'W/"v1"'}, 304, id="weak-etag"),
        pytest.param({"If-None-Match": "*"}, 304, id="star"),
        pytest.param({"If-None-Match": '"v0"'}, 200, id="other-etag"),
        pytest.param({"If-Modified-Since": "Thu, 01 Jan 2026 00:00:00 GMT"}, 304, id="ims-same"),
        pytest.param({"If-Modified-Since": "Wed, 31 Dec 2025 23:59:59 GMT"}, 200, id="ims-older"),
        pytest.param(
            {"If-None-Match": '"v0"', "If-Modified-Since": "Thu, 01 Jan 2026 00:00:00 GMT"},
            200,
            id="etag-wins-over-date",
        ),
    ],
)
async def test_conditional_requests(partner_server: PartnerServer, headers, status):
    url = partner_server.publish("/issuing.crl", CRL, etag='"v1"', last_modified=T)
    assert (await raw_get(url, **headers))[0] == status


async def test_unpublished_paths_are_404_and_requests_are_recorded(partner_server):
    url = partner_server.publish("/issuing.crl", CRL)
    partner_server.unpublish("/issuing.crl")
    assert await raw_get(url, **{"X-Probe": "1"}) == (404, b"nothing published at /issuing.crl")
    (seen,) = partner_server.requests_to("/issuing.crl")
    assert (seen.method, seen.path, seen.headers["x-probe"]) == ("GET", "/issuing.crl", "1")


async def test_close_releases_everything_in_flight_quickly():
    partner = PartnerServer()
    await partner.start()
    for mode in (Mode.HANG, Mode.SLOW_BODY, Mode.OVERSIZE):
        partner.misbehave(f"/{mode}", mode)
    session = aiohttp.ClientSession()
    pending = [
        asyncio.create_task(session.get(partner.url(f"/{mode}")))
        for mode in (Mode.HANG, Mode.SLOW_BODY, Mode.OVERSIZE)
    ]
    for mode in (Mode.HANG, Mode.SLOW_BODY, Mode.OVERSIZE):
        await partner.wait_for_hits(f"/{mode}")
    started = time.monotonic()
    await partner.close()
    assert time.monotonic() - started < 1.5
    for task in pending:
        with contextlib.suppress(aiohttp.ClientError):
            (await task).close()
    await session.close()


@pytest.mark.parametrize(
    ("call", "words"),
    [
        pytest.param(lambda p: p.misbehave("/x", "sleepy"), "sleepy", id="unknown-mode"),
        pytest.param(lambda p: p.publish("x.crl", CRL), "start with '/'", id="relative-path"),
        pytest.param(
            lambda p: p.publish("/x", CRL, last_modified=datetime(2026, 1, 1)),
            "timezone-aware",
            id="naive-date",
        ),
    ],
)
async def test_mistakes_in_a_test_are_reported(partner_server, call, words):
    with pytest.raises(ValueError, match=words):
        call(partner_server)


async def test_urls_need_a_started_server():
    with pytest.raises(RuntimeError, match="await start"):
        PartnerServer().url("/x")
