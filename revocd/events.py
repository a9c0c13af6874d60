"""Source events -> structured log + metric (+ alert, once alerts land), from one call site.

The poller reports what happened; this module decides how loudly. A partner misbehaving
is a warning, logged once per change of state (a CRL rejected for the same reason on
every poll is logged at warning the first time and at debug afterwards), while the
metric counts every occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import structlog

from revocd.evidence import CrlMeta
from revocd.metrics import Metrics
from revocd.model import Source


def _iso(when: datetime | None) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when else None


@dataclass
class Events:
    metrics: Metrics
    log: structlog.typing.FilteringBoundLogger = field(
        default_factory=lambda: structlog.get_logger("revocd.events")
    )
    _last_problem: dict[str, str] = field(default_factory=dict)
    _state: dict[str, str] = field(default_factory=dict)

    def _labels(self, source: Source) -> dict[str, str]:
        return {"partner": source.partner, "issuer": source.issuer, "source": source.url}

    def _once(self, source: Source, problem: str | None) -> bool:
        """True when `problem` differs from the source's previous one (a change of state)."""
        previous = self._last_problem.get(source.id)
        if problem is None:
            self._last_problem.pop(source.id, None)
        else:
            self._last_problem[source.id] = problem
        return previous != problem

    def crl_accepted(
        self,
        source: Source,
        meta: CrlMeta,
        *,
        behind: bool,
        seconds: float,
        timings: dict[str, float] | None = None,
    ) -> None:
        recovered = self._once(source, None)
        self.metrics.crl_fetch_total.labels(**self._labels(source), outcome="accepted").inc()
        self.log.info(
            "crl_accepted",
            **self._labels(source),
            crl_number=meta.crl_number,
            this_update=_iso(meta.this_update),
            next_update=_iso(meta.next_update),
            entries=meta.entry_count,
            behind=behind,
            recovered=recovered and source.id in self._state,
            seconds=round(seconds, 3),
            **{f"{k}_seconds": round(v, 3) for k, v in (timings or {}).items()},
        )

    def crl_unchanged(self, source: Source) -> None:
        self._once(source, None)
        self.metrics.crl_fetch_total.labels(**self._labels(source), outcome="unchanged").inc()
        self.log.debug("crl_unchanged", **self._labels(source))

    def crl_rejected(self, source: Source, reason: str, detail: str) -> None:
        self.metrics.crl_fetch_total.labels(**self._labels(source), outcome="rejected").inc()
        self.metrics.crl_rejected_total.labels(**self._labels(source), reason=reason).inc()
        level = self.log.warning if self._once(source, f"rejected:{reason}") else self.log.debug
        level("crl_rejected", **self._labels(source), reason=reason, detail=detail)

    def fetch_failed(self, source: Source, kind: str, detail: str) -> None:
        self.metrics.crl_fetch_total.labels(**self._labels(source), outcome="failed").inc()
        level = self.log.warning if self._once(source, f"failed:{kind}") else self.log.debug
        level("fetch_failed", **self._labels(source), kind=kind, detail=detail)

    def source_state(self, source: Source, state: str) -> None:
        """Record the source's state (fresh/stale/expired/none, or failing); log changes."""
        previous = self._state.get(source.id)
        if previous == state:
            return
        self._state[source.id] = state
        if previous is None and state == "none":
            return
        level = self.log.info if state == "fresh" else self.log.warning
        level("source_state_changed", **self._labels(source), old=previous, new=state)

    def internal_error(self, source: Source, error: BaseException) -> None:
        self.log.error("poll_internal_error", **self._labels(source), error=repr(error))
