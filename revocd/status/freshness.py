"""The freshness table of SPEC.md, as one pure function.

=========  ==============================================
fresh      accepted evidence and ``now < nextUpdate``
stale      ``nextUpdate <= now < nextUpdate + grace``
expired    ``now >= nextUpdate + grace``
none       nothing accepted yet
=========  ==============================================

For alerting, a source also has a `Condition`: the freshness above with one more step,
``expiring``, the last ``expiring_before`` of the grace, so that on-call hears about a
CRL before relying parties do. ``Condition`` never reaches the JSON API's ``freshness``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum


class Freshness(StrEnum):
    FRESH = "fresh"
    STALE = "stale"
    EXPIRED = "expired"
    NONE = "none"

    @property
    def usable(self) -> bool:
        """Fresh and stale evidence may decide a `good` answer; expired and none may not."""
        return self in (Freshness.FRESH, Freshness.STALE)


def freshness(next_update: datetime | None, now: datetime, grace: timedelta) -> Freshness:
    if next_update is None:
        return Freshness.NONE
    if now < next_update:
        return Freshness.FRESH
    if now < next_update + grace:
        return Freshness.STALE
    return Freshness.EXPIRED


class Condition(StrEnum):
    """A source's state for events, alerts and metrics (docs/operations.md, "Alerts")."""

    FRESH = "fresh"
    STALE = "stale"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    NONE = "none"


def grace_end(next_update: datetime, grace: timedelta) -> datetime:
    return next_update + grace


def expiring_at(next_update: datetime, grace: timedelta, expiring_before: timedelta) -> datetime:
    """When `expiring` starts: `expiring_before` ahead of the grace's end, but never before
    nextUpdate (with a grace shorter than that, a CRL goes from fresh straight to expiring)."""
    return max(next_update, next_update + grace - expiring_before)


def condition(
    next_update: datetime | None, now: datetime, grace: timedelta, expiring_before: timedelta
) -> Condition:
    state = freshness(next_update, now, grace)
    if state is not Freshness.STALE:
        return Condition(state.value)
    assert next_update is not None
    if now >= expiring_at(next_update, grace, expiring_before):
        return Condition.EXPIRING
    return Condition.STALE


def next_change(
    next_update: datetime | None, now: datetime, grace: timedelta, expiring_before: timedelta
) -> datetime | None:
    """The first time after `now` at which `condition` changes, or None if it never does."""
    if next_update is None:
        return None
    for boundary in (
        next_update,
        expiring_at(next_update, grace, expiring_before),
        grace_end(next_update, grace),
    ):
        if boundary > now:
            return boundary
    return None
