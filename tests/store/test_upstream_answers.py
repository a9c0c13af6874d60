"""Upstream OCSP answers in the store (schema 3): they come back whole after a restart, a
revoked answer never turns good (a certificateHold released by a good does), and an older
answer never replaces a newer one, whatever the caller asks."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from revocd.status.answer import CertStatus
from revocd.upstream.verify import UpstreamAnswer
from tests.support.pki import T0

ISSUER = "issuer-id"
REVOKED = CertStatus.REVOKED
URL = "http://ocsp.acme.example/"


def answer(
    serial: int,
    status: CertStatus = CertStatus.GOOD,
    *,
    minutes: int = 0,
    reason: int | None = None,
) -> UpstreamAnswer:
    revoked = status is CertStatus.REVOKED
    return UpstreamAnswer(
        status=status,
        serial=serial.to_bytes(2, "big"),
        this_update=T0 + timedelta(minutes=minutes),
        next_update=T0 + timedelta(hours=1, minutes=minutes),
        produced_at=T0 + timedelta(minutes=minutes, seconds=1),
        revoked_at=T0 - timedelta(days=1) if revoked else None,
        reason=reason,
        next_update_given=True,
        delegated=True,
        has_nonce=False,
        der=f"ocsp response {serial} {status} {minutes}".encode(),
        hash_algorithm="sha256",
    )


async def test_answers_round_trip_across_a_restart(backend, store):
    good, revoked = answer(0x101), answer(0x102, CertStatus.REVOKED, reason=1)
    await store.save_upstream(ISSUER, URL, good, T0)
    await store.save_upstream(ISSUER, URL + "backup", revoked, T0)
    await store.save_upstream("another-issuer", URL, answer(0x103), T0)
    await store.close()

    again = await backend.open()
    loaded = await again.load_upstream(ISSUER)
    assert [(s.url, s.answer) for s in loaded] == [(URL, good), (URL + "backup", revoked)]
    assert await again.load_upstream("nobody") == []


@pytest.mark.parametrize(
    ("first", "then", "kept"),
    [
        (answer(1), answer(1, CertStatus.REVOKED, minutes=5, reason=1), "then"),
        (answer(1, CertStatus.REVOKED, reason=1), answer(1, minutes=5), "first"),
        (
            answer(1, CertStatus.REVOKED, reason=1),
            answer(1, CertStatus.UNKNOWN, minutes=5),
            "first",
        ),
        (answer(1, CertStatus.REVOKED, reason=6), answer(1, minutes=5), "then"),
        (answer(1, minutes=5), answer(1, CertStatus.UNKNOWN), "first"),
        (answer(1), answer(1, minutes=5), "then"),
    ],
    ids=[
        "good-then-revoked",
        "revoked-never-turns-good",
        "revoked-never-turns-unknown",
        "hold-released-by-good",
        "older-never-replaces-newer",
        "newer-replaces-older",
    ],
)
async def test_what_replaces_what(store, first, then, kept):
    await store.save_upstream(ISSUER, URL, first, T0)
    await store.save_upstream(ISSUER, URL, then, T0 + timedelta(minutes=5))
    (stored,) = await store.load_upstream(ISSUER)
    assert stored.answer == (first if kept == "first" else then)


async def test_pruning_deletes_expired_answers_but_never_a_revoked_one(store):
    expired_good = answer(1)  # nextUpdate T0 + 1 h
    expired_unknown = answer(2, CertStatus.UNKNOWN)
    expired_revoked = answer(3, CertStatus.REVOKED, reason=1)
    fresh_good = answer(4, minutes=120)  # nextUpdate T0 + 3 h
    for stored in (expired_good, expired_unknown, expired_revoked, fresh_good):
        await store.save_upstream(ISSUER, URL, stored, T0)
    await store.save_upstream("another-issuer", URL, answer(5), T0)

    assert await store.prune_upstream(ISSUER, T0 + timedelta(hours=2)) == 2
    assert [s.answer for s in await store.load_upstream(ISSUER)] == [expired_revoked, fresh_good]
    assert len(await store.load_upstream("another-issuer")) == 1  # its own issuer only
    assert await store.prune_upstream(ISSUER, T0 + timedelta(hours=2)) == 0


async def test_an_old_database_gains_the_table(backend):
    await backend.create_at_version(2)
    store = await backend.open()
    assert await store.schema_version() == backend.latest_version()
    await store.save_upstream(ISSUER, URL, replace(answer(7), has_nonce=True), T0)
    (stored,) = await store.load_upstream(ISSUER)
    assert stored.answer.has_nonce
