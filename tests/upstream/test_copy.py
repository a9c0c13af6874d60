"""A replica's copy of the upstream answers (upstream/copy.py), wired to a primary's
`UpstreamCache` in process, with every message pickled as the pipe would: the replica
answers what the primary answers, from its copy when the primary would not ask anyone,
asks the primary (once, however many wait) otherwise, keeps pre-signed responses exactly
as long as the primary's answer object, and says `upstream_unreachable` when the primary
does not reply."""

from __future__ import annotations

import asyncio
import pickle
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from cryptography.x509 import ocsp

from revocd.model import Partner
from revocd.ocsp.responder import Responder, ResponderPolicy
from revocd.status.answer import CertStatus, UnknownReason
from revocd.status.cache import StatusCache
from revocd.upstream import copy as copy_module
from revocd.upstream.answers import Answers
from revocd.upstream.client import build_request
from revocd.upstream.copy import UpstreamCopy
from revocd.upstream.health import HealthBoard
from tests.upstream.conftest import GRACE, NOW, POLICY, Rig, serial
from tests.upstream.test_wiring import World, single, world


def piped(value: Any) -> Any:
    return pickle.loads(pickle.dumps(value))  # our own objects, as the pipe does


@dataclass
class Replica:
    copy: UpstreamCopy
    answers: Answers
    responder: Responder
    asks: list[tuple[int, str, bytes, str | None]] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


