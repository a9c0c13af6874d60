"""The ordered answer rules of SPEC.md, as pure functions of (evidence, serial, now).

1. issuer not configured -> the caller's business (the cache raises `UnknownIssuer`);
2. serial listed in accepted evidence (the newest complete CRL, or the issuer's sticky
   set of revocations seen in any earlier CRL) -> revoked, with time and reason;
3. the issuer's CRL evidence is fresh or stale -> good;
4. otherwise unknown, with `source_expired` or `no_evidence`.

Revocation is sticky: an entry that a later CRL drops (typically because the
certificate expired) stays revoked, unless it was a certificateHold, which a newer
complete CRL releases by leaving it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from revocd.evidence import CrlMeta
from revocd.model import SourceKind
from revocd.revoked import Revocation, RevokedIndex
from revocd.status.freshness import Freshness, freshness


class CertStatus(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


class UnknownReason(StrEnum):
    SOURCE_EXPIRED = "source_expired"
    NO_EVIDENCE = "no_evidence"
    UPSTREAM_UNREACHABLE = "upstream_unreachable"
    UPSTREAM_UNKNOWN = "upstream_unknown"  # the partner's own responder said unknown
    UPSTREAM_REJECTED = "upstream_rejected"  # its response failed verification


@dataclass(frozen=True, slots=True)
class SourceRef:
    type: SourceKind
    url: str
    crl_number: int | None


@dataclass(frozen=True, slots=True)
class StickyRevocation:
    """A revocation seen in an accepted CRL that the newest CRL no longer lists."""

    revocation: Revocation
    source_url: str
    crl_number: int | None


@dataclass(frozen=True, slots=True)
class IssuerEvidence:
    """Everything the answer rules need about one issuer; swapped whole on new evidence."""

    issuer: str
    grace: timedelta
    crl: CrlMeta | None = None
    index: RevokedIndex = field(default_factory=RevokedIndex.empty)
    sticky: Mapping[bytes, StickyRevocation] = field(default_factory=dict)

    def freshness(self, now: datetime) -> Freshness:
        return freshness(self.crl.next_update if self.crl else None, now, self.grace)


@dataclass(frozen=True, slots=True)
class Answer:
    status: CertStatus
    issuer: str
    serial: bytes  # DER INTEGER content octets
    freshness: Freshness
    revoked_at: datetime | None = None
    reason: int | None = None
    this_update: datetime | None = None
    next_update: datetime | None = None
    unknown_reason: UnknownReason | None = None
    source: SourceRef | None = None


def decide(evidence: IssuerEvidence, serial: bytes, now: datetime) -> Answer:
    """Apply rules 2 to 4 for one serial of a configured issuer."""
    state = evidence.freshness(now)
    crl = evidence.crl
    base = Answer(
        CertStatus.UNKNOWN,
        evidence.issuer,
        serial,
        state,
        this_update=crl.this_update if crl else None,
        next_update=crl.next_update if crl else None,
        source=SourceRef(SourceKind.CRL, crl.source_url, crl.crl_number) if crl else None,
    )
    listed = evidence.index.lookup(serial) if crl else None
    if listed is not None:
        return replace(
            base, status=CertStatus.REVOKED, revoked_at=listed.revoked_at, reason=listed.reason
        )
    sticky = evidence.sticky.get(serial)
    if sticky is not None:
        return replace(
            base,
            status=CertStatus.REVOKED,
            revoked_at=sticky.revocation.revoked_at,
            reason=sticky.revocation.reason,
            source=SourceRef(SourceKind.CRL, sticky.source_url, sticky.crl_number),
        )
    if crl is not None and state.usable:
        return replace(base, status=CertStatus.GOOD)
    reason = UnknownReason.NO_EVIDENCE if crl is None else UnknownReason.SOURCE_EXPIRED
    return replace(base, unknown_reason=reason)
