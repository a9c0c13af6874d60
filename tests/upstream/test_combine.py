"""combine(): revoked in any accepted evidence wins; CRL-revoked vs upstream-good is a
conflict answered revoked; unknown says why, upstream's reasons included."""

from __future__ import annotations

from datetime import timedelta

import pytest

from revocd.model import SourceKind
from revocd.status.answer import Answer, CertStatus, SourceRef, UnknownReason
from revocd.status.freshness import Freshness
from revocd.upstream.combine import ConflictLog, combine, needs_upstream
from revocd.upstream.outcome import FailureKind, UpstreamFailure, UpstreamResult
from revocd.upstream.verify import UpstreamAnswer
from tests.upstream.conftest import NOW

SERIAL = b"\x10"
URL = "http://ocsp.partner.example/"
CRL = SourceRef(SourceKind.CRL, "http://pki.partner.example/x.crl", 7)


def crl(status: CertStatus, reason: UnknownReason | None = None) -> Answer:
    fresh = Freshness.FRESH if status is not CertStatus.UNKNOWN else Freshness.EXPIRED
    return Answer(
        status,
        "partner-issuing",
        SERIAL,
        fresh,
        revoked_at=NOW - timedelta(days=5) if status is CertStatus.REVOKED else None,
        reason=1 if status is CertStatus.REVOKED else None,
        this_update=NOW - timedelta(days=2),
        next_update=NOW - timedelta(days=1),
        unknown_reason=reason,
        source=CRL,
    )


def upstream(
    status: CertStatus | None,
    freshness: Freshness = Freshness.FRESH,
    failure: FailureKind | None = None,
) -> UpstreamResult:
    answer = None
    if status is not None:
        answer = UpstreamAnswer(
            status,
            SERIAL,
            NOW - timedelta(minutes=1),
            NOW + timedelta(hours=1),
            NOW - timedelta(minutes=1),
            NOW - timedelta(days=3) if status is CertStatus.REVOKED else None,
            4 if status is CertStatus.REVOKED else None,
            True,
            False,
            False,
            b"der",
        )
    fail = UpstreamFailure(failure, "x", "detail", URL) if failure else None
    return UpstreamResult(answer, URL if answer else None, freshness, fail)


NO_CRL = crl(CertStatus.UNKNOWN, UnknownReason.NO_EVIDENCE)
EXPIRED_CRL = crl(CertStatus.UNKNOWN, UnknownReason.SOURCE_EXPIRED)
G, R, U = CertStatus.GOOD, CertStatus.REVOKED, CertStatus.UNKNOWN


@pytest.mark.parametrize(
    ("crl_answer", "up", "status", "reason", "source"),
    [
        (NO_CRL, None, U, UnknownReason.NO_EVIDENCE, SourceKind.CRL),
        (NO_CRL, upstream(G), G, None, SourceKind.OCSP),
        (EXPIRED_CRL, upstream(G, Freshness.STALE), G, None, SourceKind.OCSP),
        (NO_CRL, upstream(R, Freshness.EXPIRED), R, None, SourceKind.OCSP),
        (crl(G), upstream(R), R, None, SourceKind.OCSP),
        (crl(G), upstream(U), G, None, SourceKind.CRL),
        (NO_CRL, upstream(U), U, UnknownReason.UPSTREAM_UNKNOWN, SourceKind.OCSP),
        (NO_CRL, upstream(None, Freshness.NONE, FailureKind.UNREACHABLE), U,
         UnknownReason.UPSTREAM_UNREACHABLE, SourceKind.CRL),
        (EXPIRED_CRL, upstream(None, Freshness.NONE, FailureKind.REJECTED), U,
         UnknownReason.UPSTREAM_REJECTED, SourceKind.CRL),
        (NO_CRL, upstream(G, Freshness.EXPIRED), U, UnknownReason.SOURCE_EXPIRED, SourceKind.CRL),
        (NO_CRL, upstream(G, Freshness.EXPIRED, FailureKind.REJECTED), U,
         UnknownReason.UPSTREAM_REJECTED, SourceKind.CRL),
        (NO_CRL, upstream(G, Freshness.STALE, FailureKind.UNREACHABLE), G, None, SourceKind.OCSP),
    ],
    ids=[
        "nothing-at-all",
        "ocsp-only-good",
        "crl-expired-upstream-stale-good",
        "upstream-revoked-however-old",
        "upstream-revoked-beats-crl-good",
        "crl-good-beats-upstream-unknown",
        "partner-said-unknown",
        "unreachable",
        "rejected",
        "upstream-good-expired",
        "expired-and-last-round-rejected",
        "stale-good-served-while-upstream-down",
    ],
)  # fmt: skip
def test_rules(
    crl_answer: Answer,
    up: UpstreamResult | None,
    status: CertStatus,
    reason: UnknownReason | None,
    source: SourceKind,
) -> None:
    combined = combine(crl_answer, up)
    assert not combined.conflict
    answer = combined.answer
    assert (answer.status, answer.unknown_reason) == (status, reason)
    assert answer.source is not None
    assert answer.source.type is source
    if source is SourceKind.OCSP:
        assert up is not None
        assert up.answer is not None
        assert answer.source.url == URL
        assert answer.source.crl_number is None
        assert (answer.this_update, answer.next_update) == (
            up.answer.this_update,
            up.answer.next_update,
        )
        assert answer.freshness is up.freshness
    if status is R and source is SourceKind.OCSP:
        assert (answer.revoked_at, answer.reason) == (NOW - timedelta(days=3), 4)


def test_crl_revoked_upstream_good_is_a_conflict_answered_revoked() -> None:
    combined = combine(crl(R), upstream(G))
    assert combined.conflict
    assert combined.answer == crl(R)
    assert not combine(crl(R), upstream(R)).conflict
    assert not combine(crl(R), None).conflict


def test_conflicts_are_logged_once() -> None:
    log = ConflictLog(limit=2)
    assert log.first("a", b"\x01")
    assert not log.first("a", b"\x01")
    assert log.first("a", b"\x02")
    assert log.first("a", b"\x03")  # forgets the oldest past the limit
    assert log.first("a", b"\x01")


def test_upstream_is_asked_only_when_crls_cannot_decide() -> None:
    assert needs_upstream(NO_CRL)
    assert needs_upstream(EXPIRED_CRL)
    assert not needs_upstream(crl(G))
    assert not needs_upstream(crl(R))
