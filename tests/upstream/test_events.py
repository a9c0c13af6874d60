"""Upstream events and health changes reach `Events` (the one call site for log + metric):
each health change is logged once, exchanges are counted by outcome, coalesced waits and
evidence conflicts are counted, and no serial ever becomes a metric label."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from revocd.clock import ManualClock
from revocd.errors import StoreError
from revocd.events import Events
from revocd.metrics import Metrics
from revocd.ocsp.signing import Signer
from revocd.status.answer import CertStatus, UnknownReason
from revocd.upstream.combine import combine
from tests.upstream.conftest import NOW, POLICY, Rig, Single, answering, serial
from tests.upstream.test_scripted import NO_CRL, respond


def wire(rig: Rig) -> tuple[Events, Metrics]:
    metrics = Metrics()
    events = Events(metrics, clock=ManualClock(NOW))
    rig.upstream.listeners.append(events.upstream_event)
    rig.upstream.health.on_change.append(events.upstream_health_changed)
    rig.cache.on_coalesced.append(events.upstream_coalesced)
    return events, metrics


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_health_changes_are_logged_once_and_exchanges_counted(rig: Rig) -> None:
    _, metrics = wire(rig)
    ok = await rig.serve(respond(rig))
    broken = await rig.serve(respond(rig, nonce="wrong"))
    issuer = rig.issuer(broken.url)
    labels = {"partner": "partner", "issuer": issuer.name, "source": broken.url}
    with capture_logs() as logs:
        for value in range(1, 4):
            rig.clock.advance(seconds=31)  # past RETRY_AFTER: each is a real round
            result = await rig.cache.lookup(issuer, POLICY, serial(value))
            assert result.failure is not None
    changes = [e for e in logs if e["event"] == "upstream_state_changed"]
    assert len(changes) == 1, changes
    assert changes[0]["new"] == "failing"
    assert changes[0]["reason"] == "nonce_mismatch"
    assert changes[0]["log_level"] == "warning"
    assert sample(metrics, "revocd_upstream_requests_total", **labels, outcome="rejected") == 3
    assert sample(metrics, "revocd_upstream_health", **labels, state="failing") == 1

    fixed = rig.issuer(ok.url)
    with capture_logs() as logs:
        result = await rig.cache.lookup(fixed, POLICY, serial(9))
    assert result.answer is not None
    assert result.answer.status is CertStatus.GOOD
    ok_labels = {**labels, "source": ok.url}
    assert sample(metrics, "revocd_upstream_requests_total", **ok_labels, outcome="accepted") == 1
    assert sample(metrics, "revocd_upstream_health", **ok_labels, state="ok") == 1
    names = {n for f in metrics.registry.collect() for s in f.samples for n in s.labels}
    assert names <= {"partner", "issuer", "source", "outcome", "state", "event", "api", "status",
                     "method", "result", "alertmanager", "reason", "le"}  # fmt: skip


async def test_recovery_is_one_info_line(rig: Rig) -> None:
    wire(rig)
    state = {"broken": True}

    async def behave(request):  # type: ignore[no-untyped-def]
        return await (respond(rig, nonce="wrong") if state["broken"] else respond(rig))(request)

    server = await rig.serve(behave)
    issuer = rig.issuer(server.url)
    with capture_logs() as logs:
        await rig.cache.lookup(issuer, POLICY, serial(1))
        state["broken"] = False
        rig.clock.advance(seconds=31)
        await rig.cache.lookup(issuer, POLICY, serial(1))
    changes = [(e["new"], e["log_level"]) for e in logs if e["event"] == "upstream_state_changed"]
    assert changes == [("failing", "warning"), ("ok", "info")]


async def test_coalesced_waits_are_counted(rig: Rig) -> None:
    _, metrics = wire(rig)
    gate = asyncio.Event()
    inner = answering(rig_signer(rig), Single())

    async def slow(request):  # type: ignore[no-untyped-def]
        await gate.wait()
        return await inner(request)

    server = await rig.serve(slow)
    issuer = rig.issuer(server.url)
    waits = [asyncio.create_task(rig.cache.lookup(issuer, POLICY, serial(5))) for _ in range(20)]
    await asyncio.sleep(0.05)
    gate.set()
    results = await asyncio.gather(*waits)
    assert all(r.answer is not None for r in results)
    assert server.requests == 1
    labels = {"partner": "partner", "issuer": issuer.name}
    assert sample(metrics, "revocd_upstream_coalesced_total", **labels) == 19


async def test_persist_failure_means_the_answer_is_not_served(rig: Rig) -> None:
    server = await rig.serve(respond(rig))
    issuer = rig.issuer(server.url)
    seen: list[object] = []

    async def persist(issuer_, answer, url):  # type: ignore[no-untyped-def]
        seen.append(rig.cache.current(issuer_.name, answer.serial))  # not in force yet
        raise StoreError("disk full")

    rig.cache.persist = persist
    with capture_logs() as logs:
        result = await rig.cache.lookup(issuer, POLICY, serial(3))
    assert seen == [None]
    assert result.answer is None
    assert result.failure is not None
    assert result.failure.reason == "store_error"
    assert any(e["event"] == "upstream_persist_failed" for e in logs)
    assert combine(NO_CRL, result).answer.unknown_reason is UnknownReason.UPSTREAM_UNREACHABLE


def rig_signer(rig: Rig) -> Signer:
    return Signer(rig.pki.ca.cert, rig.pki.ca.key, embed=False)  # type: ignore[arg-type]


class _Recorder:
    """An AlertSink that keeps what it is given (the delivery is tests/alerts' business)."""

    def __init__(self) -> None:
        self.sent: list = []  # type: ignore[type-arg]

    def send(self, alert) -> None:  # type: ignore[no-untyped-def]
        self.sent.append(alert)


async def test_a_failing_responder_fires_one_alert_resolved_on_recovery(rig: Rig) -> None:
    sink = _Recorder()
    events = Events(Metrics(), clock=ManualClock(NOW), sink=sink)  # type: ignore[arg-type]
    rig.upstream.health.on_change.append(events.upstream_health_changed)
    state = {"broken": True}

    async def behave(request):  # type: ignore[no-untyped-def]
        return await (respond(rig, nonce="wrong") if state["broken"] else respond(rig))(request)

    server = await rig.serve(behave)
    issuer = rig.issuer(server.url)
    for value in (1, 2):  # the same failure twice: one alert
        rig.clock.advance(seconds=31)
        await rig.cache.lookup(issuer, POLICY, serial(value))
    assert len(sink.sent) == 1
    firing = sink.sent[0]
    assert dict(firing.labels) == {
        "alertname": "RevocdUpstreamFailing",
        "severity": "warning",
        "partner": "partner",
        "issuer": issuer.name,
        "source": server.url,
    }
    assert firing.annotations["reason"] == "nonce_mismatch"
    assert firing.ends_at is None
    state["broken"] = False
    rig.clock.advance(seconds=31)
    await rig.cache.lookup(issuer, POLICY, serial(3))
    assert len(sink.sent) == 2
    resolved = sink.sent[1]
    assert resolved.labels == firing.labels
    assert resolved.ends_at == NOW
