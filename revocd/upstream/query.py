"""One upstream round for (issuer, serial): fetch, verify, report. Holds no answers.

What it decides:

* Failover: the issuer's OCSP URLs are tried in configured order, healthy (or never
  tried) sources first; the first verified answer wins, `unknown` included (the partner
  said it; another URL of the same partner would say the same).
* Concurrency: at most `ocsp_concurrency` exchanges in flight per source; the others
  wait for a slot (their wait counts against nothing but the caller's patience: the
  timeout starts once the exchange does).
* Classification: a `FetchError` (timeout, connection refused, HTTP 500...) and the
  responder's own `tryLater` / `internalError` make a source *unreachable*; a response
  that arrives but fails verification (or is `unauthorized`, `malformedRequest`,
  `sigRequired`, or over `max_ocsp_bytes`) is *rejected*. When every source fails, the
  round is rejected if any source was, else unreachable: a misbehaving responder is
  the more useful thing to tell an operator.

Every exchange is one `UpstreamEvent` and one health report.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from revocd.clock import Clock
from revocd.errors import FetchError, Rejected
from revocd.evidence import RejectReason
from revocd.model import Issuer, Policy, Source, SourceKind
from revocd.serials import content_from_int
from revocd.upstream.client import OcspClient, build_request, new_nonce
from revocd.upstream.health import Health, HealthBoard
from revocd.upstream.outcome import (
    Accepted,
    FailureKind,
    Outcome,
    UpstreamEvent,
    UpstreamFailure,
)
from revocd.upstream.verify import UpstreamAnswer, verify_upstream

# The responder itself says it cannot answer now: the same as not reaching it.
_UNAVAILABLE = frozenset({RejectReason.TRY_LATER, RejectReason.INTERNAL_ERROR})
# A FetchError kind that means "it answered, but with something we refuse".
_REFUSED_KINDS = frozenset({"oversize"})


class Upstream:
    """Asks upstream responders; one instance serves every issuer."""

    def __init__(
        self,
        client: OcspClient,
        health: HealthBoard,
        clock: Clock,
        *,
        nonce: Callable[[], bytes] = new_nonce,
        hash_algorithm: str = "sha1",
    ) -> None:
        self._client = client
        self.health = health
        self._clock = clock
        self._nonce = nonce
        self._hash_algorithm = hash_algorithm
        self._slots: dict[str, tuple[int, asyncio.Semaphore]] = {}
        self.listeners: list[Callable[[UpstreamEvent], None]] = []

    def emit(self, event: UpstreamEvent) -> None:
        for listener in self.listeners:
            listener(event)

    def order(self, issuer: Issuer) -> list[Source]:
        """The issuer's OCSP sources, healthy or untried first, else in configured order."""
        sources = [s for s in issuer.sources if s.kind is SourceKind.OCSP]
        return sorted(sources, key=lambda s: self.health.get(s).state is Health.FAILING)

    async def ask(
        self,
        issuer: Issuer,
        policy: Policy,
        serial: bytes,
        previous: UpstreamAnswer | None = None,
        *,
        hash_algorithm: str | None = None,
    ) -> Outcome:
        """`hash_algorithm`: of the CertID to send (default: the instance's, SHA-1); a
        pass-through issuer asks with the relying party's, so the bytes can be relayed."""
        failures: list[UpstreamFailure] = []
        for source in self.order(issuer):
            outcome = await self.ask_source(
                source, issuer, policy, serial, previous, hash_algorithm=hash_algorithm
            )
            if isinstance(outcome, Accepted):
                return outcome
            failures.append(outcome)
        if not failures:
            return UpstreamFailure(
                FailureKind.UNREACHABLE, "no_source", "the issuer has no ocsp URLs", ""
            )
        rejected = [f for f in failures if f.kind is FailureKind.REJECTED]
        return rejected[0] if rejected else failures[0]

    async def ask_source(
        self,
        source: Source,
        issuer: Issuer,
        policy: Policy,
        serial: bytes,
        previous: UpstreamAnswer | None = None,
        *,
        probe: bool = False,
        hash_algorithm: str | None = None,
    ) -> Outcome:
        settings = policy.ocsp
        request = build_request(
            issuer.cert,
            serial,
            nonce=self._nonce() if settings.nonce else None,
            hash_algorithm=hash_algorithm or self._hash_algorithm,
        )
        try:
            async with self._slot(source, settings.concurrency):
                body = await self._client.send(
                    source.url,
                    request.der,
                    timeout=settings.timeout,
                    max_bytes=settings.max_bytes,
                )
            answer = verify_upstream(
                body,
                issuer=issuer.cert,
                asked=request.asked,
                now=self._clock.now(),
                clock_skew=policy.clock_skew,
                default_validity=settings.default_validity,
                previous=previous,
            )
        except FetchError as error:
            kind = FailureKind.REJECTED if error.kind in _REFUSED_KINDS else FailureKind.UNREACHABLE
            return self._failed(
                source, serial, UpstreamFailure(kind, error.kind, error.detail, source.url), probe
            )
        except Rejected as rejected:
            kind = (
                FailureKind.UNREACHABLE if rejected.reason in _UNAVAILABLE else FailureKind.REJECTED
            )
            failure = UpstreamFailure(kind, rejected.reason.value, rejected.detail, source.url)
            return self._failed(source, serial, failure, probe)
        self.health.success(source, self._clock.now())
        self.emit(UpstreamEvent("ocsp_accepted", source, serial, probe=probe))
        return Accepted(answer, source.url)

    async def probe(
        self, source: Source, issuer: Issuer, policy: Policy, serial: bytes | None = None
    ) -> Outcome:
        """Ask `source` about `serial` (default: a random one) only to learn its health."""
        if serial is None:
            serial = content_from_int(int.from_bytes(os.urandom(16), "big") >> 1 or 1)
        return await self.ask_source(source, issuer, policy, serial, probe=True)

    def _failed(
        self, source: Source, serial: bytes, failure: UpstreamFailure, probe: bool
    ) -> UpstreamFailure:
        self.health.failure(source, self._clock.now(), failure.reason, failure.detail)
        name = "ocsp_rejected" if failure.kind is FailureKind.REJECTED else "ocsp_unreachable"
        self.emit(UpstreamEvent(name, source, serial, failure.reason, failure.detail, probe))
        return failure

    def _slot(self, source: Source, concurrency: int) -> asyncio.Semaphore:
        held = self._slots.get(source.id)
        if held is None or held[0] != concurrency:  # new source, or a reload changed it
            held = (concurrency, asyncio.Semaphore(concurrency))
            self._slots[source.id] = held
        return held[1]
