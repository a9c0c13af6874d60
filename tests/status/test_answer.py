"""SPEC.md's ordered answer rules for one issuer, with an injected time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from revocd.evidence import CrlMeta, RevocationReason
from revocd.model import SourceKind
from revocd.revoked import NO_REASON, Revocation, RevokedIndex, epoch_seconds
from revocd.serials import content_from_int
from revocd.status.answer import (
    CertStatus,
    IssuerEvidence,
    SourceRef,
    StickyRevocation,
    UnknownReason,
    decide,
)
from revocd.status.freshness import Freshness
from tests.support.pki import T0

URL = "http://pki.example/issuing.crl"
GRACE = timedelta(hours=1)
THIS = T0
NEXT = T0 + timedelta(days=1)
REVOKED_AT = T0 - timedelta(days=2)

REVOKED = content_from_int(0x1001)
HELD = content_from_int(0x1002)
NO_REASON_SERIAL = content_from_int(0x1003)
STICKY = content_from_int(0x2001)
GOOD = content_from_int(0x3001)
MINUS_ONE = content_from_int(-1)  # DER ff
TWO_FIFTY_FIVE = content_from_int(255)  # DER 00ff


def meta(number: int = 7) -> CrlMeta:
    return CrlMeta(URL, number, THIS, NEXT, b"d" * 32, b"t" * 32, 4, THIS)


def evidence(with_crl: bool = True) -> IssuerEvidence:
    t = epoch_seconds(REVOKED_AT)
    index = RevokedIndex.from_entries(
        [
            (REVOKED, t, RevocationReason.KEY_COMPROMISE),
            (HELD, t, RevocationReason.CERTIFICATE_HOLD),
            (NO_REASON_SERIAL, t, NO_REASON),
            (MINUS_ONE, t, RevocationReason.SUPERSEDED),
        ]
    )
    sticky = {
        STICKY: StickyRevocation(
            Revocation(STICKY, REVOKED_AT, RevocationReason.CA_COMPROMISE), URL, 5
        )
    }
    if not with_crl:
        return IssuerEvidence("acme-issuing", GRACE, None, RevokedIndex.empty(), sticky)
    return IssuerEvidence("acme-issuing", GRACE, meta(), index, sticky)


FRESH_NOW = T0 + timedelta(hours=1)
STALE_NOW = NEXT + timedelta(minutes=30)
EXPIRED_NOW = NEXT + GRACE


@pytest.mark.parametrize(
    ("serial", "now", "with_crl", "status", "state", "reason", "unknown_reason"),
    [
        (REVOKED, FRESH_NOW, True, CertStatus.REVOKED, Freshness.FRESH, 1, None),
        (REVOKED, EXPIRED_NOW, True, CertStatus.REVOKED, Freshness.EXPIRED, 1, None),
        (HELD, FRESH_NOW, True, CertStatus.REVOKED, Freshness.FRESH, 6, None),
        (NO_REASON_SERIAL, FRESH_NOW, True, CertStatus.REVOKED, Freshness.FRESH, None, None),
        (STICKY, FRESH_NOW, True, CertStatus.REVOKED, Freshness.FRESH, 2, None),
        (STICKY, EXPIRED_NOW, True, CertStatus.REVOKED, Freshness.EXPIRED, 2, None),
        (STICKY, FRESH_NOW, False, CertStatus.REVOKED, Freshness.NONE, 2, None),
        (GOOD, FRESH_NOW, True, CertStatus.GOOD, Freshness.FRESH, None, None),
        (GOOD, NEXT, True, CertStatus.GOOD, Freshness.STALE, None, None),
        (GOOD, STALE_NOW, True, CertStatus.GOOD, Freshness.STALE, None, None),
        (
            GOOD,
            EXPIRED_NOW,
            True,
            CertStatus.UNKNOWN,
            Freshness.EXPIRED,
            None,
            UnknownReason.SOURCE_EXPIRED,
        ),
        (
            GOOD,
            FRESH_NOW,
            False,
            CertStatus.UNKNOWN,
            Freshness.NONE,
            None,
            UnknownReason.NO_EVIDENCE,
        ),
        (MINUS_ONE, FRESH_NOW, True, CertStatus.REVOKED, Freshness.FRESH, 4, None),
        (TWO_FIFTY_FIVE, FRESH_NOW, True, CertStatus.GOOD, Freshness.FRESH, None, None),
    ],
    ids=[
        "listed-fresh-is-revoked-with-reason",
        "listed-survives-expiry",
        "certificate-hold-listed-is-revoked",
        "listed-without-reason-code",
        "sticky-after-crl-dropped-it",
        "sticky-survives-expiry",
        "sticky-survives-having-no-crl",
        "unlisted-fresh-is-good",
        "unlisted-at-next-update-is-good-stale",
        "unlisted-in-grace-is-good-stale",
        "unlisted-at-end-of-grace-is-unknown-expired",
        "no-evidence-is-unknown",
        "der-ff-is-minus-one-and-listed",
        "der-00ff-is-255-and-not-listed",
    ],
)
def test_answer_rules(serial, now, with_crl, status, state, reason, unknown_reason):
    answer = decide(evidence(with_crl), serial, now)
    assert answer.status is status
    assert answer.freshness is state
    assert answer.reason == reason
    assert answer.unknown_reason == unknown_reason
    if status is CertStatus.REVOKED:
        assert answer.revoked_at == REVOKED_AT
    else:
        assert answer.revoked_at is None


def test_answer_carries_the_evidence_times_and_source():
    answer = decide(evidence(), GOOD, FRESH_NOW)
    assert (answer.this_update, answer.next_update) == (THIS, NEXT)
    assert answer.source == SourceRef(SourceKind.CRL, URL, 7)


def test_sticky_answer_names_the_crl_that_listed_it():
    answer = decide(evidence(), STICKY, FRESH_NOW)
    assert answer.source == SourceRef(SourceKind.CRL, URL, 5)


def test_unknown_without_evidence_has_no_times():
    answer = decide(evidence(with_crl=False), GOOD, FRESH_NOW)
    assert answer.this_update is None
    assert answer.next_update is None
    assert answer.source is None
