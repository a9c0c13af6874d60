"""One poll of one CRL source: fetch -> verify (off the loop) -> history -> persist -> serve.

The order is the product's promise: nothing is served before it is persisted, and a
rejected CRL changes nothing but the source's error state. Each issuer has a lock, so two
mirrors of one issuer are accepted one after the other and the sticky set is computed
against the issuer's true newest CRL.

CPU-heavy steps (verifying and indexing a CRL, diffing two big CRLs, hashing the body)
run in an executor, normally a process pool, so serving never stalls while a big CRL
is ingested.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.hazmat.primitives import serialization

from revocd.clock import Clock
from revocd.errors import FetchError, Rejected
from revocd.events import Events
from revocd.evidence import CrlEvidence, CrlMeta, RejectReason
from revocd.fetch.crl import fetch_crl
from revocd.fetch.transport import Transport
from revocd.model import Issuer, Partner, Source
from revocd.poll.verifier import CrlVerifier
from revocd.revoked import Revocation, RevokedIndex
from revocd.status.answer import IssuerEvidence, StickyRevocation
from revocd.status.board import SourceBoard
from revocd.status.cache import StatusCache
from revocd.store.base import Store, Validators
from revocd.verify.crl import CrlCheckContext
from revocd.verify.history import check_history


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PollResult:
    outcome: Outcome
    detail: str = ""
    reason: str | None = None  # RejectReason value or FetchError kind
    meta: CrlMeta | None = None


@dataclass
class IssuerRuntime:
    """The poller's working copy of one issuer's accepted evidence (mirrors the store)."""

    issuer: Issuer
    partner: Partner
    newest: CrlMeta | None = None
    index: RevokedIndex = field(default_factory=RevokedIndex.empty)
    sticky: dict[bytes, StickyRevocation] = field(default_factory=dict)
    last: dict[str, CrlMeta] = field(default_factory=dict)  # per source id
    validators: dict[str, Validators] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def evidence(self) -> IssuerEvidence:
        return IssuerEvidence(
            self.issuer.name, self.partner.policy.grace, self.newest, self.index, dict(self.sticky)
        )


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class Ingestor:
    def __init__(
        self,
        *,
        store: Store,
        cache: StatusCache,
        board: SourceBoard,
        transport: Transport,
        events: Events,
        clock: Clock,
        executor: Executor | None,
        runtimes: Mapping[str, IssuerRuntime],
        workers: int = 2,
    ) -> None:
        self._store = store
        self._cache = cache
        self._board = board
        self._transport = transport
        self._events = events
        self._clock = clock
        self._executor = executor
        self._verifier = CrlVerifier(executor, workers)
        self._runtimes = runtimes

    def runtime(self, source: Source) -> IssuerRuntime:
        return self._runtimes[source.issuer]

    async def poll(self, source: Source) -> PollResult:
        """One complete attempt for one source; never raises for partner misbehaviour."""
        runtime = self.runtime(source)
        policy = runtime.partner.policy
        started = time.monotonic()
        try:
            fetched = await fetch_crl(
                self._transport, source, policy, runtime.validators.get(source.id)
            )
        except FetchError as error:
            if error.kind == "oversize":
                return await self._rejected(source, Rejected(RejectReason.OVERSIZE, error.detail))
            return await self._failed(source, error.kind, f"{source.describe()}: {error.detail}")
        timings = {"fetch": time.monotonic() - started}
        if fetched.body is None:
            return await self._unchanged(source)
        body = fetched.body
        last = runtime.last.get(source.id)
        if last is not None and await asyncio.to_thread(_sha256, body) == last.der_sha256:
            return await self._unchanged(source)
        ctx = CrlCheckContext(
            issuer_cert_der=runtime.issuer.cert.public_bytes(serialization.Encoding.DER),
            issuer_name=runtime.issuer.name,
            source_url=source.url,
            configured_urls=runtime.issuer.crl_urls,
            now=self._clock.now(),
            clock_skew=policy.clock_skew,
            max_crl_bytes=policy.max_crl_bytes,
        )
        mark = time.monotonic()
        try:
            evidence = await self._verifier.verify(body, ctx)
        except Rejected as rejected:
            return await self._rejected(source, rejected)
        timings["verify"] = time.monotonic() - mark
        async with runtime.lock:
            try:
                return await self._accept(
                    source, runtime, evidence, fetched.validators, started, timings
                )
            except Rejected as rejected:
                return await self._rejected(source, rejected)

    async def _accept(
        self,
        source: Source,
        runtime: IssuerRuntime,
        evidence: CrlEvidence,
        validators: Validators,
        started: float,
        timings: dict[str, float],
    ) -> PollResult:
        meta = evidence.meta
        verdict = check_history(
            meta, runtime.last.get(source.id), runtime.newest, source.describe()
        )
        if verdict.identical:
            runtime.validators[source.id] = validators
            return await self._unchanged(source)
        becomes_newest = verdict.becomes_newest
        older, newer = (
            (runtime.index, evidence.index) if becomes_newest else (evidence.index, runtime.index)
        )
        additions: list[Revocation] = []
        if runtime.newest is not None and len(older):
            additions = await self._verifier.sticky_additions(older, newer)
        lister = runtime.newest if becomes_newest else meta  # the older CRL, which listed them
        sticky = [
            StickyRevocation(r, lister.source_url, lister.crl_number)
            for r in additions
            if lister is not None and r.serial not in runtime.sticky
        ]
        mark = time.monotonic()
        await self._store.accept_crl(runtime.issuer.key.id, source.id, evidence, validators, sticky)
        timings["persist"] = time.monotonic() - mark
        # persisted: now it may be served
        runtime.last[source.id] = meta
        runtime.validators[source.id] = validators
        for item in sticky:
            runtime.sticky[item.revocation.serial] = item
        if becomes_newest:
            runtime.newest = meta
            runtime.index = evidence.index
        self._cache.install(runtime.evidence())
        now = self._clock.now()
        self._board.update(
            source, meta=meta, last_success=now, failing=False, last_reject_reason=None
        )
        self._refresh_behind(runtime)
        self._events.crl_accepted(
            source,
            meta,
            behind=not becomes_newest,
            seconds=time.monotonic() - started,
            timings=timings,
        )
        return PollResult(Outcome.ACCEPTED, meta=meta)

    def _refresh_behind(self, runtime: IssuerRuntime) -> None:
        newest = runtime.newest
        for src in runtime.issuer.sources:
            last = runtime.last.get(src.id)
            behind = bool(newest and last and newest.is_newer_than(last))
            if self._board.get(src).behind != behind:
                self._board.update(src, behind=behind)

    async def _unchanged(self, source: Source) -> PollResult:
        now = self._clock.now()
        await self._store.record_success(source.id, now)
        self._board.update(source, last_success=now, failing=False, last_reject_reason=None)
        self._events.crl_unchanged(source)
        return PollResult(Outcome.UNCHANGED)

    async def _rejected(self, source: Source, rejected: Rejected) -> PollResult:
        detail = f"{source.describe()}: {rejected.detail}"
        await self._record_problem(source, detail, rejected.reason.value)
        self._events.crl_rejected(source, rejected.reason.value, detail)
        return PollResult(Outcome.REJECTED, detail, rejected.reason.value)

    async def _failed(self, source: Source, kind: str, detail: str) -> PollResult:
        await self._record_problem(source, detail, kind)
        self._events.fetch_failed(source, kind, detail)
        return PollResult(Outcome.FAILED, detail, kind)

    async def _record_problem(self, source: Source, detail: str, reason: str) -> None:
        now = self._clock.now()
        await self._store.record_failure(source.id, now, detail)
        self._board.update(
            source, failing=True, last_error=detail, last_error_at=now, last_reject_reason=reason
        )
