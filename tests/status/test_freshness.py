"""SPEC.md's freshness table, row by row, including both boundaries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from revocd.status.freshness import Freshness, freshness
from tests.support.pki import T0

NEXT = T0 + timedelta(hours=1)
GRACE = timedelta(minutes=30)


@pytest.mark.parametrize(
    ("next_update", "now", "expected"),
    [
        (None, T0, Freshness.NONE),
        (NEXT, T0, Freshness.FRESH),
        (NEXT, NEXT - timedelta(microseconds=1), Freshness.FRESH),
        (NEXT, NEXT, Freshness.STALE),
        (NEXT, NEXT + GRACE - timedelta(microseconds=1), Freshness.STALE),
        (NEXT, NEXT + GRACE, Freshness.EXPIRED),
        (NEXT, NEXT + timedelta(days=30), Freshness.EXPIRED),
    ],
    ids=[
        "nothing-accepted-is-none",
        "before-next-update-is-fresh",
        "just-before-next-update-is-fresh",
        "at-next-update-is-stale",
        "just-before-grace-ends-is-stale",
        "at-next-update-plus-grace-is-expired",
        "long-after-is-expired",
    ],
)
def test_freshness_table(next_update, now, expected):
    assert freshness(next_update, now, GRACE) is expected


def test_zero_grace_goes_straight_from_fresh_to_expired():
    assert freshness(NEXT, NEXT, timedelta(0)) is Freshness.EXPIRED


@pytest.mark.parametrize(
    ("state", "usable"),
    [
        (Freshness.FRESH, True),
        (Freshness.STALE, True),
        (Freshness.EXPIRED, False),
        (Freshness.NONE, False),
    ],
    ids=str,
)
def test_only_fresh_and_stale_evidence_may_decide_good(state, usable):
    assert state.usable is usable
