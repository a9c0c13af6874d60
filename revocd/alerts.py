"""Alerts to Alertmanager: what an alert is, and a sink that never blocks the daemon.

`events.py` decides *when* an alert fires or resolves; this module only delivers. An
`AlertSink` takes an `Alert` and returns at once. `AlertmanagerSink` keeps a bounded
queue (when it is full the oldest alert is dropped and counted: a stuck Alertmanager
must never cost memory or delay polling and serving), posts batches to every configured
Alertmanager (`POST <url>/api/v2/alerts`), and retries a batch with jittered exponential
backoff until at least one of them accepts it (Alertmanager replicas gossip, as with
Prometheus). Every firing alert is re-sent each `resend_interval`, so an Alertmanager
that restarted, or that resolves alerts it has not heard of for `resolve_timeout`, keeps
it firing; a resolved alert is sent once more with `endsAt`.

Degrades to: with no `[alerts] alertmanager`, `NoAlerts` (logs and metrics still tell
the story). Alerts queued when the daemon stops are not delivered; firing alerts stop
being re-sent, so Alertmanager resolves them after its `resolve_timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiohttp
import structlog

from revocd.config import AlertsConfig
from revocd.metrics import Metrics
from revocd.poll.backoff import BackoffPolicy, next_delay_after_failure

log = structlog.get_logger("revocd.alerts")

API_PATH = "/api/v2/alerts"
RETRY = BackoffPolicy(base=timedelta(seconds=1), cap=timedelta(minutes=1))


def rfc3339(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as Alertmanager sees it: its labels are its identity."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None = None  # set when resolved

    @property
    def key(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.labels.items()))

    @property
    def firing(self) -> bool:
        return self.ends_at is None

    def resolved(self, at: datetime) -> Alert:
        return replace(self, ends_at=at)

    def payload(self, extra_labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The postableAlert JSON object of Alertmanager's v2 API."""
        body: dict[str, Any] = {
            "labels": {**(extra_labels or {}), **self.labels},
            "annotations": dict(self.annotations),
            "startsAt": rfc3339(self.starts_at),
        }
        if self.ends_at is not None:
            body["endsAt"] = rfc3339(self.ends_at)
        return body


class AlertSink(Protocol):
    def send(self, alert: Alert) -> None:
        """Queue `alert` (firing, or resolved when `ends_at` is set); never blocks."""
        ...


class NoAlerts:
    """No `[alerts] alertmanager` configured: alerts go nowhere (logs and metrics remain)."""

    def send(self, alert: Alert) -> None:
        return None


@dataclass
class AlertmanagerSink:
    config: AlertsConfig
    session: aiohttp.ClientSession
    metrics: Metrics
    rng: random.Random = field(default_factory=random.Random)
    retry: BackoffPolicy = RETRY
    _queue: deque[Alert] = field(init=False)
    _firing: dict[tuple[tuple[str, str], ...], Alert] = field(init=False, default_factory=dict)
    _wake: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = field(init=False, default=None)
    _down: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self._queue = deque()

    def send(self, alert: Alert) -> None:
        if alert.firing:
            self._firing[alert.key] = alert
        else:
            self._firing.pop(alert.key, None)
        if len(self._queue) >= self.config.queue_size:
            self._queue.popleft()
            self.metrics.alerts_dropped_total.inc()
        self._queue.append(alert)
        self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="send alerts")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        resend = self.config.resend_interval.total_seconds()
        next_resend = loop.time() + resend
        pending: dict[tuple[tuple[str, str], ...], Alert] = {}
        failures = 0
        while True:
            if not pending and not self._queue:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.0, next_resend - loop.time()))
            self._wake.clear()
            while self._queue:
                alert = self._queue.popleft()
                pending[alert.key] = alert  # a later state of the same alert replaces it
            if loop.time() >= next_resend:
                for alert in self._firing.values():
                    pending.setdefault(alert.key, alert)
                next_resend = loop.time() + resend
            if not pending:
                continue
            if await self._post(list(pending.values())):
                pending.clear()
                failures = 0
                continue
            failures += 1
            delay = next_delay_after_failure(failures, self.retry.cap, self.retry, self.rng)
            await asyncio.sleep(delay.total_seconds())

    async def _post(self, alerts: list[Alert]) -> bool:
        """Post to every Alertmanager at once; delivered when any one accepted."""
        labels = dict(self.config.labels)
        body = [alert.payload(labels) for alert in alerts]
        results = await asyncio.gather(
            *(self._post_one(url, body) for url in self.config.alertmanager)
        )
        errors = [error for error in results if error is not None]
        delivered = len(errors) < len(results)
        if not delivered and not self._down:
            log.warning("alert_delivery_failed", alerts=len(alerts), errors=errors, retrying=True)
        elif delivered and self._down:
            log.info("alert_delivery_recovered", alerts=len(alerts))
        self._down = not delivered
        return delivered

    async def _post_one(self, url: str, body: list[dict[str, Any]]) -> str | None:
        """None when `url` accepted the batch, else what went wrong."""
        timeout = aiohttp.ClientTimeout(total=self.config.timeout.total_seconds())
        try:
            async with self.session.post(
                url.rstrip("/") + API_PATH, json=body, timeout=timeout
            ) as response:
                text = await response.text(errors="replace")
                if response.status // 100 == 2:
                    self.metrics.alerts_sent_total.labels(url).inc(len(body))
                    return None
                problem = f"{url}: HTTP {response.status} {text[:200].strip()}"
        except (aiohttp.ClientError, TimeoutError) as error:
            problem = f"{url}: {type(error).__name__} {error}".strip()
        self.metrics.alerts_failed_total.labels(url).inc(len(body))
        return problem


def make_sink(
    config: AlertsConfig, session: aiohttp.ClientSession, metrics: Metrics
) -> AlertmanagerSink | None:
    """The daemon's sink, or None when `[alerts]` names no Alertmanager."""
    if not config.alertmanager:
        return None
    return AlertmanagerSink(config, session, metrics)
