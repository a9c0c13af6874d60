"""A replica process's read-only copy of the primary's upstream answers (revocd/replicas.py).

`Answers` sees the same interface as the primary's `UpstreamCache` (`UpstreamLookup`),
and the copy answers exactly what the primary would:

* `install` takes what the primary holds for a serial (`Held`: answer, its source, the
  last round's failure), streamed after every round, restore, and when the primary
  forgets a serial no process asked within `ocsp_refresh_window`. The answer object is
  replaced only when its value changed, so a replica's pre-signed OCSP responses (checked
  against that object by identity) are invalidated exactly when the primary's are.
* `peek` and `current` read the copy.
* `lookup` answers from the copy when the primary would answer from its cache without
  asking anyone: a fresh answer, or a revoked one (sticky), held for the CertID hash
  asked. Otherwise (a cold serial, a stale or expired answer, another hash) it asks the
  primary, which runs its own coalesced `UpstreamCache.lookup`: concurrent asks from
  every process make one upstream round. Concurrent asks in one replica share one ask.
  The primary sends the new state before its reply on the same pipe, so the reply is
  answered with the object just installed.
* It never asks a partner. With no reply within the issuer's `ocsp_timeout` per URL plus
  `PRIMARY_SLACK`, the answer is what the primary gives when the partner does not
  answer: what is held, with an `unreachable` failure (`upstream_unreachable` unknown).

Serials answered from the copy are collected (`take_asked`) and reported to the primary,
whose refresher keeps them warm as if it had been asked itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from revocd.clock import Clock
from revocd.model import Issuer, Policy
from revocd.replies import Replies
from revocd.status.freshness import Freshness, freshness
from revocd.upstream.cache import Key, sticky
from revocd.upstream.health import HealthBoard
from revocd.upstream.outcome import FailureKind, Held, UpstreamFailure, UpstreamResult
from revocd.upstream.verify import UpstreamAnswer

PRIMARY_SLACK = 1.0  # seconds the primary gets on top of the upstream round itself

# (number, issuer name, serial, CertID hash or None): send one ask to the primary
Ask = Callable[[int, str, bytes, str | None], None]


class UpstreamCopy:
    """A replica's `UpstreamLookup`: the primary's answers, and asks of the primary."""

    def __init__(
        self, policies: Mapping[str, Policy], health: HealthBoard, clock: Clock, ask: Ask
    ) -> None:
        self._policies = policies  # by issuer name
        self._health = health
        self._clock = clock
        self._ask = ask
        self._held: dict[Key, Held] = {}
        self._replies: Replies[UpstreamResult | None] = Replies()
        self._inflight: dict[tuple[str, bytes, str | None], asyncio.Task[UpstreamResult]] = {}
        self._asked: set[Key] = set()

    @property
    def health(self) -> HealthBoard:
        return self._health

    # --- from the primary ---------------------------------------------------------------

    def install(self, held: Held) -> None:
        """What the primary holds now for a serial (nothing at all: it forgot it)."""
        key = (held.issuer, held.serial)
        if held.answer is None and held.failure is None:
            self._held.pop(key, None)
            return
        before = self._held.get(key)
        if before is not None and before.answer is not None and before.answer == held.answer:
            held = replace(held, answer=before.answer)  # same answer: same object
        self._held[key] = held

    def resolve(self, number: int, result: UpstreamResult | None) -> None:
        """The primary's reply to ask `number` (None: it could not look it up)."""
        self._replies.resolve(number, result)

    def take_asked(self) -> list[Key]:
        """The serials answered from the copy since the last call."""
        asked = list(self._asked)
        self._asked.clear()
        return asked

    # --- the relying party's path -------------------------------------------------------

    def peek(self, issuer: str, serial: bytes) -> UpstreamResult | None:
        held = self._held.get((issuer, serial))
        policy = self._policies.get(issuer)
        if held is None or policy is None:
            return None
        return _result(held, self._clock.now(), policy.grace)

    def current(self, issuer: str, serial: bytes) -> UpstreamAnswer | None:
        held = self._held.get((issuer, serial))
        return held.answer if held is not None else None

    async def lookup(
        self,
        issuer: Issuer,
        policy: Policy,
        serial: bytes,
        *,
        hash_algorithm: str | None = None,
    ) -> UpstreamResult:
        key = (issuer.name, serial)
        held = self._held.get(key)
        answer = held.answer if held is not None else None
        if held is not None and answer is not None:
            now = self._clock.now()
            same_hash = hash_algorithm in (None, answer.hash_algorithm)
            fresh = freshness(answer.next_update, now, policy.grace) is Freshness.FRESH
            if sticky(answer) or (fresh and same_hash):
                self._asked.add(key)
                return _result(held, now, policy.grace)
        flight = (issuer.name, serial, hash_algorithm)
        task = self._inflight.get(flight)
        if task is None:
            task = asyncio.get_running_loop().create_task(
                self._ask_primary(issuer, policy, serial, hash_algorithm)
            )
            self._inflight[flight] = task
            task.add_done_callback(lambda _: self._inflight.pop(flight, None))
        return await asyncio.shield(task)

    async def _ask_primary(
        self, issuer: Issuer, policy: Policy, serial: bytes, hash_algorithm: str | None
    ) -> UpstreamResult:
        patience = (
            policy.ocsp.timeout.total_seconds() * max(1, len(issuer.ocsp_urls)) + PRIMARY_SLACK
        )
        try:
            result = await self._replies.ask(
                lambda number: self._ask(number, issuer.name, serial, hash_algorithm), patience
            )
        except TimeoutError:
            result = None
        held = self._held.get((issuer.name, serial))
        if result is None:
            return self._unreachable(issuer, policy, held, patience)
        if held is not None and result.answer is not None and held.answer == result.answer:
            result = replace(result, answer=held.answer)  # the object pre-signing checks
        return result

    def _unreachable(
        self, issuer: Issuer, policy: Policy, held: Held | None, patience: float
    ) -> UpstreamResult:
        url = issuer.ocsp_urls[0] if issuer.ocsp_urls else ""
        failure = UpstreamFailure(
            FailureKind.UNREACHABLE,
            "timeout",
            f"the main process did not answer within {patience:g}s",
            url,
        )
        now = self._clock.now()
        if held is None:
            return UpstreamResult(None, None, freshness(None, now, policy.grace), failure)
        return replace(_result(held, now, policy.grace), failure=failure)


def _result(held: Held, now: datetime, grace: timedelta) -> UpstreamResult:
    answer = held.answer
    state = freshness(answer.next_update if answer is not None else None, now, grace)
    return UpstreamResult(answer, held.url, state, held.failure)
