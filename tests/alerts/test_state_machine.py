"""The source state machine, step by step, with an injected clock: each transition gives
exactly one log line, one metric change and the alerts Alertmanager would receive.

The table is one partner's story: a CRL goes fresh -> stale -> expiring -> expired and is
replaced; fetches fail long enough to alert, then recover; CRLs are rejected (rollback,
bad signature) and a good CRL resolves those alerts. Each case replays the steps before
it and checks its own. Timings: grace 1 h, expiring_before 15 min, failing_after 10 min.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from unittest.mock import ANY

import pytest
from structlog.testing import capture_logs

from revocd.status.freshness import Condition
from tests.alerts.conftest import PATH, Rig
from tests.support.pki import T0, make_ca, make_crl

TRANSITION_LOGS = {
    "source_state_changed",
    "crl_rejected",
    "fetch_failed",
    "source_failing",
    "source_recovered",
}
URL = "<url>"  # the partner's URL, filled in per run
WHO = {"partner": "acme", "issuer": "acme-issuing", "source": URL}
FIRST = {"next_update": "2026-01-01T02:00:00Z", "grace_end": "2026-01-01T03:00:00Z"}
SECOND = {"next_update": "2026-01-02T00:00:00Z", "grace_end": "2026-01-02T01:00:00Z"}

Action = Callable[[Rig], Awaitable[None]]


def crl(rig: Rig, number: int, this_update: timedelta, next_update: timedelta, **kw: Any) -> bytes:
    return make_crl(
        rig.ca,
        [0x1001],
        number=number,
        this_update=T0 + this_update,
        next_update=T0 + next_update,
        **kw,
    )


def serve(make: Callable[[Rig], bytes]) -> Action:
    async def action(rig: Rig) -> None:
        rig.partner.publish(PATH, make(rig))
        await rig.poller.poll(rig.source)

    return action


async def fail(rig: Rig) -> None:
    rig.partner.fail(PATH, 500)
    await rig.poller.poll(rig.source)


async def watch(rig: Rig) -> None:
    rig.poller.watch_once()


FIRST_CRL = serve(lambda r: crl(r, 1, timedelta(0), timedelta(hours=2)))
SECOND_CRL = serve(lambda r: crl(r, 2, timedelta(hours=3), timedelta(days=1)))
ROLLBACK = serve(
    lambda r: crl(r, 1, timedelta(hours=3, minutes=1), timedelta(days=1), extensions=())
)
BAD_SIGNATURE = serve(
    lambda r: crl(
        r, 3, timedelta(hours=3, minutes=30), timedelta(days=1), signer=make_ca("Another CA").key
    )
)
THIRD_CRL = serve(lambda r: crl(r, 3, timedelta(hours=3, minutes=30), timedelta(days=1)))


def condition_alert(name: str, severity: str, starts: str, times: dict[str, str], **text: str):
    return {
        "labels": {"alertname": name, "severity": severity, **WHO},
        "annotations": {**text, **times},
        "startsAt": starts,
    }


STALE = condition_alert(
    "RevocdSourceStale",
    "warning",
    "2026-01-01T02:00:00Z",
    FIRST,
    summary="acme / acme-issuing: CRL past nextUpdate",
    description=(
        "<url> passed its nextUpdate (2026-01-01T02:00:00Z) and no newer CRL has been "
        "accepted. Answers stay good until the grace ends at 2026-01-01T03:00:00Z, then "
        "become unknown (source_expired). Check the partner's CRL publication and "
        "`revocd status`."
    ),
)
EXPIRING = condition_alert(
    "RevocdSourceExpiring",
    "warning",
    "2026-01-01T02:45:00Z",
    FIRST,
    summary="acme / acme-issuing: CRL grace ends at 2026-01-01T03:00:00Z",
    description=(
        "<url> is past its nextUpdate (2026-01-01T02:00:00Z) and its grace ends at "
        "2026-01-01T03:00:00Z; after that, certificates of this issuer that are not revoked "
        "are answered unknown. Get the partner to publish a CRL, or lengthen this partner's "
        "grace if the outage is understood."
    ),
)
EXPIRED = condition_alert(
    "RevocdSourceExpired",
    "critical",
    "2026-01-01T03:00:00Z",
    FIRST,
    summary="acme / acme-issuing: CRL expired",
    description=(
        "<url> is past nextUpdate (2026-01-01T02:00:00Z) + grace (2026-01-01T03:00:00Z): "
        "unless another mirror of this issuer is fresher, certificates of this issuer that "
        "are not revoked are answered unknown (source_expired). Relying parties are affected."
    ),
)
FAILING = {
    "labels": {"alertname": "RevocdSourceFailing", "severity": "warning", **WHO},
    "annotations": {
        "summary": "acme / acme-issuing: fetches failing (http_status)",
        "description": ANY,
        "reason": "http_status",
    },
    "startsAt": "2026-01-01T03:10:00Z",
}


def rejected(reason: str, starts: str) -> dict[str, Any]:
    return {
        "labels": {
            "alertname": "RevocdCrlRejected",
            "severity": "warning",
            **WHO,
            "reason": reason,
        },
        "annotations": {
            "summary": f"acme / acme-issuing: CRL rejected ({reason})",
            "description": ANY,
            "reason": reason,
        },
        "startsAt": starts,
    }


def resolved(alert: dict[str, Any], at: str) -> dict[str, Any]:
    return {**alert, "endsAt": at}


def changed(level: str, old: str, new: str, times: dict[str, str]) -> dict[str, Any]:
    return {
        "event": "source_state_changed",
        "log_level": level,
        **WHO,
        "old": old,
        "new": new,
        **times,
    }


def rejection(reason: str, level: str = "warning") -> dict[str, Any]:
    log = {"event": "crl_rejected", "log_level": level, **WHO, "reason": reason, "detail": ANY}
    return {**log, **SECOND} if level == "warning" else log


@dataclass(frozen=True)
class Step:
    id: str
    at: timedelta  # clock, from T0
    action: Action
    logs: list[dict[str, Any]]
    state: Condition  # the revocd_source_state series that is 1
    counted: dict[str, int]  # revocd_source_events_total increments, by event
    alerts: list[dict[str, Any]] = field(default_factory=list)
    rejected_total: dict[str, float] = field(default_factory=dict)  # cumulative, by reason


STEPS = [
    Step(
        "first-crl-is-fresh",
        timedelta(hours=1),
        FIRST_CRL,
        [changed("info", "none", "fresh", FIRST)],
        Condition.FRESH,
        {"fresh": 1},
    ),
    Step(
        "past-next-update-is-stale-with-no-poll",
        timedelta(hours=2),
        watch,
        [changed("warning", "fresh", "stale", FIRST)],
        Condition.STALE,
        {"stale": 1},
        [STALE],
    ),
    Step(
        "polling-the-same-crl-while-stale-is-no-event",
        timedelta(hours=2, minutes=30),
        FIRST_CRL,
        [],
        Condition.STALE,
        {},
    ),
    Step(
        "last-15-minutes-of-grace-is-expiring",
        timedelta(hours=2, minutes=45),
        watch,
        [changed("warning", "stale", "expiring", FIRST)],
        Condition.EXPIRING,
        {"expiring": 1},
        [resolved(STALE, "2026-01-01T02:45:00Z"), EXPIRING],
    ),
    Step(
        "grace-over-is-expired",
        timedelta(hours=3),
        watch,
        [changed("warning", "expiring", "expired", FIRST)],
        Condition.EXPIRED,
        {"expired": 1},
        [resolved(EXPIRING, "2026-01-01T03:00:00Z"), EXPIRED],
    ),
    Step(
        "a-new-crl-is-fresh-again",
        timedelta(hours=3, minutes=5),
        SECOND_CRL,
        [changed("info", "expired", "fresh", SECOND)],
        Condition.FRESH,
        {"fresh": 1},
        [resolved(EXPIRED, "2026-01-01T03:05:00Z")],
    ),
    Step(
        "a-failed-fetch-is-logged-but-not-yet-failing",
        timedelta(hours=3, minutes=10),
        fail,
        [
            {
                "event": "fetch_failed",
                "log_level": "warning",
                **WHO,
                "kind": "http_status",
                "detail": ANY,
            }
        ],
        Condition.FRESH,
        {},
    ),
    Step(
        "failing-for-failing-after-alerts",
        timedelta(hours=3, minutes=20),
        watch,
        [
            {
                "event": "source_failing",
                "log_level": "warning",
                **WHO,
                "reason": "http_status",
                "detail": ANY,
                "since": "2026-01-01T03:10:00Z",
                **SECOND,
            }
        ],
        Condition.FRESH,
        {"failing": 1},
        [FAILING],
    ),
    Step(
        "a-good-fetch-recovers",
        timedelta(hours=3, minutes=25),
        SECOND_CRL,
        [
            {
                "event": "source_recovered",
                "log_level": "info",
                **WHO,
                "failing_since": "2026-01-01T03:10:00Z",
                "rejected": [],
            }
        ],
        Condition.FRESH,
        {"recovered": 1},
        [resolved(FAILING, "2026-01-01T03:25:00Z")],
    ),
    Step(
        "a-rollback-is-rejected-and-alerts-at-once",
        timedelta(hours=3, minutes=30),
        ROLLBACK,
        [rejection("rollback")],
        Condition.FRESH,
        {"rejected": 1},
        [rejected("rollback", "2026-01-01T03:30:00Z")],
        {"rollback": 1},
    ),
    Step(
        "the-same-rejection-again-is-counted-not-alerted",
        timedelta(hours=3, minutes=35),
        ROLLBACK,
        [rejection("rollback", "debug")],
        Condition.FRESH,
        {},
        [],
        {"rollback": 2},
    ),
    Step(
        "another-reason-is-another-alert",
        timedelta(hours=3, minutes=36),
        BAD_SIGNATURE,
        [rejection("bad_signature")],
        Condition.FRESH,
        {"rejected": 1},
        [rejected("bad_signature", "2026-01-01T03:36:00Z")],
        {"rollback": 2, "bad_signature": 1},
    ),
    Step(
        "an-accepted-crl-resolves-the-rejections",
        timedelta(hours=3, minutes=38),
        THIRD_CRL,
        [
            {
                "event": "source_recovered",
                "log_level": "info",
                **WHO,
                "failing_since": None,
                "rejected": ["bad_signature", "rollback"],
            }
        ],
        Condition.FRESH,
        {"recovered": 1},
        [
            resolved(rejected("rollback", "2026-01-01T03:30:00Z"), "2026-01-01T03:38:00Z"),
            resolved(rejected("bad_signature", "2026-01-01T03:36:00Z"), "2026-01-01T03:38:00Z"),
        ],
    ),
]


def fill(value: Any, url: str) -> Any:
    if isinstance(value, str):
        return value.replace(URL, url)
    if isinstance(value, dict):
        return {k: fill(v, url) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, url) for v in value]
    return value


def counts(rig: Rig) -> dict[str, float]:
    events = ("fresh", "stale", "expiring", "expired", "none", "failing", "recovered", "rejected")
    found = {e: rig.sample("revocd_source_events_total", event=e) for e in events}
    return {e: v for e, v in found.items() if v}


async def run(rig: Rig, step: Step) -> None:
    rig.clock.set(T0 + step.at)
    await step.action(rig)


@pytest.mark.parametrize("index", range(len(STEPS)), ids=[s.id for s in STEPS])
async def test_transition(rig: Rig, index: int) -> None:
    for before in STEPS[:index]:
        await run(rig, before)
    rig.sink.take()
    step = STEPS[index]
    url = rig.source.url
    counted_before = counts(rig)

    with capture_logs() as logs:
        await run(rig, step)

    assert [e for e in logs if e["event"] in TRANSITION_LOGS] == fill(step.logs, url)
    assert rig.sink.take() == fill(step.alerts, url)
    states = {s.value: rig.sample("revocd_source_state", state=s.value) for s in Condition}
    assert states == {s.value: float(s is step.state) for s in Condition}
    after = counts(rig)
    delta = {e: after[e] - counted_before.get(e, 0) for e in after}
    assert {e: d for e, d in delta.items() if d} == step.counted
    for reason, total in step.rejected_total.items():
        assert rig.sample("revocd_crl_rejected_total", reason=reason) == total


async def test_nothing_accepted_yet_is_none_and_quiet(rig: Rig) -> None:
    """A source with no CRL yet is `none` from the start, logged at debug, alerting nothing."""
    assert rig.sample("revocd_source_state", state="none") == 1
    assert rig.sink.take() == []


async def test_watcher_reports_the_next_boundary(rig: Rig) -> None:
    """The daemon's watcher sleeps until the next boundary, not a fixed tick."""
    await run(rig, STEPS[0])
    assert rig.poller.watch_once() == T0 + timedelta(hours=2)  # nextUpdate
    rig.clock.set(T0 + timedelta(hours=2))
    assert rig.poller.watch_once() == T0 + timedelta(hours=2, minutes=45)  # expiring
    rig.clock.set(T0 + timedelta(hours=2, minutes=50))
    assert rig.poller.watch_once() == T0 + timedelta(hours=3)  # grace end
    rig.clock.set(T0 + timedelta(hours=3))
    assert rig.poller.watch_once() is None
    await fail(rig)
    assert rig.poller.watch_once() == T0 + timedelta(hours=3, minutes=10)  # failing_after
