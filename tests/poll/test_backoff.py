"""When the poller polls next: pure arithmetic with an injected RNG."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from revocd.poll.backoff import BackoffPolicy, next_delay_after_failure, next_delay_after_success
from tests.support.pki import T0

POLICY = BackoffPolicy(
    base=timedelta(seconds=5),
    cap=timedelta(minutes=10),
    after_next_update=timedelta(seconds=30),
    min_delay=timedelta(seconds=15),
)
INTERVAL = timedelta(minutes=5)


@pytest.mark.parametrize(
    ("next_update", "expected"),
    [
        (None, INTERVAL),
        (T0 + timedelta(hours=2), INTERVAL),
        (T0 + timedelta(minutes=2), timedelta(minutes=2, seconds=30)),
        (T0 - timedelta(hours=1), timedelta(seconds=15)),
    ],
    ids=[
        "no-crl-yet-uses-interval",
        "next-update-far-away-uses-interval",
        "next-update-before-interval-polls-just-after-it",
        "next-update-passed-polls-at-min-delay-not-in-a-loop",
    ],
)
def test_delay_after_success(next_update, expected):
    assert next_delay_after_success(T0, INTERVAL, next_update, POLICY) == expected


def test_failures_back_off_exponentially_up_to_the_cap():
    class Top(random.Random):
        def random(self) -> float:
            return 1.0

    delays = [next_delay_after_failure(n, timedelta(hours=1), POLICY, Top()) for n in range(1, 12)]
    assert delays[0] == timedelta(seconds=5)
    assert delays[1] == timedelta(seconds=10)
    assert delays[2] == timedelta(seconds=20)
    assert max(delays) == POLICY.cap
    assert delays == sorted(delays)


def test_failing_partner_is_never_polled_less_often_than_a_healthy_one():
    class Top(random.Random):
        def random(self) -> float:
            return 1.0

    short = timedelta(minutes=1)
    assert next_delay_after_failure(20, short, POLICY, Top()) == short


def test_jitter_spreads_retries_and_is_reproducible_with_a_seed():
    a = [next_delay_after_failure(4, INTERVAL, POLICY, random.Random(7)) for _ in range(1)]
    b = [next_delay_after_failure(4, INTERVAL, POLICY, random.Random(7)) for _ in range(1)]
    assert a == b
    rng = random.Random(1)
    spread = {next_delay_after_failure(4, INTERVAL, POLICY, rng) for _ in range(50)}
    assert len(spread) > 40
    assert all(timedelta(seconds=4) <= d <= timedelta(seconds=40) for d in spread)
