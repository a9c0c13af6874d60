"""What every Store backend promises: accepted evidence comes back whole after a restart,
nothing half-written is ever visible, and revocations stay sticky."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from revocd.errors import StoreError
from revocd.evidence import CrlEvidence, CrlMeta
from revocd.revoked import Revocation, RevokedIndex, from_epoch
from revocd.status.answer import StickyRevocation
from revocd.store.base import Validators
from tests.support.pki import T0

ISSUER = "issuer-id"
A = "acme/acme-issuing/crl/http://a.example/issuing.crl"
B = "acme/acme-issuing/crl/file:///srv/issuing.crl"
C = "acme/acme-issuing/crl/http://backup.example/issuing.crl"


def evidence(
    number: int | None, *, minutes: int = 0, serials=(1, 2), url="http://a"
) -> CrlEvidence:
    index = RevokedIndex.from_entries([(bytes([s]), 1_700_000_000 + s, 1) for s in serials])
    der = f"crl {number} {minutes} {serials}".encode() * 100
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


def sticky(serial: int, reason: int | None = 1, url: str = "http://a") -> StickyRevocation:
    return StickyRevocation(Revocation(bytes([serial]), from_epoch(1_700_000_000), reason), url, 4)


async def test_accepted_crl_round_trips_across_a_restart(backend, store):
    ev = evidence(7)
    validators = Validators('"e1"', "Tue, 01 Jan 2026 00:00:00 GMT")
    await store.accept_crl(ISSUER, A, ev, validators, [])
    await store.close()

    again = await backend.open()
    records = await again.load_sources()
    assert set(records) == {A}
    assert records[A].meta == ev.meta
    assert records[A].validators == validators
    assert records[A].last_success == ev.meta.accepted_at
    assert records[A].last_error is None
    loaded = await again.load_issuer(ISSUER, [A])
    assert loaded.crl == ev.meta
    assert loaded.index == ev.index
    assert list(loaded.index) == list(ev.index)
    assert await again.load_der(A) == ev.der
    assert await again.load_der(B) is None


@pytest.mark.parametrize(
    ("this_update", "crl_number"),
    [
        (datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC), 1),
        (datetime(2026, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))), 2),
        (datetime(1950, 1, 1, tzinfo=UTC), 3),
        (datetime(2026, 3, 1, tzinfo=UTC), 2**159 - 1),
    ],
    ids=["microseconds", "other-offset-same-instant", "before-1970", "20-octet-crl-number"],
)
async def test_times_and_numbers_come_back_exactly_as_aware_utc(
    backend, store, this_update, crl_number
):
    ev = evidence(crl_number)
    meta = CrlMeta(
        ev.meta.source_url,
        crl_number,
        this_update,
        this_update + timedelta(hours=6, microseconds=1),
        ev.meta.der_sha256,
        ev.meta.tbs_sha256,
        ev.meta.entry_count,
        this_update + timedelta(seconds=1),
    )
    await store.accept_crl(ISSUER, A, CrlEvidence(meta, ev.index, ev.der), Validators(), [])
    await store.close()

    loaded = (await (await backend.open()).load_sources())[A].meta
    assert loaded == meta
    assert loaded.crl_number == crl_number
    assert loaded.this_update.utcoffset() == timedelta(0)


async def test_a_newer_crl_replaces_the_sources_previous_one(store):
    old, new = evidence(1), evidence(2, minutes=5, serials=(3,))
    await store.accept_crl(ISSUER, A, old, Validators('"old"'), [])
    await store.accept_crl(ISSUER, A, new, Validators('"new"'), [])
    loaded = await store.load_issuer(ISSUER, [A])
    assert loaded.crl == new.meta
    assert loaded.index.lookup(b"\x03") is not None
    assert loaded.index.lookup(b"\x01") is None
    assert await store.load_der(A) == new.der
    assert (await store.load_sources())[A].validators == Validators('"new"')


@pytest.mark.parametrize(
    ("a", "b", "newest"),
    [
        ((5, 0), (4, 10), A),
        ((5, 0), (5, 10), B),
        ((None, 30), (1, 0), B),
        ((None, 30), (None, 10), A),
        ((2**100, 0), (2**99, 60), A),
    ],
    ids=[
        "higher-number-wins",
        "same-number-later-this-update-wins",
        "numbered-beats-unnumbered",
        "both-unnumbered-later-this-update-wins",
        "big-numbers-compare-as-numbers",
    ],
)
async def test_the_issuers_newest_crl_is_picked_across_mirrors(store, a, b, newest):
    ev_a = evidence(a[0], minutes=a[1], url="a", serials=(1,))
    ev_b = evidence(b[0], minutes=b[1], url="b", serials=(2,))
    await store.accept_crl(ISSUER, A, ev_a, Validators(), [])
    await store.accept_crl(ISSUER, B, ev_b, Validators(), [])
    # a newer CRL on a source that is not one of the issuer's mirrors is not considered
    await store.accept_crl("other", C, evidence(10**6, minutes=99), Validators(), [])
    loaded = await store.load_issuer(ISSUER, [A, B])
    expected = ev_a if newest == A else ev_b
    assert loaded.crl == expected.meta
    assert loaded.index == expected.index


async def test_an_issuer_with_nothing_accepted_loads_empty(store):
    await store.record_failure(A, T0, "HTTP 503")
    loaded = await store.load_issuer(ISSUER, [A, B])
    assert loaded.crl is None
    assert len(loaded.index) == 0
    assert loaded.sticky == {}
    assert (await store.load_issuer(ISSUER, [])).crl is None


async def test_sticky_revocations_are_kept_once_and_survive_restart(backend, store):
    await store.accept_crl(ISSUER, A, evidence(1), Validators(), [sticky(9, reason=1)])
    await store.accept_crl(
        ISSUER, B, evidence(2, minutes=1), Validators(), [sticky(9, reason=4, url="b")]
    )
    await store.accept_crl(ISSUER, A, evidence(3, minutes=2), Validators(), [sticky(8, None)])
    await store.close()

    again = await backend.open()
    loaded = await again.load_issuer(ISSUER, [A])
    assert set(loaded.sticky) == {b"\x09", b"\x08"}
    assert loaded.sticky[b"\x09"] == sticky(9, reason=1)  # the first recording wins
    assert loaded.sticky[b"\x08"].revocation.reason is None
    # sticky revocations belong to the issuer, not to a source
    assert set((await again.load_issuer(ISSUER, [])).sticky) == {b"\x09", b"\x08"}
    other = await again.load_issuer("another-issuer", [A])
    assert other.sticky == {}


async def test_failures_and_successes_never_touch_accepted_evidence(store):
    ev = evidence(3)
    await store.accept_crl(ISSUER, A, ev, Validators('"e"'), [])
    await store.record_failure(A, T0 + timedelta(hours=1), "HTTP 500")
    await store.record_success(A, T0 + timedelta(hours=2))
    await store.record_failure(A, T0 + timedelta(hours=3), "a much longer message " * 50)
    await store.record_failure(B, T0 + timedelta(hours=3), "timeout")

    records = await store.load_sources()
    assert records[A].meta == ev.meta
    assert records[A].validators == Validators('"e"')
    assert records[A].last_error == "a much longer message " * 50
    assert records[A].last_error_at == T0 + timedelta(hours=3)
    assert records[A].last_success == T0 + timedelta(hours=2)
    assert records[B].meta is None
    assert records[B].last_error == "timeout"
    assert records[B].last_success is None
    loaded = await store.load_issuer(ISSUER, [A, B])
    assert loaded.crl == ev.meta
    assert loaded.index == ev.index
    assert await store.load_der(A) == ev.der


async def test_a_failed_accept_leaves_the_previous_state_whole(backend, store):
    before = evidence(1)
    await store.accept_crl(ISSUER, A, before, Validators('"before"'), [sticky(5)])
    # the second sticky entry has no source URL, which the store refuses after it has
    # already written the CRL and the first entry in the same transaction
    broken = StickyRevocation(Revocation(b"\x07", from_epoch(0), 1), None, 1)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="saving the accepted CRL"):
        await store.accept_crl(
            ISSUER,
            A,
            evidence(2, minutes=1, serials=(6,)),
            Validators('"after"'),
            [sticky(6), broken],
        )

    for current in (store, await backend.open()):
        records = await current.load_sources()
        assert records[A].meta == before.meta
        assert records[A].validators == Validators('"before"')
        loaded = await current.load_issuer(ISSUER, [A])
        assert loaded.index == before.index
        assert set(loaded.sticky) == {b"\x05"}
        assert await current.load_der(A) == before.der
    # and the store still accepts after the failure
    await store.accept_crl(ISSUER, A, evidence(2, minutes=1), Validators(), [])
    assert (await store.load_issuer(ISSUER, [A])).crl.crl_number == 2


async def test_one_hundred_thousand_sticky_entries_in_one_accept(store):
    many = [
        StickyRevocation(Revocation(i.to_bytes(4, "big"), from_epoch(i), 1), "a", 1)
        for i in range(1, 100_001)
    ]
    await store.accept_crl(ISSUER, A, evidence(1), Validators(), many)
    loaded = (await store.load_issuer(ISSUER, [A])).sticky
    assert len(loaded) == 100_000
    assert loaded[(77_777).to_bytes(4, "big")] == many[77_776]


async def test_a_new_database_gets_the_latest_schema(store, backend):
    assert await store.schema_version() == backend.latest_version()
    await store.integrity_check()


async def test_a_database_from_an_older_revocd_is_migrated_forward(backend):
    await backend.create_at_version(1)
    store = await backend.open()
    assert await store.schema_version() == backend.latest_version()
    ev = evidence(1)
    await store.accept_crl(ISSUER, A, ev, Validators(), [sticky(3)])
    loaded = await store.load_issuer(ISSUER, [A])
    assert (loaded.crl, set(loaded.sticky)) == (ev.meta, {b"\x03"})


async def test_a_database_from_a_newer_revocd_is_refused(backend):
    await backend.create_at_version(1)
    future = backend.latest_version() + 6
    await backend.stamp_version(future)
    with pytest.raises(StoreError) as refused:
        await backend.open()
    message = str(refused.value)
    assert f"newer revocd (schema {future}, this version knows {backend.latest_version()})" in (
        message
    )
    assert "upgrade revocd" in message


async def test_an_unusable_location_is_refused_naming_it(backend):
    store, where = backend.unusable()
    with pytest.raises(StoreError) as refused:
        await store.open()
    assert where in str(refused.value)


async def test_a_closed_store_refuses_work_instead_of_losing_it(store):
    await store.close()
    with pytest.raises(StoreError, match="not open"):
        await store.accept_crl(ISSUER, A, evidence(1), Validators(), [])
