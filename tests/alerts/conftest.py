"""Alert tests' rigs: a poller over a real aiohttp partner and SQLite store, a ManualClock,
events going to a recording sink; and a stand-in Alertmanager on 127.0.0.1."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from revocd.alerts import Alert
from revocd.clock import ManualClock
from revocd.events import Events
from revocd.fetch.transport import Transport, make_session
from revocd.metrics import Metrics
from revocd.model import Source
from revocd.poll.poller import Poller
from revocd.status.board import SourceBoard
from revocd.status.cache import StatusCache
from revocd.store.sqlite import SqliteStore
from tests.poll.conftest import partner_of
from tests.support.aiopartner import AioPartner
from tests.support.alertreceiver import AlertReceiver
from tests.support.pki import CA, T0, make_ca

PATH = "/issuing.crl"
EXPIRING_BEFORE = timedelta(minutes=15)
FAILING_AFTER = timedelta(minutes=10)


@dataclass
class RecordingSink:
    """An AlertSink that keeps what it was given, as Alertmanager would receive it."""

    sent: list[Alert] = field(default_factory=list)

    def send(self, alert: Alert) -> None:
        self.sent.append(alert)

    def take(self) -> list[dict[str, Any]]:
        payloads = [alert.payload() for alert in self.sent]
        self.sent.clear()
        return payloads


@dataclass
class Rig:
    poller: Poller
    board: SourceBoard
    metrics: Metrics
    clock: ManualClock
    sink: RecordingSink
    partner: AioPartner
    ca: CA

    @property
    def source(self) -> Source:
        return self.poller.crl_sources[0]

    def sample(self, name: str, **labels: str) -> float:
        source = self.source
        every = {"partner": source.partner, "issuer": source.issuer, "source": source.url}
        value = self.metrics.registry.get_sample_value(name, {**every, **labels})
        return 0.0 if value is None else value


@pytest.fixture
async def partner() -> AsyncIterator[AioPartner]:
    server = await AioPartner().start()
    yield server
    await server.close()


@pytest.fixture
async def rig(tmp_path, partner) -> AsyncIterator[Rig]:
    ca = make_ca("Acme Issuing CA")
    partners = [partner_of("acme", ca, [partner.url(PATH)])]
    clock = ManualClock(T0 + timedelta(hours=1))
    store = SqliteStore(tmp_path / "revocd.db")
    await store.open()
    board = SourceBoard(s for p in partners for i in p.issuers for s in i.sources)
    metrics = Metrics()
    sink = RecordingSink()
    session = make_session()
    events = Events(
        metrics,
        sink=sink,
        clock=clock,
        expiring_before=EXPIRING_BEFORE,
        failing_after=FAILING_AFTER,
    )
    poller = Poller(
        partners=partners,
        store=store,
        cache=StatusCache(partners),
        board=board,
        transport=Transport(session),
        events=events,
        clock=clock,
        executor=None,
        rng=random.Random(1),
    )
    await poller.load()
    yield Rig(poller, board, metrics, clock, sink, partner, ca)
    await poller.stop()
    await session.close()
    await store.close()


@pytest.fixture
async def receiver() -> AsyncIterator[AlertReceiver]:
    server = await AlertReceiver().start()
    yield server
    await server.close()
