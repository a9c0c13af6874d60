"""Accepted upstream answers per (issuer, serial), and the work that keeps them fresh.

What it decides, and how it degrades:

* Freshness is the CRL table's (status/freshness.py) on the answer's nextUpdate with the
  partner's grace: a `fresh` answer is served without asking upstream; a `stale` one is
  served at once while one background refresh runs; an `expired` or missing one makes
  the caller wait for upstream (bounded by `ocsp_timeout` per source).
* Coalescing: one upstream round in flight per (issuer, serial); every concurrent ask
  awaits it (shielded: a caller that gives up does not cancel it for the others).
* A failed round keeps the answer in force (no evidence, never less evidence) and is
  remembered for `RETRY_AFTER`, so a dead responder costs each serial one round per
  `RETRY_AFTER`, not one per relying-party query.
* Revocation is sticky: a newer good or unknown answer never replaces a revoked one
  (`ocsp_revoked_kept`), except that a newer good releases a certificateHold
  (`ocsp_hold_released`). Replays (older answers) are rejected by verify.py.
* Background: serials asked within `ocsp_refresh_window` are refreshed once three
  quarters of their answer's validity have passed, before they go stale; serials not
  asked within the window are forgotten (revoked answers never are). Each OCSP source
  with no verified exchange within `ocsp_probe_interval` is probed, with a serial
  recently asked of its issuer when there is one.

Answers live in memory. `persist` (when set) is awaited with every answer before it
enters the cache, so accepted evidence is durable before it is served; if it fails, the
answer is not used (the round fails as `store_error`). `on_accept` listeners see every
answer that entered; `restore` puts persisted answers back after a restart. `on_held`
listeners see what is held for a serial (answer, its source, last failure) each time a
round, a restore or forgetting it (all None) changes it, and `held()` lists all of it:
what replica processes copy (revocd/upstream/copy.py); `touch` counts a replica's ask as
an ask here.

Hash algorithm: a round asks with the CertID hash the last caller wanted (`lookup`'s
`hash_algorithm`, SHA-1 by default); pass-through signing asks with the relying party's,
and an answer held for another algorithm makes such a caller wait for a new round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from revocd.clock import Clock
from revocd.errors import RevocdError
from revocd.model import Issuer, Policy, Source, SourceKind
from revocd.status.answer import CertStatus
from revocd.status.freshness import Freshness, freshness
from revocd.upstream.health import HealthBoard
from revocd.upstream.outcome import (
    Accepted,
    FailureKind,
    Held,
    UpstreamEvent,
    UpstreamFailure,
    UpstreamResult,
)
from revocd.upstream.query import Upstream
from revocd.upstream.verify import UpstreamAnswer

RETRY_AFTER = timedelta(seconds=30)
REFRESH_AT = 0.75  # of an answer's validity (nextUpdate - thisUpdate)
TICK = timedelta(seconds=15)

log = structlog.get_logger("revocd.upstream")
Key = tuple[str, bytes]  # (issuer name, serial content octets)


@dataclass(slots=True)
class _Entry:
    issuer: Issuer
    policy: Policy
    answer: UpstreamAnswer | None = None
    url: str | None = None
    failure: UpstreamFailure | None = None
    attempted_at: datetime | None = None
    asked_at: datetime | None = None
    hash_algorithm: str | None = None  # for the next round; None: the Upstream's default


def refresh_at(answer: UpstreamAnswer) -> datetime:
    return answer.this_update + (answer.next_update - answer.this_update) * REFRESH_AT


class UpstreamCache:
    def __init__(self, upstream: Upstream, clock: Clock) -> None:
        self.upstream = upstream
        self._clock = clock
        self._entries: dict[Key, _Entry] = {}
        self._inflight: dict[Key, asyncio.Task[None]] = {}
        self.on_accept: list[Callable[[Issuer, UpstreamAnswer, str], None]] = []
        self.persist: Callable[[Issuer, UpstreamAnswer, str], Awaitable[None]] | None = None
        # called with the issuer each time a lookup waits on a round someone else started
        self.on_coalesced: list[Callable[[Issuer], None]] = []
        # what is held for a serial, each time a round or a restore changed it
        self.on_held: list[Callable[[Held], None]] = []

    @property
    def health(self) -> HealthBoard:
        return self.upstream.health

    # --- the relying party's path -------------------------------------------------------

    def peek(self, issuer: str, serial: bytes) -> UpstreamResult | None:
        """What is cached, without asking upstream (e.g. to detect a CRL/OCSP conflict)."""
        entry = self._entries.get((issuer, serial))
        return self._result(entry, self._clock.now()) if entry is not None else None

    def current(self, issuer: str, serial: bytes) -> UpstreamAnswer | None:
        """The answer object in force (identity changes exactly when a new one is accepted:
        what pre-signed OCSP responses are checked against)."""
        entry = self._entries.get((issuer, serial))
        return entry.answer if entry is not None else None

    async def lookup(
        self,
        issuer: Issuer,
        policy: Policy,
        serial: bytes,
        *,
        hash_algorithm: str | None = None,
    ) -> UpstreamResult:
        """The answer for `serial`, asking upstream when the cached one cannot serve.

        With `hash_algorithm`, an answer held for another CertID hash cannot serve either
        (pass-through relays the bytes, which must answer the relying party's CertID)."""
        key = (issuer.name, serial)
        now = self._clock.now()
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(issuer, policy)
        entry.issuer, entry.policy, entry.asked_at = issuer, policy, now
        state = self._freshness(entry, now)
        answer = entry.answer
        other_hash = (
            hash_algorithm is not None
            and answer is not None
            and answer.hash_algorithm != hash_algorithm
            and not sticky(answer)
        )
        if hash_algorithm is not None:
            entry.hash_algorithm = hash_algorithm
        if answer is not None and (state is Freshness.FRESH or sticky(answer)) and not other_hash:
            return self._result(entry, now)
        if state is Freshness.STALE and not other_hash:
            if self._may_retry(entry, now):
                self._start(key)
            return self._result(entry, now)
        if key in self._inflight:
            for listener in self.on_coalesced:
                listener(issuer)
            await asyncio.shield(self._inflight[key])
        elif self._may_retry(entry, now):
            await asyncio.shield(self._start(key))
        return self._result(entry, self._clock.now())

    def restore(self, issuer: Issuer, policy: Policy, answer: UpstreamAnswer, url: str) -> None:
        """Put back an answer persisted before a restart (it is not announced again)."""
        entry = self._entries.setdefault((issuer.name, answer.serial), _Entry(issuer, policy))
        entry.answer, entry.url = answer, url
        # kept (and refreshed) for one refresh window, as if asked at restart
        entry.asked_at = entry.asked_at or self._clock.now()
        self._announce(issuer.name, answer.serial, entry)

    def held(self) -> list[Held]:
        """Everything held now (serials with an answer or a failed round)."""
        return [
            Held(key[0], key[1], entry.answer, entry.url, entry.failure)
            for key, entry in self._entries.items()
            if entry.answer is not None or entry.failure is not None
        ]

    def touch(self, issuer: str, serial: bytes) -> None:
        """Another process answered from its copy of this serial: it counts as asked (the
        refresher keeps it warm, and does not forget it)."""
        entry = self._entries.get((issuer, serial))
        if entry is not None:
            entry.asked_at = self._clock.now()

    def retarget(self, targets: Iterable[tuple[Issuer, Policy]]) -> None:
        """A reload: answers of issuers still configured with `ocsp` URLs (same name, same
        key) follow the new issuer and policy; the others are dropped (they stay persisted:
        a reload that configures the issuer again restores them)."""
        current = {issuer.name: (issuer, policy) for issuer, policy in targets}
        for key, entry in list(self._entries.items()):
            target = current.get(key[0])
            if target is None or target[0].key != entry.issuer.key:
                del self._entries[key]
                continue
            entry.issuer, entry.policy = target

    # --- background ---------------------------------------------------------------------

    async def refresh_due(self) -> int:
        """One refresher pass; returns how many serials it asked upstream about."""
        now = self._clock.now()
        due: list[Key] = []
        for key, entry in list(self._entries.items()):
            window = entry.policy.ocsp.refresh_window
            if entry.asked_at is None or now - entry.asked_at > window:
                if entry.answer is None or not sticky(entry.answer):
                    del self._entries[key]
                    self._announce(key[0], key[1], _Entry(entry.issuer, entry.policy))
                continue
            if key not in self._inflight and self._due(entry, now):
                due.append(key)
        tasks = [self._start(key) for key in due]
        if tasks:
            await asyncio.gather(*(asyncio.shield(t) for t in tasks))
        return len(due)

    async def probe_due(self, targets: Iterable[tuple[Issuer, Policy]]) -> int:
        """Probe each OCSP source with no verified exchange within its probe interval."""
        now = self._clock.now()
        probes: list[Awaitable[object]] = []
        for issuer, policy in targets:
            serial = self._recent_serial(issuer.name)
            probes.extend(
                self.upstream.probe(source, issuer, policy, serial)
                for source in issuer.sources
                if source.kind is SourceKind.OCSP and self._probe_due(source, policy, now)
            )
        await asyncio.gather(*probes)
        return len(probes)

    async def run(
        self,
        targets: Callable[[], Iterable[tuple[Issuer, Policy]]],
        *,
        tick: timedelta = TICK,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Refresh and probe every `tick`, until cancelled. `targets` is read each pass,
        so a reload takes effect without restarting this task."""
        while True:
            try:
                await self.refresh_due()
                await self.probe_due(targets())
            except Exception:  # our bug: say so, and keep the background work alive
                log.exception("upstream_background_failed")
            await sleep(tick.total_seconds())

    async def drain(self) -> None:
        """Wait for every upstream round in flight (background refreshes included)."""
        while self._inflight:
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)

    async def close(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- internals ----------------------------------------------------------------------

    def _start(self, key: Key) -> asyncio.Task[None]:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._round(key))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return task

    def _finished(self, key: Key, task: asyncio.Task[None]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("upstream_round_failed", issuer=key[0], error=repr(error))

    async def _round(self, key: Key) -> None:
        entry = self._entries[key]
        entry.attempted_at = self._clock.now()
        outcome = await self.upstream.ask(
            entry.issuer,
            entry.policy,
            key[1],
            entry.answer,
            hash_algorithm=entry.hash_algorithm,
        )
        if isinstance(outcome, Accepted):
            entry.failure = await self._accept(entry, outcome)
        else:
            entry.failure = outcome
        self._announce(key[0], key[1], entry)

    def _announce(self, issuer: str, serial: bytes, entry: _Entry) -> None:
        if self.on_held:
            held = Held(issuer, serial, entry.answer, entry.url, entry.failure)
            for listener in self.on_held:
                listener(held)

    async def _accept(self, entry: _Entry, accepted: Accepted) -> UpstreamFailure | None:
        new, old = accepted.answer, entry.answer
        if old is not None and old.status is CertStatus.REVOKED and new.status is not old.status:
            if not (old.is_hold and new.status is CertStatus.GOOD):
                self._event("ocsp_revoked_kept", entry, accepted, new)
                return None
            self._event("ocsp_hold_released", entry, accepted, new)
        if self.persist is not None:
            try:
                await self.persist(entry.issuer, new, accepted.url)
            except RevocdError as error:  # StoreError: not durable, so not served
                # the message names the file and the way out: no traceback wanted
                log.error(  # noqa: TRY400
                    "upstream_persist_failed", issuer=entry.issuer.name, error=str(error)
                )
                return UpstreamFailure(
                    FailureKind.UNREACHABLE, "store_error", str(error), accepted.url
                )
        entry.answer, entry.url = new, accepted.url
        for listener in self.on_accept:
            listener(entry.issuer, new, accepted.url)
        return None

    def _event(self, name: str, entry: _Entry, accepted: Accepted, new: UpstreamAnswer) -> None:
        source = Source(entry.issuer.partner, entry.issuer.name, SourceKind.OCSP, accepted.url)
        detail = f"upstream now says {new.status.value} for a serial it said was revoked"
        self.upstream.emit(UpstreamEvent(name, source, new.serial, None, detail))

    def _freshness(self, entry: _Entry, now: datetime) -> Freshness:
        answer = entry.answer
        return freshness(answer.next_update if answer else None, now, entry.policy.grace)

    def _result(self, entry: _Entry, now: datetime) -> UpstreamResult:
        return UpstreamResult(entry.answer, entry.url, self._freshness(entry, now), entry.failure)

    def _may_retry(self, entry: _Entry, now: datetime) -> bool:
        return (
            entry.failure is None
            or entry.attempted_at is None
            or now - entry.attempted_at >= RETRY_AFTER
        )

    def _due(self, entry: _Entry, now: datetime) -> bool:
        if entry.attempted_at is not None and now - entry.attempted_at < RETRY_AFTER:
            return False
        answer = entry.answer
        if answer is None:
            return True
        return not sticky(answer) and now >= refresh_at(answer)

    def _recent_serial(self, issuer: str) -> bytes | None:
        recent = [
            (entry.asked_at, key[1])
            for key, entry in self._entries.items()
            if key[0] == issuer and entry.asked_at is not None
        ]
        return max(recent)[1] if recent else None

    def _probe_due(self, source: Source, policy: Policy, now: datetime) -> bool:
        health = self.upstream.health.get(source)
        interval = policy.ocsp.probe_interval
        last = max(
            (t for t in (health.last_success, health.last_error_at) if t is not None),
            default=None,
        )
        return last is None or now - last >= interval


def sticky(answer: UpstreamAnswer) -> bool:
    """A revoked answer decides by itself, whatever its age (a hold may still be released)."""
    return answer.status is CertStatus.REVOKED and not answer.is_hold
