"""The compact revoked-serial table: exact lookups, compactness, persistence."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from revocd.revoked import NO_REASON, RevokedIndex, epoch_seconds, serial_of
from revocd.serials import content_from_int

serials = st.integers(min_value=-(2**159), max_value=2**159).map(content_from_int)


@given(
    st.dictionaries(
        serials,
        st.tuples(st.integers(0, 2**37), st.sampled_from([0, 1, 6, 10, NO_REASON])),
        max_size=200,
    ),
    st.lists(serials, max_size=50),
)
def test_lookup_finds_exactly_the_listed_serials(listed, probes):
    index = RevokedIndex.from_entries((s, t, r) for s, (t, r) in listed.items())
    assert len(index) == len(listed)
    for serial in list(listed) + probes:
        hit = index.lookup(serial)
        if serial in listed:
            assert hit is not None
            t, r = listed[serial]
            assert epoch_seconds(hit.revoked_at) == t
            assert hit.reason == (None if r == NO_REASON else r)
        else:
            assert hit is None
    assert [serial_of(k) for k in index.sorted_keys(index.key_width)] == sorted(
        listed, key=lambda s: (len(s), s)
    )
    # what the stores persist and load: the header and the records, kept apart
    assert RevokedIndex.from_parts(index.header(), index.blob) == index


def test_minus_one_and_255_are_different_serials():
    index = RevokedIndex.from_entries([(b"\xff", 0, 1)])
    assert index.lookup(b"\xff") is not None
    assert index.lookup(b"\x00\xff") is None


def test_a_serial_longer_than_any_listed_is_simply_not_found():
    index = RevokedIndex.from_entries([(b"\x01", 0, 1)])
    assert index.lookup(b"\x01" * 30) is None


def test_duplicate_serials_are_kept_once():
    index = RevokedIndex.from_entries([(b"\x05", 10, 1), (b"\x05", 20, 1)])
    assert len(index) == 1


def test_one_hundred_thousand_twenty_octet_serials_cost_under_32_bytes_each():
    rng = random.Random(3)
    entries = [
        (b"\x01" + rng.randbytes(19), epoch_seconds(datetime(2026, 1, 1, tzinfo=UTC)), 1)
        for _ in range(100_000)
    ]
    index = RevokedIndex.from_entries(entries)
    assert index.nbytes / len(index) <= 31
    serial = entries[12345][0]
    found = index.lookup(serial)
    assert found is not None
    assert found.serial == serial
