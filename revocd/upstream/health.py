"""Health of each upstream OCSP source: did its last exchange give a verified answer?

Real queries and the periodic probe both report here; the failover order prefers
healthy sources. A state is replaced whole; `on_change` listeners hear about every
change of state (ok <-> failing, or a new failure reason), which is what an alert wants;
`on_update` listeners hear every new state (what replica processes copy, with `install`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from revocd.model import Source


class Health(StrEnum):
    UNKNOWN = "unknown"  # never asked yet
    OK = "ok"
    FAILING = "failing"


@dataclass(frozen=True, slots=True)
class SourceHealth:
    source: Source
    state: Health = Health.UNKNOWN
    last_success: datetime | None = None
    last_error: str | None = None  # the detail of the last failure
    last_error_at: datetime | None = None
    last_reason: str | None = None  # a RejectReason value or a FetchError kind
    consecutive_failures: int = 0


class HealthBoard:
    def __init__(self, sources: Iterable[Source] = ()) -> None:
        self._states: dict[str, SourceHealth] = {s.id: SourceHealth(s) for s in sources}
        self.on_change: list[Callable[[SourceHealth, SourceHealth], None]] = []
        self.on_update: list[Callable[[SourceHealth], None]] = []

    def get(self, source: Source) -> SourceHealth:
        return self._states.get(source.id) or SourceHealth(source)

    def snapshot(self) -> Mapping[str, SourceHealth]:
        return dict(self._states)

    def success(self, source: Source, now: datetime) -> SourceHealth:
        return self._put(
            replace(self.get(source), state=Health.OK, last_success=now, consecutive_failures=0)
        )

    def failure(self, source: Source, now: datetime, reason: str, detail: str) -> SourceHealth:
        before = self.get(source)
        return self._put(
            replace(
                before,
                state=Health.FAILING,
                last_error=detail,
                last_error_at=now,
                last_reason=reason,
                consecutive_failures=before.consecutive_failures + 1,
            )
        )

    def install(self, state: SourceHealth) -> None:
        """A copy of another board's state (a replica's copy of the primary's board)."""
        self._states[state.source.id] = state

    def _put(self, state: SourceHealth) -> SourceHealth:
        before = self.get(state.source)
        self._states[state.source.id] = state
        for updated in self.on_update:
            updated(state)
        if (before.state, before.last_reason) != (state.state, state.last_reason):
            for listener in self.on_change:
                listener(before, state)
        return state
