"""Coalescing and the per-source bound, shown by counting requests at the upstream."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from revocd.ocsp.asn1 import OcspRequest
from revocd.status.answer import CertStatus
from tests.upstream.conftest import POLICY, Rig, serial
from tests.upstream.test_scripted import respond


async def test_a_thousand_concurrent_asks_make_one_upstream_request(rig: Rig) -> None:
    release, arrived = asyncio.Event(), asyncio.Event()
    answer = respond(rig)

    async def slow(request: OcspRequest) -> bytes:
        arrived.set()
        await release.wait()
        return await answer(request)

    server = await rig.serve(slow)
    issuer = rig.issuer(server.url)
    asks = [
        asyncio.ensure_future(rig.cache.lookup(issuer, POLICY, serial(0xC01D))) for _ in range(1000)
    ]
    await arrived.wait()  # every ask is now waiting on the one request in flight
    release.set()
    results = await asyncio.gather(*asks)
    assert server.requests == 1
    assert {r.answer.status for r in results if r.answer} == {CertStatus.GOOD}
    assert all(r.answer is results[0].answer for r in results)
    # and the cached answer serves the next ones with no request at all
    await rig.cache.lookup(issuer, POLICY, serial(0xC01D))
    assert server.requests == 1


async def test_a_caller_giving_up_does_not_cancel_the_round_for_others(rig: Rig) -> None:
    release, arrived = asyncio.Event(), asyncio.Event()
    answer = respond(rig)

    async def slow(request: OcspRequest) -> bytes:
        arrived.set()
        await release.wait()
        return await answer(request)

    server = await rig.serve(slow)
    issuer = rig.issuer(server.url)
    impatient = asyncio.ensure_future(rig.cache.lookup(issuer, POLICY, serial(0xBEE)))
    patient = asyncio.ensure_future(rig.cache.lookup(issuer, POLICY, serial(0xBEE)))
    await arrived.wait()
    impatient.cancel()
    release.set()
    result = await patient
    assert result.answer is not None
    assert server.requests == 1


async def test_concurrent_requests_per_source_are_bounded(rig: Rig) -> None:
    answer = respond(rig)

    async def slow(request: OcspRequest) -> bytes:
        await asyncio.sleep(0.05)
        return await answer(request)

    server = await rig.serve(slow)
    issuer = rig.issuer(server.url)
    policy = replace(POLICY, ocsp=replace(POLICY.ocsp, concurrency=4))
    results = await asyncio.gather(
        *(rig.cache.lookup(issuer, policy, serial(0x5000 + n)) for n in range(40))
    )
    assert all(r.answer is not None for r in results)
    assert server.requests == 40
    assert server.max_in_flight == 4
