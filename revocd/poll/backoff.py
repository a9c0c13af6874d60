"""When to poll a source next. Pure: the caller passes the RNG and the evidence times.

* After success: the partner's `poll_interval`, but sooner if the CRL's nextUpdate comes
  first (fetch again shortly after nextUpdate, when the partner should have published),
  and never sooner than `min_delay` (a CRL whose nextUpdate has passed must not make us
  hammer the partner).
* After failure: exponential backoff from `base` doubling per consecutive failure, capped
  at `cap` (and at the poll interval: a failing partner is never polled *less* often than a
  healthy one), with "full jitter" so that replicas and sources do not synchronise.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    base: timedelta = timedelta(seconds=5)
    cap: timedelta = timedelta(minutes=10)
    after_next_update: timedelta = timedelta(seconds=30)
    min_delay: timedelta = timedelta(seconds=15)


def next_delay_after_success(
    now: datetime,
    poll_interval: timedelta,
    next_update: datetime | None,
    policy: BackoffPolicy,
) -> timedelta:
    delay = poll_interval
    if next_update is not None:
        until_published = next_update + policy.after_next_update - now
        delay = min(delay, until_published)
    return max(delay, min(policy.min_delay, poll_interval))


def next_delay_after_failure(
    failures: int,
    poll_interval: timedelta,
    policy: BackoffPolicy,
    rng: random.Random,
) -> timedelta:
    """`failures` is the number of consecutive failures so far (1 after the first)."""
    exponent = min(max(failures - 1, 0), 30)
    ceiling = min(policy.base * (2**exponent), policy.cap, max(poll_interval, policy.base))
    # full jitter, but never less than a tenth of the ceiling so a retry is not immediate
    factor = 0.1 + 0.9 * float(rng.random())
    jittered: timedelta = ceiling * factor
    return jittered
