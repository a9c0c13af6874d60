"""The poller: loads accepted evidence at start-up, then one task per source.

Each source has its own task, so one slow or hostile partner never delays another: the
slowest it can be is its own `timeout` and `max_crl_bytes`. After each attempt the task
sleeps for the delay `backoff.py` computes. A separate watcher turns the passage of time
into state changes (fresh -> stale -> expiring -> expired happen with no poll): it sleeps
until the next boundary that `Events.evaluate` reports, or `watch_every` at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
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
from revocd.store.base import Store

Sleep = Callable[[float], Awaitable[None]]
# Timers may fire a hair early; never spin on a boundary that is "due" right now.
MIN_WATCH_SECONDS = 0.01
log = structlog.get_logger("revocd.poll")


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
        self._tasks: list[asyncio.Task[None]] = []
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
            ids = [s.id for s in runtime.issuer.sources if s.kind is SourceKind.CRL]
            stored = await self._store.load_issuer(runtime.issuer.key.id, ids)
            runtime.newest = stored.crl
            runtime.index = stored.index
            runtime.sticky = dict(stored.sticky)
            for source in runtime.issuer.sources:
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
            self._cache.install(runtime.evidence())
        for runtime in self.runtimes.values():
            self.ingestor._refresh_behind(runtime)
        self._cache.set_ready()
        self.watch_once()

    def start(self) -> None:
        for source in self.crl_sources:
            self._tasks.append(asyncio.create_task(self._run(source), name=f"poll {source.id}"))
        self._tasks.append(asyncio.create_task(self._watch(), name="watch states"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

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

    async def _run(self, source: Source) -> None:
        failures = 0
        while True:
            try:
                result = await self.poll(source)
            except Exception as error:  # noqa: BLE001 - our bug: log it, keep polling
                self._events.internal_error(source, error)
                result = PollResult(Outcome.FAILED, repr(error), "internal_error")
            ok = result.outcome in (Outcome.ACCEPTED, Outcome.UNCHANGED)
            failures = 0 if ok else failures + 1
            await self._sleep(self.next_delay(source, result, failures).total_seconds())

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
