"""The poller across a reload (stage -> switch -> follow): kept sources are not refetched,
a sleeping retuned source follows its new interval at once, a poll in flight lands in the
kept issuer, added sources fetch at once, removed ones stop. Time from a ManualClock;
sleeps are recorded, never slept."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from revocd.clock import ManualClock
from revocd.events import Events
from revocd.fetch.transport import Transport, make_session
from revocd.metrics import Metrics
from revocd.model import Partner
from revocd.poll.poller import Poller
from revocd.serials import content_from_int
from revocd.status.board import SourceBoard
from revocd.status.cache import StatusCache, UnknownIssuer
from revocd.store.sqlite import SqliteStore
from tests.poll.conftest import POLICY, partner_of
from tests.support.aiopartner import AioPartner
from tests.support.pki import T0, Entry, make_ca, make_crl


class Sleeps:
    """Records what each task asked to sleep; never returns (a test ends or cancels it)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, float]] = []
        self.changed = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        task = asyncio.current_task()
        self.asked.append((task.get_name() if task else "", seconds))
        self.changed.set()
        await asyncio.Event().wait()

    def of(self, source_id: str) -> list[float]:
        return [s for name, s in self.asked if name == f"poll {source_id}"]

    async def until(self, source_id: str, count: int) -> list[float]:
        for _ in range(500):
            if len(self.of(source_id)) >= count:
                return self.of(source_id)
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 5)
        raise AssertionError(f"{source_id} slept {self.of(source_id)}")


@dataclass
class Rig:
    poller: Poller
    cache: StatusCache
    board: SourceBoard
    sleeps: Sleeps
    clock: ManualClock

    async def reload(self, partners: list[Partner]) -> None:
        staged = await self.poller.stage(partners)
        await self.poller.follow(self.poller.switch(staged))

    def answer(self, issuer: str, serial: int) -> str:
        found = self.cache.find_issuer(issuer)
        return self.cache.answer(found, content_from_int(serial), self.clock.now()).status.value


ACME_CA = make_ca("Acme Issuing CA")
BETA_CA = make_ca("Beta Issuing CA")
WEEK = {"this_update": T0, "next_update": T0 + timedelta(days=7)}


@pytest.fixture
async def rig(tmp_path, clock: ManualClock) -> AsyncIterator[Callable[[list[Partner]], Rig]]:
    """A builder: a poller over `partners` on one store, with recorded sleeps."""
    store = SqliteStore(tmp_path / "revocd.db")
    await store.open()
    session = make_session()
    made: list[Poller] = []

    def build(partners: list[Partner]) -> Rig:
        cache = StatusCache(partners)
        board = SourceBoard(s for p in partners for i in p.issuers for s in i.sources)
        sleeps = Sleeps()
        poller = Poller(
            partners=partners,
            store=store,
            cache=cache,
            board=board,
            transport=Transport(session),
            events=Events(Metrics(), clock=clock),
            clock=clock,
            executor=None,
            rng=random.Random(1),
            sleep=sleeps,
        )
        made.append(poller)
        return Rig(poller, cache, board, sleeps, clock)

    yield build
    for poller in made:
        await poller.stop()
    await session.close()
    await store.close()


async def started(build: Callable[[list[Partner]], Rig], partners: list[Partner]) -> Rig:
    rig = build(partners)
    await rig.poller.load()
    rig.poller.start()
    return rig


def hits(partner: AioPartner, path: str) -> int:
    return sum(1 for p, _ in partner.requests if p == path)


async def test_a_sleeping_retuned_source_follows_its_new_interval_without_a_refetch(
    rig, partner: AioPartner, clock: ManualClock
) -> None:
    partner.publish("/acme.crl", make_crl(ACME_CA, [Entry(0x1001)], **WEEK))
    acme = partner_of("acme", ACME_CA, [partner.url("/acme.crl")])
    source = acme.issuers[0].sources[0].id
    r = await started(rig, [acme])
    assert await r.sleeps.until(source, 1) == [300.0]  # POLICY: 5m
    assert r.answer("acme-issuing", 0x1001) == "revoked"

    clock.advance(seconds=60)
    faster = replace(acme, policy=replace(POLICY, poll_interval=timedelta(minutes=2)))
    await r.reload([faster])
    # woken: sleeps what is left of 2 minutes since the last poll, and did not fetch again
    assert await r.sleeps.until(source, 2) == [300.0, 60.0]
    assert hits(partner, "/acme.crl") == 1
    assert r.answer("acme-issuing", 0x1001) == "revoked"


async def test_a_poll_in_flight_during_a_reload_lands_and_then_follows_the_new_policy(
    rig, partner: AioPartner
) -> None:
    partner.hang("/acme.crl")
    acme = partner_of("acme", ACME_CA, [partner.url("/acme.crl")])
    source = acme.issuers[0].sources[0].id
    r = await started(rig, [acme])
    for _ in range(200):
        if hits(partner, "/acme.crl"):
            break
        await asyncio.sleep(0.01)
    slower = replace(acme, policy=replace(POLICY, poll_interval=timedelta(hours=1)))
    await r.reload([slower])  # the poll is in flight
    # the hanging request answers with the CRL once released
    partner.routes["/acme.crl"].body = make_crl(ACME_CA, [Entry(0x1001)], **WEEK)
    partner.release.set()
    assert await r.sleeps.until(source, 1) == [3600.0]
    assert r.answer("acme-issuing", 0x1001) == "revoked"  # the result was not lost


async def test_added_sources_fetch_at_once_and_removed_ones_stop(rig, partner: AioPartner) -> None:
    partner.publish("/acme.crl", make_crl(ACME_CA, [Entry(0x1001)], **WEEK))
    partner.publish("/beta.crl", make_crl(BETA_CA, [Entry(0x2002)], **WEEK))
    acme = partner_of("acme", ACME_CA, [partner.url("/acme.crl")])
    beta = partner_of("beta", BETA_CA, [partner.url("/beta.crl")])
    acme_source, beta_source = acme.issuers[0].sources[0], beta.issuers[0].sources[0]
    r = await started(rig, [acme])
    await r.sleeps.until(acme_source.id, 1)

    await r.reload([acme, beta])
    await r.sleeps.until(beta_source.id, 1)
    assert r.answer("beta-issuing", 0x2002) == "revoked"
    assert hits(partner, "/acme.crl") == 1
    assert r.board.get(beta_source).meta is not None

    await r.reload([beta])
    with pytest.raises(UnknownIssuer):
        r.cache.find_issuer("acme-issuing")
    assert acme_source.id not in r.board.snapshot()
    assert f"poll {acme_source.id}" not in {t.get_name() for t in asyncio.all_tasks()}
    assert r.answer("beta-issuing", 0x2002) == "revoked"

    # added again: its evidence comes back from the store before any fetch
    partner.hang("/acme.crl")
    await r.reload([acme, beta])
    assert r.answer("acme-issuing", 0x1001) == "revoked"
    partner.release.set()
