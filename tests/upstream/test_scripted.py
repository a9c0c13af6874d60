"""Scripted aiohttp upstreams that misbehave: each is no evidence with its reason code, an
event and a failing health state, and never turns a cached revocation into good."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from aiohttp import web

from revocd.evidence import RevocationReason
from revocd.ocsp.asn1 import OcspRequest
from revocd.ocsp.encode import ResponseStatus
from revocd.ocsp.signing import Signer
from revocd.status.answer import Answer, CertStatus, UnknownReason
from revocd.status.freshness import Freshness
from revocd.upstream.combine import combine
from revocd.upstream.health import Health
from revocd.upstream.outcome import FailureKind
from tests.upstream.conftest import (
    POLICY,
    Behaviour,
    Rig,
    Single,
    cert_id_der,
    forge,
    serial,
    unsuccessful,
)

HOLD = int(RevocationReason.CERTIFICATE_HOLD)
NO_CRL = Answer(CertStatus.UNKNOWN, "partner-issuing", b"\x01", Freshness.NONE)


def respond(
    rig: Rig,
    signer: Signer | None = None,
    *,
    status: str = "good",
    reason: int | None = None,
    nonce: str = "echo",  # echo | wrong | none
    cert_id: str = "echo",  # echo | wrong
    age: timedelta = timedelta(minutes=1),
) -> Behaviour:
    """Answer with times taken from the rig's clock when the request arrives."""

    async def behave(request: OcspRequest) -> bytes:
        now = rig.clock.now()
        asked = request.cert_ids[0]
        der = asked.der
        if cert_id == "wrong":
            der = cert_id_der(asked.name_hash, asked.key_hash, serial(0x7777))
        sent = {"echo": request.nonce, "wrong": b"w" * 32, "none": None}[nonce]
        single = Single(status, now - age, now + timedelta(days=1), now - timedelta(days=9), reason)
        return forge(
            signer or Signer(rig.pki.ca.cert, rig.pki.ca.key, embed=False),  # type: ignore[arg-type]
            [(single, der)],
            nonce=sent,
            produced_at=now - age,
        )

    return behave


def constant(body: bytes | None = None, *, status: int = 200, delay: float = 0) -> Callable:
    def make(rig: Rig) -> Behaviour:
        async def behave(request: OcspRequest) -> web.StreamResponse:
            await asyncio.sleep(delay)
            return web.Response(body=body, status=status, content_type="application/ocsp-response")

        return behave

    return make


def signed_by(attr: str, **options: object) -> Callable[[Rig], Behaviour]:
    def make(rig: Rig) -> Behaviour:
        pair = getattr(rig.pki, attr)
        return respond(rig, Signer(pair[0], pair[1], embed=True), **options)  # type: ignore[arg-type]

    return make


def wrong_key(rig: Rig) -> Behaviour:
    return respond(rig, Signer(rig.pki.ca.cert, rig.pki.stranger.key, embed=False))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Misbehaviour:
    make: Callable[[Rig], Behaviour]
    kind: FailureKind
    reason: str


MISBEHAVIOURS = {
    "slow": Misbehaviour(constant(b"", delay=5), FailureKind.UNREACHABLE, "timeout"),
    "garbage": Misbehaviour(constant(b"\x30\x03\x0a\x01"), FailureKind.REJECTED, "malformed"),
    "http-500": Misbehaviour(constant(b"oops", status=500), FailureKind.UNREACHABLE, "http_status"),
    "oversize": Misbehaviour(constant(b"\x30" * 5000), FailureKind.REJECTED, "oversize"),
    "wrong-key": Misbehaviour(wrong_key, FailureKind.REJECTED, "bad_signature"),
    "responder-without-eku": Misbehaviour(
        signed_by("no_eku"), FailureKind.REJECTED, "signer_not_authorized"
    ),
    "responder-of-another-ca": Misbehaviour(
        signed_by("foreign"), FailureKind.REJECTED, "signer_not_authorized"
    ),
    "responder-expired": Misbehaviour(
        signed_by("expired"), FailureKind.REJECTED, "responder_cert_expired"
    ),
    "wrong-certid": Misbehaviour(
        lambda rig: respond(rig, cert_id="wrong"), FailureKind.REJECTED, "certid_mismatch"
    ),
    "wrong-nonce": Misbehaviour(
        lambda rig: respond(rig, nonce="wrong"), FailureKind.REJECTED, "nonce_mismatch"
    ),
    "missing-nonce": Misbehaviour(
        lambda rig: respond(rig, nonce="none"), FailureKind.REJECTED, "nonce_missing"
    ),
    "try-later": Misbehaviour(
        constant(unsuccessful(ResponseStatus.TRY_LATER)), FailureKind.UNREACHABLE, "try_later"
    ),
    "unauthorized": Misbehaviour(
        constant(unsuccessful(ResponseStatus.UNAUTHORIZED)), FailureKind.REJECTED, "unauthorized"
    ),
}
POLICY_FAST = replace(
    POLICY, ocsp=replace(POLICY.ocsp, timeout=timedelta(seconds=0.3), max_bytes=4096)
)


