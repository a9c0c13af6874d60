"""A poller wired to real things: an aiohttp partner on 127.0.0.1, a SQLite store in
tmp_path, the real status cache; time from a ManualClock."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from revocd.clock import ManualClock
from revocd.events import Events
from revocd.fetch.transport import Transport, make_session
from revocd.metrics import Metrics
from revocd.model import Issuer, IssuerKey, Partner, Policy, SigningMode
from revocd.poll.poller import Poller
from revocd.status.board import SourceBoard
from revocd.status.cache import StatusCache
from revocd.store.sqlite import SqliteStore
from tests.support.aiopartner import AioPartner
from tests.support.pki import CA, T0

POLICY = Policy(
    poll_interval=timedelta(minutes=5),
    grace=timedelta(hours=1),
    timeout=timedelta(seconds=2),
    max_crl_bytes=1024 * 1024,
    clock_skew=timedelta(minutes=5),
)


def partner_of(name: str, ca: CA, urls: Sequence[str], policy: Policy = POLICY) -> Partner:
    issuer = Issuer(
        name=f"{name}-issuing",
        partner=name,
        cert_path=Path("unused.pem"),
        cert=ca.cert,
        key=IssuerKey.from_certificate(ca.cert),
        crl_urls=tuple(urls),
        ocsp_urls=(),
        signing=SigningMode.TRUSTED,
        responder_cert=None,
        responder_key=None,
    )
    return Partner(name, policy, (issuer,))


@dataclass
class Rig:
    poller: Poller
    cache: StatusCache
    board: SourceBoard
    store: SqliteStore
    clock: ManualClock
    metrics: Metrics

    def answer(self, issuer: str, serial: int) -> str:
        from revocd.serials import content_from_int

        found = self.cache.find_issuer(issuer)
        return self.cache.answer(found, content_from_int(serial), self.clock.now()).status.value


@pytest.fixture
async def partner() -> AsyncIterator[AioPartner]:
    server = await AioPartner().start()
    yield server
    await server.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0 + timedelta(hours=1))


@pytest.fixture
async def make_rig(tmp_path, clock):
    """Build a poller over `partners`; call again with the same db to simulate a restart."""
    made: list[tuple[Rig, object]] = []

    async def make(partners: Sequence[Partner], db: str = "revocd.db") -> Rig:
        store = SqliteStore(tmp_path / db)
        await store.open()
        cache = StatusCache(partners)
        board = SourceBoard(s for p in partners for i in p.issuers for s in i.sources)
        metrics = Metrics()
        session = make_session()
        poller = Poller(
            partners=partners,
            store=store,
            cache=cache,
            board=board,
            transport=Transport(session),
            events=Events(metrics, clock=clock),
            clock=clock,
            executor=None,
            rng=random.Random(1),
        )
        await poller.load()
        rig = Rig(poller, cache, board, store, clock, metrics)
        made.append((rig, session))
        return rig

    yield make
    for rig, session in reversed(made):
        await rig.poller.stop()
        await session.close()  # type: ignore[attr-defined]
        await rig.store.close()