def replica(w: World, *, reply: bool = True) -> Replica:
    """A replica of `w`'s primary; `reply=False`: a primary that never replies."""
    policies = {w.issuer.name: POLICY}
    asks: list[tuple[int, str, bytes, str | None]] = []

    async def primary(number: int, _: str, serial: bytes, hash_algorithm: str | None) -> None:
        result = await w.rig.cache.lookup(w.issuer, POLICY, serial, hash_algorithm=hash_algorithm)
        copy.resolve(number, piped(result))

    tasks: set[asyncio.Task[None]] = set()

    def ask(number: int, issuer: str, serial: bytes, hash_algorithm: str | None) -> None:
        asks.append((number, issuer, serial, hash_algorithm))
        if reply:
            task = asyncio.get_running_loop().create_task(
                primary(number, issuer, serial, hash_algorithm)
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    copy = UpstreamCopy(policies, HealthBoard(), w.rig.clock, ask)
    w.rig.cache.on_held.append(lambda held: copy.install(piped(held)))
    cache = StatusCache((Partner("partner", POLICY, (w.issuer,)),))
    cache.set_ready()
    answers = Answers(cache, policies, copy)
    responder = Responder(
        cache, {w.issuer.name: w.trusted}, {w.issuer.name: GRACE}, ResponderPolicy(),
        answers=answers,
    )  # fmt: skip
    return Replica(copy, answers, responder, asks, tasks)


@pytest.mark.parametrize("status", ["good", "revoked", "unknown"])
async def test_a_replica_answers_what_the_primary_answers_asking_only_when_it_must(
    rig: Rig, status: str
) -> None:
    w = await world(rig)
    r = replica(w)
    w.partner.status = status
    cold = await r.answers.answer(w.issuer, serial(0x42), NOW)
    assert len(r.asks) == 1  # a cold serial: the replica asked the primary
    assert cold == await w.answers.answer(w.issuer, serial(0x42), NOW)
    for _ in range(3):  # fresh (or revoked) in the copy: answered without asking
        assert await r.answers.answer(w.issuer, serial(0x42), NOW) == cold
    assert len(r.asks) == 1
    assert len(w.partner.sent) == 1
    assert r.copy.take_asked() == [(w.issuer.name, serial(0x42))]
    assert r.copy.take_asked() == []
    assert r.copy.peek(w.issuer.name, serial(0x42)) == rig.cache.peek(w.issuer.name, serial(0x42))


async def test_concurrent_asks_from_replica_and_primary_make_one_upstream_round(
    rig: Rig,
) -> None:
    w = await world(rig)
    r = replica(w)
    asks = [r.answers.answer(w.issuer, serial(0x43), NOW) for _ in range(50)]
    asks += [w.answers.answer(w.issuer, serial(0x43), NOW) for _ in range(50)]
    answers = await asyncio.gather(*asks)
    assert {a.status for a in answers} == {CertStatus.GOOD}
    assert len(r.asks) == 1  # the replica's 50 waited on one ask
    assert len(w.partner.sent) == 1  # and the primary's lookup on one round


async def test_a_stale_answer_is_asked_of_the_primary(rig: Rig) -> None:
    w = await world(rig)
    r = replica(w)
    await r.answers.answer(w.issuer, serial(0x44), NOW)
    rig.clock.advance(days=1, minutes=1)  # past nextUpdate, within grace: stale
    answer = await r.answers.answer(w.issuer, serial(0x44), rig.clock.now())
    assert answer == await w.answers.answer(w.issuer, serial(0x44), rig.clock.now())
    assert len(r.asks) == 2
    await rig.cache.drain()  # the primary's background refresh


async def test_a_new_upstream_answer_invalidates_the_replicas_pre_signed_responses(
    rig: Rig,
) -> None:
    w = await world(rig)
    r = replica(w)
    request = build_request(w.issuer.cert, serial(0x42), nonce=None).der
    first = await r.responder.respond(request, NOW)
    assert single(first.body).certificate_status is ocsp.OCSPCertStatus.GOOD
    again = await r.responder.respond(request, NOW)
    assert again.presigned
    assert again.body == first.body
    # the same answer streamed again (a failed refresh, say) keeps the object and the
    # pre-signed response
    (held,) = rig.cache.held()
    r.copy.install(piped(held))
    assert (await r.responder.respond(request, NOW)).presigned
    # the primary's background refresh accepts a newer answer, and streams it
    w.partner.status = "revoked"
    rig.clock.advance(hours=18)
    assert await rig.cache.refresh_due() == 1
    now = rig.clock.now()
    assert now < (first.next_update or now)  # the old response has not expired by time
    later = await r.responder.respond(request, now)
    assert single(later.body).certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert r.answers.upstream_answer(w.issuer, serial(0x42)) is r.copy.current(
        w.issuer.name, serial(0x42)
    )


async def test_a_primary_that_does_not_reply_is_upstream_unreachable(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(copy_module, "PRIMARY_SLACK", 0.0)
    w = await world(rig)
    r = replica(w, reply=False)
    impatient = replace(POLICY, ocsp=replace(POLICY.ocsp, timeout=POLICY.ocsp.timeout / 40))
    result = await r.copy.lookup(w.issuer, impatient, serial(0x42))
    assert result.answer is None
    assert result.failure is not None
    assert result.failure.kind.value == "unreachable"
    answer = await r.answers.answer(w.issuer, serial(0x42), NOW)
    assert answer.status is CertStatus.UNKNOWN
    assert answer.unknown_reason is UnknownReason.UPSTREAM_UNREACHABLE
    assert len(w.partner.sent) == 0  # a replica never asks a partner itself


async def test_asks_answered_from_the_copy_keep_a_serial_and_the_rest_are_forgotten(
    rig: Rig,
) -> None:
    w = await world(rig)
    r = replica(w)
    for number in (0x45, 0x46):
        await r.answers.answer(w.issuer, serial(number), NOW)
    rig.clock.advance(hours=20)
    await r.answers.answer(w.issuer, serial(0x45), rig.clock.now())  # from the copy
    for issuer, asked in r.copy.take_asked():  # what the replica reports every second
        rig.cache.touch(issuer, asked)
    rig.clock.advance(hours=5)  # 0x46 was last asked 25 h ago: past the refresh window
    await rig.cache.refresh_due()
    assert rig.cache.current(w.issuer.name, serial(0x46)) is None
    assert r.copy.current(w.issuer.name, serial(0x46)) is None  # forgotten in the copy too
    kept = r.copy.current(w.issuer.name, serial(0x45))  # kept, and refreshed
    assert kept is not None
    assert kept == rig.cache.current(w.issuer.name, serial(0x45))
