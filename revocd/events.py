"""Source events -> structured log + metric + alert, from one call site (`Events._emit`).

The poller reports what happened (a CRL accepted, unchanged, rejected; a fetch failed) and
asks `evaluate` after every poll and whenever the clock reaches a source's next boundary.
This module decides what is a *transition* and how loudly to report it:

=====================  =======================================  =========================
event (log name)        when                                     alert
=====================  =======================================  =========================
source_state_changed   the source's `Condition` changes          RevocdSourceStale,
                       (fresh, stale, expiring, expired, none)   ...Expiring, ...Expired
crl_rejected           a CRL is rejected for a new reason        RevocdCrlRejected
source_failing         fetches or CRLs have failed for           RevocdSourceFailing
                       `failing_after`
source_recovered       the source serves an acceptable CRL       resolves the two above
                       again after failing or a rejection
upstream_state_changed  an OCSP source's health changes (ok,       none (the
                       failing, or failing for a new reason)     revocd_upstream_health
                                                                 gauge is there to alert on)
evidence_conflict      a CRL says revoked and the partner's      none
                       OCSP responder says good (once per
                       issuer and serial; answered revoked)
=====================  =======================================  =========================

Upstream OCSP exchanges (`upstream_event`: accepted, rejected, unreachable) are counted in
`revocd_upstream_requests_total` and logged at debug: their health changes are what an
operator reads. `ocsp_revoked_kept` (a partner now says good for a serial it said was
revoked; revocd keeps revoked) is a warning every time: it is a partner bug or an attack.

Each transition is logged once (a partner's fault: warning; back to normal: info), counted
in `revocd_source_events_total`, and sent to the `AlertSink`. Repeats (the same rejection
on every poll, every failed attempt) are counted in their own metrics and logged at debug.
At most one condition alert per source fires at a time: moving on resolves the old one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from revocd.alerts import Alert, AlertSink, NoAlerts, rfc3339
from revocd.clock import Clock, SystemClock
from revocd.evidence import CrlMeta
from revocd.metrics import Metrics
from revocd.model import Issuer, Source
from revocd.serials import serial_hex
from revocd.status.answer import Answer
from revocd.status.freshness import Condition, condition, expiring_at, grace_end, next_change
from revocd.upstream.health import Health, SourceHealth
from revocd.upstream.outcome import UpstreamEvent, UpstreamResult

DEFAULT_EXPIRING_BEFORE = timedelta(minutes=15)
DEFAULT_FAILING_AFTER = timedelta(minutes=15)

# Condition -> (alertname, severity); fresh and none raise nothing.
CONDITION_ALERTS = {
    Condition.STALE: ("RevocdSourceStale", "warning"),
    Condition.EXPIRING: ("RevocdSourceExpiring", "warning"),
    Condition.EXPIRED: ("RevocdSourceExpired", "critical"),
}


def _iso(when: datetime | None) -> str | None:
    return rfc3339(when) if when else None


@dataclass
class _Track:
    """What `Events` remembers about one source between calls."""

    condition: Condition | None = None
    condition_alert: Alert | None = None
    next_update: datetime | None = None  # of the source's CRL in force
    grace: timedelta = timedelta(0)
    problem: str | None = None  # "rejected:<reason>" / "failed:<kind>": for log levels
    failing_since: datetime | None = None
    failing_reason: str = ""
    failing_detail: str = ""
    failing_alert: Alert | None = None
    rejections: dict[str, Alert] = field(default_factory=dict)

    @property
    def times(self) -> dict[str, str | None]:
        """The times that matter: nextUpdate and the end of grace of the CRL in force."""
        end = grace_end(self.next_update, self.grace) if self.next_update else None
        return {"next_update": _iso(self.next_update), "grace_end": _iso(end)}


@dataclass(frozen=True, slots=True)
class Transition:
    event: str  # log event name
    label: str  # the `event` label of revocd_source_events_total
    level: str
    fields: dict[str, Any]
    alerts: tuple[Alert, ...] = ()  # to send: firing, or resolved (ends_at set)


@dataclass
class Events:
    metrics: Metrics
    log: structlog.typing.FilteringBoundLogger = field(
        default_factory=lambda: structlog.get_logger("revocd.events")
    )
    sink: AlertSink = field(default_factory=NoAlerts)
    clock: Clock = field(default_factory=SystemClock)
    expiring_before: timedelta = DEFAULT_EXPIRING_BEFORE
    failing_after: timedelta = DEFAULT_FAILING_AFTER
    _tracks: dict[str, _Track] = field(default_factory=dict)

    def _labels(self, source: Source) -> dict[str, str]:
        return {"partner": source.partner, "issuer": source.issuer, "source": source.url}

    def _track(self, source: Source) -> _Track:
        return self._tracks.setdefault(source.id, _Track())

    def _emit(self, source: Source, transition: Transition) -> None:
        """The one call site: log line, metric, alerts."""
        labels = self._labels(source)
        getattr(self.log, transition.level)(transition.event, **labels, **transition.fields)
        self.metrics.source_events_total.labels(**labels, event=transition.label).inc()
        if transition.event == "source_state_changed":
            for state in Condition:
                self.metrics.source_state.labels(**labels, state=state.value).set(
                    1 if state.value == transition.label else 0
                )
        for alert in transition.alerts:
            self.sink.send(alert)

    def _alert(
        self, source: Source, name: str, severity: str, starts_at: datetime, **annotations: str
    ) -> Alert:
        labels = {"alertname": name, "severity": severity, **self._labels(source)}
        if name == "RevocdCrlRejected":
            labels["reason"] = annotations["reason"]
        return Alert(labels, annotations, starts_at)

    # ---- what the poller reports -------------------------------------------------------

    def crl_accepted(
        self,
        source: Source,
        meta: CrlMeta,
        *,
        behind: bool,
        seconds: float,
        timings: dict[str, float] | None = None,
    ) -> None:
        track = self._track(source)
        recovered = track.problem is not None and track.condition is not None
        self.metrics.crl_fetch_total.labels(**self._labels(source), outcome="accepted").inc()
        self.metrics.crl_fetch_seconds.labels(**self._labels(source)).observe(seconds)
        self.log.info(
            "crl_accepted",
            **self._labels(source),
            crl_number=meta.crl_number,
            this_update=_iso(meta.this_update),
            next_update=_iso(meta.next_update),
            entries=meta.entry_count,
            behind=behind,
            recovered=recovered,
            seconds=round(seconds, 3),
            **{f"{k}_seconds": round(v, 3) for k, v in (timings or {}).items()},
        )
        self._succeeded(source, track)

    def crl_unchanged(self, source: Source) -> None:
        self.metrics.crl_fetch_total.labels(**self._labels(source), outcome="unchanged").inc()
        self.log.debug("crl_unchanged", **self._labels(source))
        self._succeeded(source, self._track(source))

    def crl_rejected(self, source: Source, reason: str, detail: str) -> None:
        track = self._track(source)
        labels = self._labels(source)
        self.metrics.crl_fetch_total.labels(**labels, outcome="rejected").inc()
        self.metrics.crl_rejected_total.labels(**labels, reason=reason).inc()
        self._problem(track, reason, detail)
        if track.problem == f"rejected:{reason}":
            self.log.debug("crl_rejected", **labels, reason=reason, detail=detail)
            return
        track.problem = f"rejected:{reason}"
        times = track.times
        alert = self._alert(
            source,
            "RevocdCrlRejected",
            "warning",
            self.clock.now(),
            summary=f"{source.partner} / {source.issuer}: CRL rejected ({reason})",
            description=(
                f"{detail}. The CRL accepted before stays in force "
                f"(nextUpdate {times['next_update'] or 'none'}, grace ends "
                f"{times['grace_end'] or 'none'}). rollback, equivocation and bad_signature "
                "may be attacks: investigate before changing the configuration."
            ),
            reason=reason,
        )
        track.rejections[reason] = alert
        self._emit(
            source,
            Transition(
                "crl_rejected",
                "rejected",
                "warning",
                {"reason": reason, "detail": detail, **times},
                (alert,),
            ),
        )

    def fetch_failed(self, source: Source, kind: str, detail: str) -> None:
        track = self._track(source)
        self.metrics.crl_fetch_total.labels(**self._labels(source), outcome="failed").inc()
        self._problem(track, kind, detail)
        new = track.problem != f"failed:{kind}"
        track.problem = f"failed:{kind}"
        level = self.log.warning if new else self.log.debug
        level("fetch_failed", **self._labels(source), kind=kind, detail=detail)

    def internal_error(self, source: Source, error: BaseException) -> None:
        self.log.error("poll_internal_error", **self._labels(source), error=repr(error))

    def forget(self, source: Source) -> None:
        """A reload removed the source: resolve its firing alerts, drop its state gauge."""
        self.metrics.forget_source(source.partner, source.issuer, source.url)
        track = self._tracks.pop(source.id, None)
        if track is None:
            return
        now = self.clock.now()
        firing = [track.condition_alert, track.failing_alert, *track.rejections.values()]
        for alert in firing:
            if alert is not None:
                self.sink.send(alert.resolved(now))

    # ---- the clock -----------------------------------------------------------------------

    def evaluate(self, source: Source, meta: CrlMeta | None, grace: timedelta) -> datetime | None:
        """Emit whatever transitions `now` brings; return when the next one is due."""
        now = self.clock.now()
        track = self._track(source)
        track.next_update = meta.next_update if meta else None
        track.grace = grace
        new = condition(track.next_update, now, grace, self.expiring_before)
        if new is not track.condition:
            self._condition_changed(source, track, new, now)
        due = next_change(track.next_update, now, grace, self.expiring_before)
        if track.failing_since is not None and track.failing_alert is None:
            failing_at = track.failing_since + self.failing_after
            if now >= failing_at:
                self._failing(source, track)
            else:
                due = min(due, failing_at) if due else failing_at
        return due

    def _condition_changed(
        self, source: Source, track: _Track, new: Condition, now: datetime
    ) -> None:
        old, track.condition = track.condition, new
        alerts: list[Alert] = []
        if track.condition_alert is not None:
            alerts.append(track.condition_alert.resolved(now))
            track.condition_alert = None
        if new in CONDITION_ALERTS:
            assert track.next_update is not None
            name, severity = CONDITION_ALERTS[new]
            track.condition_alert = self._condition_alert(source, track, new, name, severity)
            alerts.append(track.condition_alert)
        if new in (Condition.FRESH, Condition.NONE):
            level = "debug" if old is None and new is Condition.NONE else "info"
        else:
            level = "warning"
        fields = {"old": old.value if old else None, "new": new.value, **track.times}
        self._emit(
            source, Transition("source_state_changed", new.value, level, fields, tuple(alerts))
        )

    def _condition_alert(
        self, source: Source, track: _Track, new: Condition, name: str, severity: str
    ) -> Alert:
        assert track.next_update is not None
        times = track.times
        next_update, end = times["next_update"] or "", times["grace_end"] or ""
        who = f"{source.partner} / {source.issuer}"
        if new is Condition.STALE:
            starts_at = track.next_update
            summary = f"{who}: CRL past nextUpdate"
            description = (
                f"{source.url} passed its nextUpdate ({next_update}) and no newer CRL has been "
                f"accepted. Answers stay good until the grace ends at {end}, then become "
                "unknown (source_expired). Check the partner's CRL publication and "
                "`revocd status`."
            )
        elif new is Condition.EXPIRING:
            starts_at = expiring_at(track.next_update, track.grace, self.expiring_before)
            summary = f"{who}: CRL grace ends at {end}"
            description = (
                f"{source.url} is past its nextUpdate ({next_update}) and its grace ends at "
                f"{end}; after that, certificates of this issuer that are not revoked are "
                "answered unknown. Get the partner to publish a CRL, or lengthen this "
                "partner's grace if the outage is understood."
            )
        else:
            starts_at = grace_end(track.next_update, track.grace)
            summary = f"{who}: CRL expired"
            description = (
                f"{source.url} is past nextUpdate ({next_update}) + grace ({end}): unless "
                "another mirror of this issuer is fresher, certificates of this issuer that "
                "are not revoked are answered unknown (source_expired). Relying parties are "
                "affected."
            )
        return self._alert(
            source,
            name,
            severity,
            starts_at,
            summary=summary,
            description=description,
            next_update=next_update,
            grace_end=end,
        )

    # ---- failing and recovering ----------------------------------------------------------

    def _problem(self, track: _Track, reason: str, detail: str) -> None:
        if track.failing_since is None:
            track.failing_since = self.clock.now()
        track.failing_reason, track.failing_detail = reason, detail

    def _failing(self, source: Source, track: _Track) -> None:
        assert track.failing_since is not None
        since, reason = _iso(track.failing_since) or "", track.failing_reason
        times = track.times
        track.failing_alert = self._alert(
            source,
            "RevocdSourceFailing",
            "warning",
            track.failing_since,
            summary=f"{source.partner} / {source.issuer}: fetches failing ({reason})",
            description=(
                f"Every attempt since {since} failed; the last: {track.failing_detail}. The "
                f"CRL accepted before stays in force (nextUpdate {times['next_update'] or 'none'}"
                f", grace ends {times['grace_end'] or 'none'})."
            ),
            reason=reason,
        )
        self._emit(
            source,
            Transition(
                "source_failing",
                "failing",
                "warning",
                {"reason": reason, "detail": track.failing_detail, "since": since, **times},
                (track.failing_alert,),
            ),
        )

    def _succeeded(self, source: Source, track: _Track) -> None:
        now = self.clock.now()
        alerts = [a.resolved(now) for a in track.rejections.values()]
        if track.failing_alert is not None:
            alerts.append(track.failing_alert.resolved(now))
        since, failing = _iso(track.failing_since), track.failing_alert is not None
        reasons = sorted(track.rejections)
        track.problem, track.failing_since, track.failing_alert = None, None, None
        track.rejections = {}
        if not alerts:
            return
        self._emit(
            source,
            Transition(
                "source_recovered",
                "recovered",
                "info",
                {"failing_since": since if failing else None, "rejected": reasons},
                tuple(alerts),
            ),
        )

    # ---- upstream OCSP sources -------------------------------------------------------------

    def upstream_event(self, event: UpstreamEvent) -> None:
        """One exchange with (or decision about) a partner's OCSP responder."""
        source = event.source
        labels = self._labels(source)
        fields: dict[str, Any] = {"serial": serial_hex(event.serial) if event.serial else None}
        if event.name in _UPSTREAM_OUTCOMES:
            self.metrics.upstream_requests_total.labels(
                **labels, outcome=_UPSTREAM_OUTCOMES[event.name]
            ).inc()
            self.log.debug(
                event.name, **labels, **fields, reason=event.reason, detail=event.detail,
                probe=event.probe,
            )  # fmt: skip
            return
        level = "warning" if event.name == "ocsp_revoked_kept" else "info"
        self._emit(
            source,
            Transition(event.name, event.name, level, {**fields, "detail": event.detail}),
        )

    def upstream_sources(self, states: Iterable[SourceHealth]) -> None:
        """The OCSP sources at start-up (all `unknown`): their gauges exist from the start."""
        for health in states:
            self._upstream_gauge(health)

    def _upstream_gauge(self, health: SourceHealth) -> None:
        labels = self._labels(health.source)
        for state in Health:
            self.metrics.upstream_health.labels(**labels, state=state.value).set(
                1 if state is health.state else 0
            )

    def upstream_health_changed(self, before: SourceHealth, after: SourceHealth) -> None:
        """An OCSP source became ok or failing (or fails for a new reason): one log line."""
        source = after.source
        self._upstream_gauge(after)
        failing = after.state is Health.FAILING
        fields: dict[str, Any] = {
            "old": before.state.value,
            "new": after.state.value,
            "reason": after.last_reason if failing else None,
            "detail": after.last_error if failing else None,
            "last_success": _iso(after.last_success),
        }
        level = "warning" if failing else "info"
        if before.state is Health.UNKNOWN and not failing:
            level = "debug"  # the first success after start-up is not news
        label = "failing" if failing else ("recovered" if before.state is Health.FAILING else "ok")
        track = self._track(source)
        alerts: tuple[Alert, ...] = ()
        if failing:
            # one alert per source (its labels); a new reason re-sends it with new words
            track.failing_alert = self._alert(
                source,
                "RevocdUpstreamFailing",
                "warning",
                track.failing_alert.starts_at if track.failing_alert else self.clock.now(),
                summary=f"{source.partner}/{source.issuer}: OCSP responder {source.url} fails",
                description=(
                    f"revocd's queries to the partner's OCSP responder fail "
                    f"({after.last_reason}: {after.last_error}). Serials it decides are "
                    "answered from cached answers until they expire, then unknown. Check the "
                    "responder with the partner."
                ),
                reason=str(after.last_reason),
            )
            alerts = (track.failing_alert,)
        elif track.failing_alert is not None:
            alerts = (track.failing_alert.resolved(self.clock.now()),)
            track.failing_alert = None
        self._emit(source, Transition("upstream_state_changed", label, level, fields, alerts))

    def evidence_conflict(self, issuer: Issuer, answer: Answer, upstream: UpstreamResult) -> None:
        """A CRL says revoked, the partner's responder says good: answered revoked."""
        self.metrics.evidence_conflicts_total.labels(
            partner=issuer.partner, issuer=issuer.name
        ).inc()
        self.log.warning(
            "evidence_conflict",
            partner=issuer.partner,
            issuer=issuer.name,
            serial=serial_hex(answer.serial),
            answered=answer.status.value,
            crl_source=answer.source.url if answer.source else None,
            ocsp_source=upstream.url,
            ocsp_status=upstream.answer.status.value if upstream.answer else None,
            detail="the CRL lists the serial as revoked while the partner's OCSP responder "
            "says good; revocation wins. Tell the partner: its CRL and responder disagree",
        )

    def upstream_coalesced(self, issuer: Issuer) -> None:
        self.metrics.upstream_coalesced_total.labels(
            partner=issuer.partner, issuer=issuer.name
        ).inc()


_UPSTREAM_OUTCOMES = {
    "ocsp_accepted": "accepted",
    "ocsp_rejected": "rejected",
    "ocsp_unreachable": "unreachable",
}