class Switch:
    """An upstream whose behaviour a test changes between questions."""

    def __init__(self, behave: Behaviour) -> None:
        self.behave = behave

    async def __call__(self, request: OcspRequest) -> bytes | web.StreamResponse:
        return await self.behave(request)


@pytest.mark.parametrize("name", list(MISBEHAVIOURS), ids=list(MISBEHAVIOURS))
async def test_misbehaving_upstream(rig: Rig, name: str) -> None:
    bad = MISBEHAVIOURS[name]
    switch = Switch(respond(rig, status="revoked", reason=HOLD))
    server = await rig.serve(switch)
    issuer = rig.issuer(server.url)

    # a certificateHold is cached; a hold is the one revocation a newer good may release
    held = await rig.cache.lookup(issuer, POLICY_FAST, serial(0x10))
    assert held.answer is not None
    assert held.answer.is_hold

    switch.behave = bad.make(rig)
    # a cold serial: no evidence, the reason code, an event, a failing source
    cold = await rig.cache.lookup(issuer, POLICY_FAST, serial(0x20))
    assert cold.answer is None
    assert cold.failure is not None
    assert (cold.failure.kind, cold.failure.reason) == (bad.kind, bad.reason), cold.failure
    event = rig.events[-1]
    assert event.name == f"ocsp_{bad.kind.value}"
    assert event.reason == bad.reason
    assert event.serial == serial(0x20)
    assert rig.upstream.health.get(issuer.sources[0]).state is Health.FAILING
    combined = combine(NO_CRL, cold).answer
    expected = (
        UnknownReason.UPSTREAM_REJECTED
        if bad.kind is FailureKind.REJECTED
        else UnknownReason.UPSTREAM_UNREACHABLE
    )
    assert (combined.status, combined.unknown_reason) == (CertStatus.UNKNOWN, expected)

    # the hold expires and upstream misbehaves (saying good where it says anything)
    rig.clock.advance(days=2)
    again = await rig.cache.lookup(issuer, POLICY_FAST, serial(0x10))
    assert again.failure is not None
    assert again.failure.reason == bad.reason
    assert again.answer == held.answer
    assert combine(NO_CRL, again).answer.status is CertStatus.REVOKED


