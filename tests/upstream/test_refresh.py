"""Background work, driven by a ManualClock (nothing sleeps through real time): serials
asked recently are refreshed before they go stale, others forgotten; sources are probed."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from revocd.ocsp.asn1 import OcspRequest
from revocd.status.answer import CertStatus
from revocd.status.freshness import Freshness
from revocd.upstream.health import Health, SourceHealth
from tests.upstream.conftest import NOW, POLICY, Rig, serial
from tests.upstream.test_scripted import Switch, constant, respond

KEY = ("partner-issuing", serial(0xA1))


async def test_an_asked_serial_is_refreshed_before_it_goes_stale(rig: Rig) -> None:
    server = await rig.serve(respond(rig))  # thisUpdate now - 1m, nextUpdate now + 1d
    issuer = rig.issuer(server.url)
    first = await rig.cache.lookup(issuer, POLICY, KEY[1])
    assert first.answer is not None
    rig.clock.advance(hours=17)  # not yet 3/4 of the validity
    assert await rig.cache.refresh_due() == 0
    rig.clock.advance(hours=2)
    assert await rig.cache.refresh_due() == 1
    assert server.requests == 2
    refreshed = rig.cache.peek(*KEY)
    assert refreshed is not None
    assert refreshed.answer is not None
    assert refreshed.answer.next_update > first.answer.next_update
    assert refreshed.freshness is Freshness.FRESH
    assert await rig.cache.refresh_due() == 0  # nothing due right after


async def test_serials_not_asked_within_the_window_are_forgotten(rig: Rig) -> None:
    server = await rig.serve(respond(rig))
    issuer = rig.issuer(server.url)
    policy = replace(POLICY, ocsp=replace(POLICY.ocsp, refresh_window=timedelta(hours=6)))
    await rig.cache.lookup(issuer, policy, KEY[1])
    rig.clock.advance(hours=7)
    assert await rig.cache.refresh_due() == 0
    assert rig.cache.peek(*KEY) is None
    assert server.requests == 1


async def test_revoked_answers_are_neither_refreshed_nor_forgotten(rig: Rig) -> None:
    server = await rig.serve(respond(rig, status="revoked", reason=1))
    issuer = rig.issuer(server.url)
    await rig.cache.lookup(issuer, POLICY, KEY[1])
    for _ in range(3):
        rig.clock.advance(days=1)
        assert await rig.cache.refresh_due() == 0
    kept = rig.cache.peek(*KEY)
    assert kept is not None
    assert kept.answer is not None
    assert kept.answer.status is CertStatus.REVOKED
    assert kept.freshness is Freshness.EXPIRED  # old, and still revoked
    assert server.requests == 1


async def test_a_failed_refresh_keeps_the_answer_and_backs_off(rig: Rig) -> None:
    switch = Switch(respond(rig))
    server = await rig.serve(switch)
    issuer = rig.issuer(server.url)
    first = await rig.cache.lookup(issuer, POLICY, KEY[1])
    switch.behave = constant(b"", status=500)(rig)
    rig.clock.advance(hours=20)
    assert await rig.cache.refresh_due() == 1
    assert await rig.cache.refresh_due() == 0  # RETRY_AFTER has not passed
    rig.clock.advance(seconds=30)
    assert await rig.cache.refresh_due() == 1
    after = rig.cache.peek(*KEY)
    assert after is not None
    assert after.answer == first.answer
    assert after.failure is not None
    assert after.failure.reason == "http_status"
    assert server.requests == 3


async def test_a_stale_answer_is_served_at_once_while_one_refresh_runs(rig: Rig) -> None:
    release = asyncio.Event()
    live = respond(rig)

    async def slow(request: OcspRequest) -> bytes:
        await release.wait()
        return await live(request)

    switch = Switch(live)
    server = await rig.serve(switch)
    issuer = rig.issuer(server.url)
    await rig.cache.lookup(issuer, POLICY, KEY[1])
    switch.behave = slow
    rig.clock.advance(days=1, minutes=10)  # past nextUpdate, within the 1h grace
    stale = await rig.cache.lookup(issuer, POLICY, KEY[1])
    assert stale.freshness is Freshness.STALE
    assert stale.answer is not None
    assert await rig.cache.refresh_due() == 0  # the round is already in flight
    release.set()
    await rig.cache.drain()
    fresh = rig.cache.peek(*KEY)
    assert fresh is not None
    assert fresh.freshness is Freshness.FRESH
    assert server.requests == 2


async def test_probes_keep_each_source_health_current(rig: Rig) -> None:
    good = await rig.serve(respond(rig, status="unknown"))
    bad = await rig.serve(constant(b"", status=500)(rig))
    issuer = rig.issuer(good.url, bad.url)
    changes: list[tuple[SourceHealth, SourceHealth]] = []
    rig.upstream.health.on_change.append(lambda before, after: changes.append((before, after)))
    targets = [(issuer, POLICY)]
    assert await rig.cache.probe_due(targets) == 2
    ok, failing = (rig.upstream.health.get(s) for s in issuer.sources)
    assert (ok.state, ok.last_success) == (Health.OK, NOW)
    assert (failing.state, failing.last_reason) == (Health.FAILING, "http_status")
    assert len(changes) == 2
    assert await rig.cache.probe_due(targets) == 0  # each was just heard from
    rig.clock.advance(minutes=5)
    assert await rig.cache.probe_due(targets) == 2
    assert len(changes) == 2  # no change of state, nothing to announce
    assert rig.upstream.health.get(issuer.sources[1]).consecutive_failures == 2
    assert all(e.probe for e in rig.events)
    assert rig.cache.peek("partner-issuing", good.seen[0].cert_ids[0].serial) is None


async def test_probes_use_a_recently_asked_serial(rig: Rig) -> None:
    server = await rig.serve(respond(rig))
    issuer = rig.issuer(server.url)
    await rig.cache.lookup(issuer, POLICY, KEY[1])
    rig.clock.advance(minutes=6)
    assert await rig.cache.probe_due([(issuer, POLICY)]) == 1
    assert server.seen[-1].cert_ids[0].serial == KEY[1]


async def test_run_refreshes_and_probes_every_tick(rig: Rig) -> None:
    server = await rig.serve(respond(rig))
    issuer = rig.issuer(server.url)
    await rig.cache.lookup(issuer, POLICY, KEY[1])
    ticks: list[float] = []

    async def sleep(seconds: float) -> None:
        ticks.append(seconds)
        if len(ticks) == 3:
            raise asyncio.CancelledError
        rig.clock.advance(hours=10)

    with pytest.raises(asyncio.CancelledError):
        await rig.cache.run(lambda: [(issuer, POLICY)], tick=timedelta(seconds=15), sleep=sleep)
    assert ticks == [15.0, 15.0, 15.0]
    # tick 1: nothing due (the lookup just happened); tick 2 (+10h): a probe;
    # tick 3 (+20h): the refresh, which also counts as the source's health
    assert server.requests == 3
