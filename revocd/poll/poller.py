"""The poller: loads accepted evidence at start-up, then one task per source.

Each source has its own task, so one slow or hostile partner never delays another: the
slowest it can be is its own `timeout` and `max_crl_bytes`. After each attempt the task
sleeps for the delay `backoff.py` computes. A separate watcher turns the passage of time
into state changes (fresh -> stale -> expiring -> expired happen with no poll): it sleeps
until the next boundary that `Events.evaluate` reports, or `watch_every` at most.

Reload (`stage` -> `switch` -> `follow`, driven by revocd/reload.py): new issuers are read
from the store first (nothing is served half-loaded); then, in one step with no `await`,
the runtimes, status cache and source board change together. A kept issuer keeps its
runtime (accepted evidence, sticky set, ETags), so its sources are not refetched, and a poll
in flight finishes into it with the new policy. A removed source's task is cancelled in that
step, before it could install evidence again; a retuned source that is sleeping is woken to
sleep again for what is left of its delay under the new policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from revocd.clock import Clock
from revocd.events import Events
from revocd.fetch.transport import Transport
from revocd.model import Partner, Source, SourceKind
from revocd.poll.backoff import BackoffPolicy, next_delay_after_failure, next_delay_after_success
from revocd.poll.ingest import Ingestor, IssuerRuntime, Outcome, PollResult
from revocd.status.board import SourceBoard
from revocd.status.cache import StatusCache
from revocd.store.base import SourceRecord, Store

Sleep = Callable[[float], Awaitable[None]]
# Timers may fire a hair early; never spin on a boundary that is "due" right now.
MIN_WATCH_SECONDS = 0.01
log = structlog.get_logger("revocd.poll")


@dataclass(frozen=True)
class Staged:
    """A new partner list, with the issuers it adds (or whose certificate changed) already
    read from the store: what `Poller.switch` installs without waiting for anything."""

    partners: tuple[Partner, ...]
    fresh: Mapping[str, IssuerRuntime]  # by issuer name
    records: Mapping[str, SourceRecord]  # every source the store knows, by id


@dataclass
class Switched:
    """What `Poller.switch` changed; `Poller.follow` turns it into task changes."""

    added: list[Source] = field(default_factory=list)  # CRL sources to start polling
    removed: list[Source] = field(default_factory=list)  # every source no longer configured
    retuned: list[Source] = field(default_factory=list)  # CRL sources with a new policy
    cancelled: list[asyncio.Task[None]] = field(default_factory=list)


class Poller:
    def __init__(
        self,
        *,
        partners: Sequence[Partner],
        store: Store,
        cache: StatusCache,
        board: SourceBoard,
        transport: Transport,
        events: Events,
        clock: Clock,
        executor: Executor | None,
        rng: random.Random,
        backoff: BackoffPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        watch_every: timedelta = timedelta(seconds=5),
    ) -> None:
        self._partners = tuple(partners)
        self._store = store
        self._cache = cache
        self._board = board
        self._events = events
        self._clock = clock
        self._rng = rng
        self._backoff = backoff or BackoffPolicy()
        self._sleep = sleep
        self._watch_every = watch_every
        self._tasks: dict[str, asyncio.Task[None]] = {}  # poll tasks by source id
        self._watcher: asyncio.Task[None] | None = None
        # a sleeping source: when it went to sleep, its last result and failure count
        self._resting: dict[str, tuple[datetime, PollResult, int]] = {}
        self.runtimes: dict[str, IssuerRuntime] = {
            issuer.name: IssuerRuntime(issuer, partner)
            for partner in self._partners
            for issuer in partner.issuers
        }
        self.ingestor = Ingestor(
            store=store,
            cache=cache,
            board=board,
            transport=transport,
            events=events,
            clock=clock,
            executor=executor,
            runtimes=self.runtimes,
        )

    @property
    def crl_sources(self) -> list[Source]:
        return [
            source
            for runtime in self.runtimes.values()
            for source in runtime.issuer.sources
            if source.kind is SourceKind.CRL
        ]

    async def load(self) -> None:
        """Serve the last accepted evidence immediately, with every partner unreachable."""
        records = await self._store.load_sources()
        for runtime in self.runtimes.values():
            await self._read(runtime)
            self._restore_board(runtime, records)
            self._cache.install(runtime.evidence())
        for runtime in self.runtimes.values():
            self.ingestor._refresh_behind(runtime)
        self._cache.set_ready()
        self.watch_once()

    async def _read(self, runtime: IssuerRuntime) -> None:
        ids = [s.id for s in runtime.issuer.sources if s.kind is SourceKind.CRL]
        stored = await self._store.load_issuer(runtime.issuer.key.id, ids)
        runtime.newest = stored.crl
        runtime.index = stored.index
        runtime.sticky = dict(stored.sticky)

    def _restore_board(
        self,
        runtime: IssuerRuntime,
        records: Mapping[str, SourceRecord],
        only: Sequence[Source] | None = None,
    ) -> None:
        for source in runtime.issuer.sources if only is None else only:
            record = records.get(source.id)
            if record is None:
                continue
            if record.meta is not None:
                runtime.last[source.id] = record.meta
                runtime.validators[source.id] = record.validators
            self._board.update(
                source,
                meta=record.meta,
                last_success=record.last_success,
                last_error=record.last_error,
                last_error_at=record.last_error_at,
                failing=bool(
                    record.last_error_at
                    and (not record.last_success or record.last_error_at > record.last_success)
                ),
            )

    def start(self) -> None:
        for source in self.crl_sources:
            self._spawn(source)
        self._watcher = asyncio.create_task(self._watch(), name="watch states")

    def _spawn(
        self, source: Source, resume: tuple[datetime, PollResult, int] | None = None
    ) -> None:
        self._tasks[source.id] = asyncio.create_task(
            self._run(source, resume), name=f"poll {source.id}"
        )

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        if self._watcher is not None:
            tasks.append(self._watcher)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._watcher = None
        self._resting.clear()

    # ---- reload ----------------------------------------------------------------------------

    async def stage(self, partners: Sequence[Partner]) -> Staged:
        """Read the issuers that `partners` adds (or gives a new certificate) from the store.
        Changes nothing that is served."""
        fresh: dict[str, IssuerRuntime] = {}
        for partner in partners:
            for issuer in partner.issuers:
                kept = self.runtimes.get(issuer.name)
                if kept is not None and kept.issuer.key == issuer.key:
                    continue
                runtime = IssuerRuntime(issuer, partner)
                await self._read(runtime)
                fresh[issuer.name] = runtime
        return Staged(tuple(partners), fresh, await self._store.load_sources())

    def switch(self, staged: Staged) -> Switched:
        """Install `staged` at once (no `await`): runtimes, status cache, source board."""
        changed = Switched()
        old_sources = {s.id: s for r in self.runtimes.values() for s in r.issuer.sources}
        new_sources = {s.id: s for p in staged.partners for i in p.issuers for s in i.sources}
        replaced = set(staged.fresh)
        for name, runtime in list(self.runtimes.items()):  # removed or replaced issuers
            if name in replaced or not any(
                i.name == name for p in staged.partners for i in p.issuers
            ):
                changed.removed.extend(runtime.issuer.sources)
                del self.runtimes[name]
        for source_id, source in old_sources.items():  # sources dropped from kept issuers
            if source_id not in new_sources and source.issuer in self.runtimes:
                changed.removed.append(source)
                runtime = self.runtimes[source.issuer]
                runtime.last.pop(source_id, None)
                runtime.validators.pop(source_id, None)
        for source in changed.removed:
            task = self._tasks.pop(source.id, None)
            self._resting.pop(source.id, None)
            if task is not None:
                task.cancel()  # before it can resume into a runtime that is gone
                changed.cancelled.append(task)
        evidence = {}
        restart = {s.id for s in changed.removed}  # a replaced issuer's sources start again
        for partner in staged.partners:
            for issuer in partner.issuers:
                runtime = staged.fresh.get(issuer.name) or self.runtimes[issuer.name]
                retuned = runtime.partner.policy != partner.policy
                grace = runtime.partner.policy.grace != partner.policy.grace
                runtime.issuer, runtime.partner = issuer, partner
                self.runtimes[issuer.name] = runtime
                if issuer.name in staged.fresh or grace:
                    evidence[issuer.name] = runtime.evidence()
                crl = [s for s in issuer.sources if s.kind is SourceKind.CRL]
                changed.added.extend(s for s in crl if s.id not in old_sources or s.id in restart)
                if retuned and issuer.name not in staged.fresh:
                    changed.retuned.extend(s for s in crl if s.id in old_sources)
        self._partners = staged.partners
        self._cache.reconfigure(staged.partners, evidence)
        self._board.reconfigure(new_sources.values())
        for name, runtime in self.runtimes.items():  # what the store knows of new sources
            new = [
                s for s in runtime.issuer.sources if name in staged.fresh or s.id not in old_sources
            ]
            self._restore_board(runtime, staged.records, new)
            self.ingestor._refresh_behind(runtime)
        for source in changed.removed:
            if source.id not in new_sources:
                self._events.forget(source)
        return changed

    async def follow(self, changed: Switched) -> None:
        """Stop the removed sources' tasks, start the added ones' (they fetch at once) and
        reschedule the sleeping retuned ones; a running poll keeps running."""
        for task in changed.cancelled:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._watcher is None:  # not polling (tests, `revocd fetch`)
            return
        for source in changed.added:
            self._spawn(source)
        for source in changed.retuned:
            resting = self._resting.pop(source.id, None)
            sleeping = self._tasks.get(source.id)
            if resting is None or sleeping is None:
                continue  # polling now: its next delay is computed with the new policy
            sleeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sleeping
            self._spawn(source, resting)
        self.watch_once()

    async def poll_all(self) -> dict[str, PollResult]:
        """One pass over every CRL source, concurrently (used by `revocd fetch` and tests)."""
        sources = self.crl_sources
        results = await asyncio.gather(*(self.poll(s) for s in sources))
        return {s.id: r for s, r in zip(sources, results, strict=True)}

    async def poll(self, source: Source) -> PollResult:
        result = await self.ingestor.poll(source)
        self._note_state(source)
        return result

    def next_delay(self, source: Source, result: PollResult, failures: int) -> timedelta:
        runtime = self.runtimes[source.issuer]
        interval = runtime.partner.policy.poll_interval
        if result.outcome in (Outcome.ACCEPTED, Outcome.UNCHANGED):
            newest = runtime.newest
            return next_delay_after_success(
                self._clock.now(), interval, newest.next_update if newest else None, self._backoff
            )
        return next_delay_after_failure(failures, interval, self._backoff, self._rng)

    async def _run(
        self, source: Source, resume: tuple[datetime, PollResult, int] | None = None
    ) -> None:
        failures = 0
        if resume is not None:  # woken by a reload: sleep what is left under the new policy
            since, result, failures = resume
            left = self.next_delay(source, result, failures) - (self._clock.now() - since)
            await self._rest(source, (since, result, failures), left)
        while True:
            try:
                result = await self.poll(source)
            except Exception as error:  # noqa: BLE001 - our bug: log it, keep polling
                self._events.internal_error(source, error)
                result = PollResult(Outcome.FAILED, repr(error), "internal_error")
            ok = result.outcome in (Outcome.ACCEPTED, Outcome.UNCHANGED)
            failures = 0 if ok else failures + 1
            state = (self._clock.now(), result, failures)
            await self._rest(source, state, self.next_delay(source, result, failures))

    async def _rest(
        self, source: Source, state: tuple[datetime, PollResult, int], delay: timedelta
    ) -> None:
        self._resting[source.id] = state
        try:
            await self._sleep(max(delay.total_seconds(), 0.0))
        finally:
            if self._resting.get(source.id) is state:
                del self._resting[source.id]

    async def _watch(self) -> None:
        """Wake at the next boundary any source reaches (nextUpdate, expiring, grace end,
        failing_after), and at least every `watch_every` (the clock may jump)."""
        while True:
            due = self.watch_once()
            delay = self._watch_every
            if due is not None:
                delay = min(delay, due - self._clock.now())
            await self._sleep(max(delay.total_seconds(), MIN_WATCH_SECONDS))

    def watch_once(self) -> datetime | None:
        """Re-evaluate every source now; returns when the next state change is due."""
        due = [d for s in self.crl_sources if (d := self._note_state(s)) is not None]
        return min(due, default=None)

    def _note_state(self, source: Source) -> datetime | None:
        runtime = self.runtimes[source.issuer]
        return self._events.evaluate(
            source, self._board.get(source).meta, runtime.partner.policy.grace
        )
