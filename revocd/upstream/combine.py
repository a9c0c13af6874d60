"""CRL answer + upstream OCSP result -> one Answer, by SPEC.md's ordered rules. Pure.

1. revoked in any accepted evidence wins: the CRL's (newest or sticky), else the
   upstream's, whatever its freshness (revocation is sticky). A CRL saying revoked while
   the upstream says good is an `evidence_conflict`: answered revoked, flagged for the
   caller to log once (`ConflictLog`);
2. the CRL evidence decides good when it is fresh or stale (decide() already said so);
3. a fresh or stale upstream `good` -> good, with the upstream's times and freshness;
4. otherwise unknown, with the most specific reason: the last upstream round failed
   (`upstream_unreachable`, `upstream_rejected`), else the partner said unknown
   (`upstream_unknown`), else an old upstream answer expired (`source_expired`), else the
   CRL's own reason.

`needs_upstream` says when asking upstream is worth it: only when the CRL evidence
cannot decide (OCSP-only issuers, or every CRL expired).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from revocd.model import SourceKind
from revocd.status.answer import Answer, CertStatus, SourceRef, UnknownReason
from revocd.upstream.outcome import FailureKind, UpstreamResult

_FAILURE_REASON = {
    FailureKind.UNREACHABLE: UnknownReason.UPSTREAM_UNREACHABLE,
    FailureKind.REJECTED: UnknownReason.UPSTREAM_REJECTED,
}


@dataclass(frozen=True, slots=True)
class Combined:
    answer: Answer
    conflict: bool = False  # CRL revoked, upstream good: log `evidence_conflict` once


def needs_upstream(crl_answer: Answer) -> bool:
    return crl_answer.status is CertStatus.UNKNOWN


def combine(crl_answer: Answer, upstream: UpstreamResult | None) -> Combined:
    """`crl_answer` is `decide()`'s; `upstream` what the upstream cache knows (or None)."""
    answer = upstream.answer if upstream is not None else None
    if crl_answer.status is CertStatus.REVOKED:
        conflict = answer is not None and answer.status is CertStatus.GOOD
        return Combined(crl_answer, conflict)
    if upstream is None or answer is None:
        if upstream is not None and upstream.failure is not None and needs_upstream(crl_answer):
            reason = _FAILURE_REASON[upstream.failure.kind]
            return Combined(replace(crl_answer, unknown_reason=reason))
        return Combined(crl_answer)
    from_upstream = replace(
        crl_answer,
        freshness=upstream.freshness,
        this_update=answer.this_update,
        next_update=answer.next_update,
        source=SourceRef(SourceKind.OCSP, upstream.url or "", None),
        unknown_reason=None,
    )
    if answer.status is CertStatus.REVOKED:
        return Combined(
            replace(
                from_upstream,
                status=CertStatus.REVOKED,
                revoked_at=answer.revoked_at,
                reason=answer.reason,
            )
        )
    if crl_answer.status is CertStatus.GOOD:
        return Combined(crl_answer)
    usable = upstream.freshness.usable
    if answer.status is CertStatus.GOOD and usable:
        return Combined(replace(from_upstream, status=CertStatus.GOOD))
    if upstream.failure is not None:
        reason = _FAILURE_REASON[upstream.failure.kind]
    elif answer.status is CertStatus.UNKNOWN and usable:
        reason = UnknownReason.UPSTREAM_UNKNOWN
    else:
        reason = UnknownReason.SOURCE_EXPIRED
    if not usable:
        # an expired upstream answer decides nothing: report the CRL's view of the times
        return Combined(replace(crl_answer, unknown_reason=reason))
    return Combined(replace(from_upstream, status=CertStatus.UNKNOWN, unknown_reason=reason))


@dataclass
class ConflictLog:
    """Remembers which (issuer, serial) conflicts were already logged, so each is logged
    once per process. Bounded: past `limit` entries it forgets the oldest."""

    limit: int = 100_000
    _seen: dict[tuple[str, bytes], None] = field(default_factory=dict)

    def first(self, issuer: str, serial: bytes) -> bool:
        key = (issuer, serial)
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self.limit:
            del self._seen[next(iter(self._seen))]
        return True
