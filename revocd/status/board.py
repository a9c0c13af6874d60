"""The source board: what each source last did, for `/v1/partners`, `revocd status`, metrics.

The poller is the only writer (one `SourceState` per source, replaced whole); readers
take a snapshot. Freshness is not stored: it is computed from `meta` at read time,
because it changes with the clock and not with events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from revocd.evidence import CrlMeta
from revocd.model import Source


@dataclass(frozen=True, slots=True)
class SourceState:
    source: Source
    meta: CrlMeta | None = None  # this source's last accepted CRL
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_reject_reason: str | None = None  # a RejectReason value, or a FetchError kind
    failing: bool = False  # the last attempt failed
    behind: bool = False  # a mirror whose last CRL is older than the issuer's newest


class SourceBoard:
    def __init__(self, sources: Iterable[Source]) -> None:
        self._states: dict[str, SourceState] = {s.id: SourceState(s) for s in sources}
        self.on_change: list[Callable[[SourceState], None]] = []  # replicas follow it

    def reconfigure(self, sources: Iterable[Source]) -> None:
        """A reload: keep the state of every source still configured, start the new ones
        empty, forget the removed ones (one assignment: readers see old or new)."""
        self._states = {s.id: self._states.get(s.id) or SourceState(s) for s in sources}

    def get(self, source: Source) -> SourceState:
        return self._states[source.id]

    def put(self, state: SourceState) -> None:
        self._states[state.source.id] = state
        for listener in self.on_change:
            listener(state)

    def update(self, source: Source, **changes: object) -> SourceState:
        state = replace(self._states[source.id], **changes)  # type: ignore[arg-type]
        self.put(state)
        return state

    def snapshot(self) -> Mapping[str, SourceState]:
        return dict(self._states)
