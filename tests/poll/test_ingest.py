"""One poll of a CRL source, against a real partner server, store and cache.

Every rejection leaves the previous evidence in force; revocation is sticky; mirrors
that fall behind are reported, not treated as rollbacks.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from cryptography import x509
from structlog.testing import capture_logs

from revocd.poll.ingest import Outcome
from tests.poll.conftest import POLICY, partner_of
from tests.support.pki import T0, Entry, make_ca, make_crl

PATH = "/issuing.crl"


@pytest.fixture
def ca():
    return make_ca("Acme Issuing CA")


async def test_first_crl_is_accepted_persisted_and_served(partner, make_rig, ca):
    partner.publish(PATH, make_crl(ca, [Entry(0x1001)], number=1))
    rig = await make_rig([partner_of("acme", ca, [partner.url(PATH)])])
    assert rig.answer("acme-issuing", 0x1001) == "unknown"

    with capture_logs() as logs:
        result = await rig.poller.poll(rig.poller.crl_sources[0])

    assert result.outcome is Outcome.ACCEPTED
    assert rig.answer("acme-issuing", 0x1001) == "revoked"
    assert rig.answer("acme-issuing", 0x2002) == "good"
    accepted = [e for e in logs if e["event"] == "crl_accepted"]
    assert accepted
    assert accepted[0]["crl_number"] == 1
    records = await rig.store.load_sources()
    assert records[rig.poller.crl_sources[0].id].meta.crl_number == 1


BAD = "Another CA"


def rejected_crl(ca, kind: str) -> tuple[bytes, str]:
    other = make_ca(BAD)
    cases = {
        "bad_signature": (make_crl(ca, [], number=5, signer=other.key), "bad_signature"),
        "wrong_issuer": (make_crl(other, [], number=5), "wrong_issuer"),
        "rollback": (make_crl(ca, [], number=1, this_update=T0 + timedelta(minutes=1)), "rollback"),
        "equivocation": (make_crl(ca, [0x9999], number=2), "equivocation"),
        "older": (
            make_crl(ca, [], number=3, this_update=T0 - timedelta(days=1)),
            "older_than_accepted",
        ),
        "future": (
            make_crl(
                ca,
                [],
                number=3,
                this_update=T0 + timedelta(days=2),
                next_update=T0 + timedelta(days=9),
            ),
            "not_yet_valid",
        ),
        "garbage": (b"<html>maintenance</html>", "malformed"),
        "delta": (
            make_crl(ca, [], number=3, extensions=[(x509.DeltaCRLIndicator(2), True)]),
            "unsupported_scope",
        ),
    }
    return cases[kind]


@pytest.mark.parametrize(
    "kind",
    [
        "bad_signature",
        "wrong_issuer",
        "rollback",
        "equivocation",
        "older",
        "future",
        "garbage",
        "delta",
    ],
)
async def test_a_rejected_crl_leaves_the_previous_evidence_in_force(partner, make_rig, ca, kind):
    partner.publish(PATH, make_crl(ca, [Entry(0x1001)], number=2))
    rig = await make_rig([partner_of("acme", ca, [partner.url(PATH)])])
    source = rig.poller.crl_sources[0]
    assert (await rig.poller.poll(source)).outcome is Outcome.ACCEPTED

    body, reason = rejected_crl(ca, kind)
    partner.publish(PATH, body)
    with capture_logs() as logs:
        result = await rig.poller.poll(source)

    assert result.outcome is Outcome.REJECTED
    assert result.reason == reason
    assert rig.answer("acme-issuing", 0x1001) == "revoked"
    assert rig.answer("acme-issuing", 0x9999) == "good"
    state = rig.board.get(source)
    assert state.failing
    assert state.last_reject_reason == reason
    assert state.meta is not None
    assert state.meta.crl_number == 2
    assert [e["reason"] for e in logs if e["event"] == "crl_rejected"] == [reason]
    assert "acme" in result.detail
    # and a restart still serves CRL 2
    again = await make_rig([partner_of("acme", ca, [partner.url(PATH)])])
    assert again.answer("acme-issuing", 0x1001) == "revoked"


async def test_same_rejection_is_logged_as_warning_once_not_every_poll(partner, make_rig, ca):
    partner.publish(PATH, b"garbage")
    rig = await make_rig([partner_of("acme", ca, [partner.url(PATH)])])
    source = rig.poller.crl_sources[0]
    with capture_logs() as logs:
        for _ in range(3):
            await rig.poller.poll(source)
    levels = [e["log_level"] for e in logs if e["event"] == "crl_rejected"]
    assert levels == ["warning", "debug", "debug"]


async def test_fetch_failures_keep_evidence_and_are_reported(partner, make_rig, ca):
    partner.publish(PATH, make_crl(ca, [Entry(0x1001)], number=1))
    rig = await make_rig([partner_of("acme", ca, [partner.url(PATH)])])
    source = rig.poller.crl_sources[0]
    await rig.poller.poll(source)
    partner.fail(PATH, 500)
    result = await rig.poller.poll(source)
    assert result.outcome is Outcome.FAILED
    assert result.reason == "http_status"
    assert "HTTP 500" in rig.board.get(source).last_error
    assert rig.answer("acme-issuing", 0x1001) == "revoked"


async def test_oversize_crl_is_a_rejection(partner, make_rig, ca):
    partner.publish(PATH, make_crl(ca, list(range(1, 200)), number=1))
    policy = replace(POLICY, max_crl_bytes=1000)
    rig = await make_rig([partner_of("acme", ca, [partner.url(PATH)], policy)])
    result = await rig.poller.poll(rig.poller.crl_sources[0])
    assert result.outcome is Outcome.REJECTED
    assert result.reason == "oversize"


async def test_revocation_is_sticky_and_a_released_hold_is_good_again(partner, make_rig, ca):
    hold = x509.ReasonFlags.certificate_hold
    partner.publish(PATH, make_crl(ca, [Entry(0x1001), Entry(0x1002, reason=hold)], number=1))
    rig = await make_rig([partner_of("acme", ca, [partner.url(PATH)])])
    source = rig.poller.crl_sources[0]
    await rig.poller.poll(source)
    assert rig.answer("acme-issuing", 0x1002) == "revoked"

    partner.publish(PATH, make_crl(ca, [], number=2, this_update=T0 + timedelta(minutes=5)))
    assert (await rig.poller.poll(source)).outcome is Outcome.ACCEPTED
    assert rig.answer("acme-issuing", 0x1001) == "revoked"  # dropped, still revoked
    assert rig.answer("acme-issuing", 0x1002) == "good"  # hold released

    restarted = await make_rig([partner_of("acme", ca, [partner.url(PATH)])])
    assert restarted.answer("acme-issuing", 0x1001) == "revoked"
    assert restarted.answer("acme-issuing", 0x1002) == "good"


async def test_expiry_turns_good_into_unknown_but_revoked_stays(partner, make_rig, ca, clock):
    partner.publish(PATH, make_crl(ca, [Entry(0x1001)], number=1))
    rig = await make_rig([partner_of("acme", ca, [partner.url(PATH)])])
    await rig.poller.poll(rig.poller.crl_sources[0])
    clock.set(T0 + timedelta(days=7, minutes=30))  # stale, within grace
    assert rig.answer("acme-issuing", 0x2002) == "good"
    clock.set(T0 + timedelta(days=7, hours=1))  # nextUpdate + grace
    assert rig.answer("acme-issuing", 0x2002) == "unknown"
    assert rig.answer("acme-issuing", 0x1001) == "revoked"


async def test_mirror_behind_is_reported_not_a_rollback(partner, make_rig, ca, tmp_path):
    mirror = tmp_path / "mirror.crl"
    mirror.write_bytes(make_crl(ca, [Entry(0x1001)], number=1))
    partner.publish(
        PATH, make_crl(ca, [Entry(0x1002)], number=2, this_update=T0 + timedelta(minutes=1))
    )
    rig = await make_rig([partner_of("acme", ca, [partner.url(PATH), mirror.as_uri()])])
    http_source, file_source = rig.poller.crl_sources
    await rig.poller.poll(http_source)
    result = await rig.poller.poll(file_source)
    assert result.outcome is Outcome.ACCEPTED
    assert rig.board.get(file_source).behind
    assert not rig.board.get(http_source).behind
    evidence = rig.cache.evidence("acme-issuing")
    assert evidence.crl.crl_number == 2
    # 0x1001 was on an accepted CRL (the older one): revoked, sticky
    assert rig.answer("acme-issuing", 0x1001) == "revoked"
    # the mirror catches up: no longer behind
    mirror.write_bytes(partner.routes[PATH].body)
    await rig.poller.poll(file_source)
    assert not rig.board.get(file_source).behind


async def test_mirrors_disagreeing_on_one_crl_number_is_equivocation(
    partner, make_rig, ca, tmp_path
):
    mirror = tmp_path / "mirror.crl"
    mirror.write_bytes(make_crl(ca, [Entry(0x1001)], number=2))
    partner.publish(PATH, make_crl(ca, [Entry(0x1002)], number=2))
    rig = await make_rig([partner_of("acme", ca, [partner.url(PATH), mirror.as_uri()])])
    http_source, file_source = rig.poller.crl_sources
    assert (await rig.poller.poll(http_source)).outcome is Outcome.ACCEPTED
    result = await rig.poller.poll(file_source)
    assert result.reason == "equivocation"


async def test_unchanged_crl_costs_no_parse(partner, make_rig, ca):
    partner.publish(PATH, make_crl(ca, [Entry(0x1001)], number=1), etag='"v1"')
    rig = await make_rig([partner_of("acme", ca, [partner.url(PATH)])])
    source = rig.poller.crl_sources[0]
    assert (await rig.poller.poll(source)).outcome is Outcome.ACCEPTED
    assert (await rig.poller.poll(source)).outcome is Outcome.UNCHANGED
    assert partner.requests[-1][1].get("If-None-Match") == '"v1"'


async def test_one_hanging_partner_never_delays_another(partner, make_rig, ca):
    other = make_ca("Globex CA")
    partner.hang("/slow.crl")
    partner.publish(PATH, make_crl(ca, [Entry(0x1001)], number=1))
    slow_policy = replace(POLICY, timeout=timedelta(seconds=30))
    rig = await make_rig(
        [
            partner_of("globex", other, [partner.url("/slow.crl")], slow_policy),
            partner_of("acme", ca, [partner.url(PATH)]),
        ]
    )
    slow_source, fast_source = rig.poller.crl_sources
    slow = asyncio.create_task(rig.poller.poll(slow_source))
    fast = await asyncio.wait_for(rig.poller.poll(fast_source), timeout=10)
    assert fast.outcome is Outcome.ACCEPTED
    assert rig.answer("acme-issuing", 0x1001) == "revoked"
    assert not slow.done()
    partner.release.set()
    late = await slow
    assert late.outcome is Outcome.REJECTED  # the partner finally answered, with nothing
    assert "empty" in late.detail
