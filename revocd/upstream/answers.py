"""One answer for (issuer, serial) from every kind of evidence: CRLs and upstream OCSP.

The seam the JSON API and the OCSP responder share, so they cannot disagree. Per query:

1. `decide()` on the issuer's CRL evidence (status/answer.py);
2. when it cannot decide (`needs_upstream`: an OCSP-only issuer, or every CRL expired),
   or the issuer relays upstream responses (`signing = "passthrough"`), the upstream
   cache's `lookup` (which may wait for the partner's responder); otherwise only what the
   upstream cache already holds (`peek`: a cached upstream revoked still wins);
3. `combine()`: revoked in any evidence wins; a CRL revoked while upstream says good is
   answered revoked and reported once per (issuer, serial) to `on_conflict`.

The upstream side is an `UpstreamLookup`: the primary's `UpstreamCache` (upstream/cache.py),
or in a replica process its `UpstreamCopy` (upstream/copy.py), which answers from a copy
of the primary's answers and asks the primary for the rest. Issuers without `ocsp` URLs,
and a daemon whose upstream cache is not running (before start-up, during shutdown),
answer from the CRL evidence alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from revocd.model import Issuer, Policy, SigningMode
from revocd.status.answer import Answer, IssuerEvidence
from revocd.status.cache import StatusCache
from revocd.upstream.combine import ConflictLog, combine, needs_upstream
from revocd.upstream.health import HealthBoard
from revocd.upstream.outcome import UpstreamResult
from revocd.upstream.verify import UpstreamAnswer


class UpstreamLookup(Protocol):
    """What answering needs of upstream OCSP; see UpstreamCache for the semantics."""

    @property
    def health(self) -> HealthBoard: ...

    def peek(self, issuer: str, serial: bytes) -> UpstreamResult | None: ...

    def current(self, issuer: str, serial: bytes) -> UpstreamAnswer | None: ...

    async def lookup(
        self,
        issuer: Issuer,
        policy: Policy,
        serial: bytes,
        *,
        hash_algorithm: str | None = None,
    ) -> UpstreamResult: ...


@dataclass(frozen=True, slots=True)
class Decided:
    """An answer and the evidence objects it was decided from: a pre-signed response is
    valid exactly while both are still the ones in force (compared with `is`)."""

    answer: Answer
    evidence: IssuerEvidence
    upstream: UpstreamAnswer | None  # the upstream answer in force (decisive or not)
    upstream_url: str | None = None


class Answers:
    def __init__(
        self,
        cache: StatusCache,
        policies: Mapping[str, Policy],
        upstream: UpstreamLookup | None = None,
    ) -> None:
        self.cache = cache
        self._policies = policies  # by issuer name
        self.upstream = upstream  # set and cleared by the daemon's lifetime
        self.conflicts = ConflictLog()
        self.on_conflict: list[Callable[[Issuer, Answer, UpstreamResult], None]] = []

    @property
    def health(self) -> HealthBoard | None:
        return self.upstream.health if self.upstream is not None else None

    def upstream_answer(self, issuer: Issuer, serial: bytes) -> UpstreamAnswer | None:
        """The upstream answer in force for the serial, without asking (cheap)."""
        if self.upstream is None or not issuer.ocsp_urls:
            return None
        return self.upstream.current(issuer.name, serial)

    async def answer(self, issuer: Issuer, serial: bytes, now: datetime) -> Answer:
        return (await self.decide(issuer, serial, now)).answer

    def settled(self, issuer: Issuer, serial: bytes, now: datetime) -> Decided | None:
        """The decision when it needs no upstream round trip; None: `decide` must ask."""
        evidence = self.cache.evidence(issuer.name)
        crl_answer = self.cache.answer(issuer, serial, now)
        upstream = self.upstream
        if upstream is None or not issuer.ocsp_urls:
            return Decided(crl_answer, evidence, None)
        if needs_upstream(crl_answer) or issuer.signing is SigningMode.PASSTHROUGH:
            return None
        return self._combined(issuer, crl_answer, evidence, upstream.peek(issuer.name, serial))

    async def decide(
        self,
        issuer: Issuer,
        serial: bytes,
        now: datetime,
        *,
        hash_algorithm: str | None = None,
    ) -> Decided:
        """`hash_algorithm`: the relying party's CertID hash, for pass-through issuers."""
        quick = self.settled(issuer, serial, now)
        if quick is not None:
            return quick
        upstream = self.upstream
        assert upstream is not None
        passthrough = issuer.signing is SigningMode.PASSTHROUGH
        result = await upstream.lookup(
            issuer,
            self._policies[issuer.name],
            serial,
            hash_algorithm=hash_algorithm if passthrough else None,
        )
        # decide on the CRL evidence in force now (it may have changed while we waited),
        # so the evidence identity and the answer agree
        evidence = self.cache.evidence(issuer.name)
        crl_answer = self.cache.answer(issuer, serial, now)
        return self._combined(issuer, crl_answer, evidence, result)

    def _combined(
        self,
        issuer: Issuer,
        crl_answer: Answer,
        evidence: IssuerEvidence,
        result: UpstreamResult | None,
    ) -> Decided:
        combined = combine(crl_answer, result)
        if (
            combined.conflict
            and result is not None
            and self.conflicts.first(issuer.name, crl_answer.serial)
        ):
            for listener in self.on_conflict:
                listener(issuer, combined.answer, result)
        if result is None:
            return Decided(combined.answer, evidence, None)
        return Decided(combined.answer, evidence, result.answer, result.url)
