"""AlertmanagerSink against a real aiohttp receiver on 127.0.0.1: the payload posted,
retry with backoff while Alertmanager is down, re-sending while firing, a bounded queue
that drops the oldest alert instead of blocking."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from revocd.alerts import Alert, AlertmanagerSink, NoAlerts, make_sink
from revocd.config import AlertsConfig
from revocd.fetch.transport import make_session
from revocd.metrics import Metrics
from revocd.poll.backoff import BackoffPolicy
from tests.support.alertreceiver import AlertReceiver
from tests.support.pki import T0

FAST_RETRY = BackoffPolicy(base=timedelta(milliseconds=20), cap=timedelta(milliseconds=50))
LABELS = {
    "alertname": "RevocdSourceStale",
    "severity": "warning",
    "partner": "acme",
    "issuer": "acme-issuing",
    "source": "http://pki.acme.example/issuing.crl",
}
STALE = Alert(LABELS, {"summary": "acme / acme-issuing: CRL past nextUpdate"}, T0)


def alert(n: int) -> Alert:
    return Alert({**LABELS, "source": f"http://pki.acme.example/{n}.crl"}, {}, T0)


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@asynccontextmanager
async def running(urls: list[str], **config: Any) -> AsyncIterator[AlertmanagerSink]:
    settings = {"resend_interval": timedelta(minutes=1), **config}
    session = make_session()
    sink = AlertmanagerSink(
        AlertsConfig(alertmanager=tuple(urls), **settings), session, Metrics(), retry=FAST_RETRY
    )
    sink.start()
    try:
        yield sink
    finally:
        await sink.stop()
        await session.close()


def sent(sink: AlertmanagerSink, url: str) -> float | None:
    return sink.metrics.registry.get_sample_value("revocd_alerts_sent_total", {"alertmanager": url})


def failed(sink: AlertmanagerSink, url: str) -> float | None:
    return sink.metrics.registry.get_sample_value(
        "revocd_alerts_failed_total", {"alertmanager": url}
    )


def count(n: int) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda alerts: len(alerts) >= n


async def test_firing_then_resolved_payloads(receiver: AlertReceiver) -> None:
    async with running([receiver.base], labels=(("cluster", "eu-1"),)) as sink:
        sink.send(STALE)
        await receiver.wait_for("the firing alert", count(1))
        sink.send(STALE.resolved(T0 + timedelta(minutes=5)))
        got = await receiver.wait_for("the resolved alert", count(2))
    firing = {
        "labels": {"cluster": "eu-1", **LABELS},
        "annotations": {"summary": "acme / acme-issuing: CRL past nextUpdate"},
        "startsAt": "2026-01-01T00:00:00Z",
    }
    assert got == [firing, {**firing, "endsAt": "2026-01-01T00:05:00Z"}]
    assert sent(sink, receiver.base) == 2


async def test_retries_with_backoff_while_alertmanager_answers_500(
    receiver: AlertReceiver,
) -> None:
    receiver.statuses = [500, 503]
    async with running([receiver.base]) as sink:
        sink.send(STALE)
        got = await receiver.wait_for("the alert after two refusals", count(1))
    assert receiver.refused == 2
    assert got == [STALE.payload()]
    assert failed(sink, receiver.base) == 2
    assert sent(sink, receiver.base) == 1


async def test_firing_alerts_are_resent_until_resolved(receiver: AlertReceiver) -> None:
    async with running([receiver.base], resend_interval=timedelta(milliseconds=30)) as sink:
        sink.send(STALE)
        await receiver.wait_for("two re-sends", count(3))
        assert {a["startsAt"] for a in receiver.alerts} == {"2026-01-01T00:00:00Z"}
        sink.send(STALE.resolved(T0 + timedelta(minutes=1)))
        await receiver.wait_for("the resolution", lambda a: "endsAt" in a[-1])
        settled = len(receiver.alerts)
        await asyncio.sleep(0.15)  # five resend intervals: a resolved alert is not re-sent
        assert len(receiver.alerts) == settled


async def test_a_full_queue_drops_the_oldest_and_never_blocks(receiver: AlertReceiver) -> None:
    session = make_session()
    config = AlertsConfig(alertmanager=(receiver.base,), queue_size=2)
    sink = AlertmanagerSink(config, session, Metrics(), retry=FAST_RETRY)
    try:
        for n in range(5):  # not started: nothing drains the queue, yet send returns at once
            sink.send(alert(n))
        assert sink.queued == 2
        assert sink.metrics.registry.get_sample_value("revocd_alerts_dropped_total") == 3
        sink.start()
        got = await receiver.wait_for("the two newest alerts", count(2))
        assert [a["labels"]["source"] for a in got] == [
            "http://pki.acme.example/3.crl",
            "http://pki.acme.example/4.crl",
        ]
    finally:
        await sink.stop()
        await session.close()


async def test_one_alertmanager_down_the_other_gets_it(receiver: AlertReceiver) -> None:
    down = closed_port()
    async with running([down, receiver.base], timeout=timedelta(seconds=2)) as sink:
        sink.send(STALE)
        await receiver.wait_for("the alert", count(1))
        await asyncio.sleep(0.1)
    assert len(receiver.alerts) == 1  # delivered once: not retried because one was down
    assert failed(sink, down) == 1
    assert sent(sink, receiver.base) == 1


async def test_without_alertmanager_urls_there_is_no_sink() -> None:
    session = make_session()
    try:
        assert make_sink(AlertsConfig(), session, Metrics()) is None
    finally:
        await session.close()
    NoAlerts().send(STALE)  # and the stand-in accepts anything
