"""The values that cross the upstream package's boundary: what a round produced, what the
cache knows about a serial, and what happened at a source. Pure data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from revocd.model import Source
from revocd.status.freshness import Freshness
from revocd.upstream.verify import UpstreamAnswer


class FailureKind(StrEnum):
    UNREACHABLE = "unreachable"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class UpstreamFailure:
    kind: FailureKind
    reason: str  # a RejectReason value or a FetchError kind: stable, for metrics
    detail: str
    url: str


@dataclass(frozen=True, slots=True)
class Accepted:
    answer: UpstreamAnswer
    url: str


Outcome = Accepted | UpstreamFailure


@dataclass(frozen=True, slots=True)
class UpstreamEvent:
    """What happened at one source. Names: `ocsp_accepted`, `ocsp_rejected`,
    `ocsp_unreachable`, `ocsp_revoked_kept` (a newer non-revoked answer did not replace
    a revoked one), `ocsp_hold_released`."""

    name: str
    source: Source
    serial: bytes | None
    reason: str | None = None
    detail: str = ""
    probe: bool = False


@dataclass(frozen=True, slots=True)
class UpstreamResult:
    """What the cache knows about one serial now: the answer in force (maybe stale or
    expired; a revoked one whatever its age), and the last round's failure, if it failed."""

    answer: UpstreamAnswer | None
    url: str | None  # the source that gave `answer`
    freshness: Freshness
    failure: UpstreamFailure | None


@dataclass(frozen=True, slots=True)
class Held:
    """What the upstream cache holds for one serial: the answer in force, its source, the
    last round's failure. The primary streams these to its replica processes."""

    issuer: str  # issuer name
    serial: bytes
    answer: UpstreamAnswer | None
    url: str | None
    failure: UpstreamFailure | None