async def test_silent_upstream_times_out(rig: Rig) -> None:
    """A server that accepts the connection and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        issuer = rig.issuer(f"http://127.0.0.1:{port}/")
        result = await rig.cache.lookup(issuer, POLICY_FAST, serial(0x30))
        assert result.failure is not None
        assert (result.failure.kind, result.failure.reason) == (FailureKind.UNREACHABLE, "timeout")
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_connection_refused_then_failover_to_the_next_url(rig: Rig) -> None:
    good = await rig.serve(respond(rig))
    issuer = rig.issuer("http://127.0.0.1:9/ocsp", good.url)  # port 9: discard, closed
    result = await rig.cache.lookup(issuer, POLICY_FAST, serial(0x40))
    assert result.answer is not None
    assert result.answer.status is CertStatus.GOOD
    assert result.url == good.url
    dead, alive = issuer.sources
    assert rig.upstream.health.get(dead).state is Health.FAILING
    assert rig.upstream.health.get(dead).last_reason == "connection"
    assert rig.upstream.health.get(alive).state is Health.OK
    # the healthy source is asked first from now on
    assert rig.upstream.order(issuer) == [alive, dead]


async def test_a_rejected_source_is_reported_over_an_unreachable_one(rig: Rig) -> None:
    garbage = await rig.serve(constant(b"junk")(rig))
    issuer = rig.issuer("http://127.0.0.1:9/ocsp", garbage.url)
    result = await rig.cache.lookup(issuer, POLICY_FAST, serial(0x41))
    assert result.failure is not None
    assert (result.failure.kind, result.failure.url) == (FailureKind.REJECTED, garbage.url)


async def test_replay_of_an_older_response_keeps_the_newer(rig: Rig) -> None:
    recorded: list[bytes] = []
    live = respond(rig)

    async def recorder(request: OcspRequest) -> bytes:
        body = await live(request)
        recorded.append(body)
        return body

    switch = Switch(recorder)
    server = await rig.serve(switch)
    issuer = rig.issuer(server.url)
    policy = replace(POLICY, ocsp=replace(POLICY.ocsp, nonce=False))
    first = await rig.cache.lookup(issuer, policy, serial(0x50))
    rig.clock.advance(days=2)
    second = await rig.cache.lookup(issuer, policy, serial(0x50))
    assert second.answer is not None
    assert first.answer is not None
    assert second.answer.produced_at > first.answer.produced_at

    async def replay(request: OcspRequest) -> bytes:
        return recorded[0]  # the first, older response, captured on the wire

    switch.behave = replay
    rig.clock.advance(days=2)
    third = await rig.cache.lookup(issuer, policy, serial(0x50))
    assert third.failure is not None
    assert third.failure.reason == "replay"
    assert third.answer == second.answer


async def test_revoked_is_sticky_even_when_upstream_later_says_good(rig: Rig) -> None:
    switch = Switch(respond(rig, status="revoked", reason=1))
    server = await rig.serve(switch)
    issuer = rig.issuer(server.url)
    revoked = await rig.cache.lookup(issuer, POLICY, serial(0x60))
    assert revoked.answer is not None
    assert revoked.answer.status is CertStatus.REVOKED
    switch.behave = respond(rig, status="good")
    rig.clock.advance(days=30)
    # a revoked answer decides by itself: upstream is not asked again
    later = await rig.cache.lookup(issuer, POLICY, serial(0x60))
    assert later.answer == revoked.answer
    assert server.requests == 1
    # and a round that does happen (a hold's sibling path) never replaces it
    await rig.cache._start(("partner-issuing", serial(0x60)))
    assert rig.cache.peek("partner-issuing", serial(0x60)).answer == revoked.answer  # type: ignore[union-attr]
    assert rig.events[-1].name == "ocsp_revoked_kept"


async def test_a_newer_good_releases_a_hold(rig: Rig) -> None:
    switch = Switch(respond(rig, status="revoked", reason=HOLD))
    server = await rig.serve(switch)
    issuer = rig.issuer(server.url)
    await rig.cache.lookup(issuer, POLICY, serial(0x70))
    switch.behave = respond(rig, status="good")
    rig.clock.advance(days=2)
    released = await rig.cache.lookup(issuer, POLICY, serial(0x70))
    assert released.answer is not None
    assert released.answer.status is CertStatus.GOOD
    assert "ocsp_hold_released" in [e.name for e in rig.events]


async def test_unknown_from_the_partner_is_upstream_unknown(rig: Rig) -> None:
    server = await rig.serve(respond(rig, status="unknown"))
    result = await rig.cache.lookup(rig.issuer(server.url), POLICY, serial(0x80))
    combined = combine(NO_CRL, result).answer
    assert (combined.status, combined.unknown_reason) == (
        CertStatus.UNKNOWN,
        UnknownReason.UPSTREAM_UNKNOWN,
    )


async def test_a_failed_round_is_not_retried_per_query(rig: Rig) -> None:
    server = await rig.serve(constant(b"x", status=503)(rig))
    issuer = rig.issuer(server.url)
    for _ in range(5):
        result = await rig.cache.lookup(issuer, POLICY, serial(0x90))
        assert result.failure is not None
    assert server.requests == 1
    rig.clock.advance(seconds=31)
    await rig.cache.lookup(issuer, POLICY, serial(0x90))
    assert server.requests == 2
