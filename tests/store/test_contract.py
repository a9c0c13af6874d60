"""What every Store backend promises: accepted evidence comes back whole after a restart."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from revocd.evidence import CrlEvidence, CrlMeta
from revocd.revoked import Revocation, RevokedIndex, from_epoch
from revocd.status.answer import StickyRevocation
from revocd.store.base import Validators
from tests.support.pki import T0

ISSUER = "issuer-id"
A = "acme/acme-issuing/crl/http://a.example/issuing.crl"
B = "acme/acme-issuing/crl/file:///srv/issuing.crl"


def evidence(
    number: int | None, *, minutes: int = 0, serials=(1, 2), url="http://a"
) -> CrlEvidence:
    index = RevokedIndex.from_entries([(bytes([s]), 1_700_000_000 + s, 1) for s in serials])
    der = f"crl {number} {minutes}".encode() * 100
    meta = CrlMeta(
        source_url=url,
        crl_number=number,
        this_update=T0 + timedelta(minutes=minutes),
        next_update=T0 + timedelta(days=1, minutes=minutes),
        der_sha256=hashlib.sha256(der).digest(),
        tbs_sha256=hashlib.sha256(der[:10]).digest(),
        entry_count=len(serials),
        accepted_at=T0 + timedelta(minutes=minutes, seconds=5),
    )
    return CrlEvidence(meta, index, der)


def sticky(serial: int, reason: int = 1) -> StickyRevocation:
    return StickyRevocation(
        Revocation(bytes([serial]), from_epoch(1_700_000_000), reason), "http://a", 4
    )


async def test_accepted_crl_round_trips_across_a_restart(open_store):
    store = await open_store()
    ev = evidence(7)
    await store.accept_crl(ISSUER, A, ev, Validators('"e1"', "Tue, 01 Jan 2026 00:00:00 GMT"), [])
    await store.close()

    again = await open_store()
    records = await again.load_sources()
    assert records[A].meta == ev.meta
    assert records[A].validators == Validators('"e1"', "Tue, 01 Jan 2026 00:00:00 GMT")
    assert records[A].last_success == ev.meta.accepted_at
    loaded = await again.load_issuer(ISSUER, [A])
    assert loaded.crl == ev.meta
    assert loaded.index == ev.index


async def test_a_newer_crl_replaces_the_sources_previous_one(open_store):
    store = await open_store()
    await store.accept_crl(ISSUER, A, evidence(1), Validators(), [])
    await store.accept_crl(ISSUER, A, evidence(2, minutes=5, serials=(3,)), Validators(), [])
    loaded = await store.load_issuer(ISSUER, [A])
    assert loaded.crl.crl_number == 2
    assert loaded.index.lookup(b"\x03") is not None
    assert loaded.index.lookup(b"\x01") is None


@pytest.mark.parametrize(
    ("a", "b", "newest"),
    [
        ((5, 0), (4, 10), 5),
        ((5, 0), (5, 10), "b"),
        ((None, 30), (1, 0), 1),
    ],
    ids=["higher-number-wins", "same-number-later-this-update-wins", "numbered-beats-unnumbered"],
)
async def test_the_issuers_newest_crl_is_picked_across_mirrors(open_store, a, b, newest):
    store = await open_store()
    await store.accept_crl(ISSUER, A, evidence(a[0], minutes=a[1], url="a"), Validators(), [])
    await store.accept_crl(ISSUER, B, evidence(b[0], minutes=b[1], url="b"), Validators(), [])
    loaded = await store.load_issuer(ISSUER, [A, B])
    if newest == "b":
        assert loaded.crl.source_url == "b"
    else:
        assert loaded.crl.crl_number == newest


async def test_sticky_revocations_are_kept_once_and_survive_restart(open_store):
    store = await open_store()
    await store.accept_crl(ISSUER, A, evidence(1), Validators(), [sticky(9, reason=1)])
    await store.accept_crl(ISSUER, A, evidence(2, minutes=1), Validators(), [sticky(9, reason=4)])
    await store.close()
    again = await open_store()
    loaded = await again.load_issuer(ISSUER, [A])
    assert set(loaded.sticky) == {b"\x09"}
    assert loaded.sticky[b"\x09"].revocation.reason == 1  # the first recording wins
    other = await again.load_issuer("another-issuer", [])
    assert other.sticky == {}
    assert other.crl is None


async def test_failures_and_successes_never_touch_accepted_evidence(open_store):
    store = await open_store()
    ev = evidence(3)
    await store.accept_crl(ISSUER, A, ev, Validators(), [])
    await store.record_failure(A, T0 + timedelta(hours=1), "HTTP 500")
    await store.record_success(A, T0 + timedelta(hours=2))
    await store.record_failure(B, T0 + timedelta(hours=3), "timeout")
    records = await store.load_sources()
    assert records[A].meta == ev.meta
    assert records[A].last_error == "HTTP 500"
    assert records[A].last_success == T0 + timedelta(hours=2)
    assert records[B].meta is None
    assert records[B].last_error == "timeout"
    assert (await store.load_issuer(ISSUER, [A, B])).crl == ev.meta


async def test_one_hundred_thousand_sticky_entries_in_one_accept(open_store):
    store = await open_store()
    many = [
        StickyRevocation(Revocation(i.to_bytes(4, "big"), from_epoch(0), 1), "a", 1)
        for i in range(1, 100_001)
    ]
    await store.accept_crl(ISSUER, A, evidence(1), Validators(), many)
    assert len((await store.load_issuer(ISSUER, [A])).sticky) == 100_000
