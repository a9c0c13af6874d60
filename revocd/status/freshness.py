"""The freshness table of SPEC.md, as one pure function.

=========  ==============================================
fresh      accepted evidence and ``now < nextUpdate``
stale      ``nextUpdate <= now < nextUpdate + grace``
expired    ``now >= nextUpdate + grace``
none       nothing accepted yet
=========  ==============================================
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
