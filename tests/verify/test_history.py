"""History: rollback, equivocation, older thisUpdate, mirrors behind, sticky additions."""

from __future__ import annotations

import hashlib
import itertools
import tracemalloc
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revocd.errors import Rejected
from revocd.evidence import CrlMeta, RejectReason, RevocationReason
from revocd.revoked import NO_REASON, Revocation, RevokedIndex, from_epoch, make_key
from revocd.serials import content_from_int
from revocd.verify.crl import verify_crl
from revocd.verify.history import HistoryVerdict, check_history, sticky_additions
from tests.support.pki import T0
from tests.verify.helpers import ISSUING, crl, ctx

PRIMARY = "http://pki.acme.example/issuing.crl"
MIRROR = "file:///srv/mirror/issuing.crl"
SOURCE = "partner acme / issuer acme-issuing / http://pki.acme.example/issuing.crl"


def meta(number: int | None, minutes: int = 0, content: str = "a", url: str = PRIMARY) -> CrlMeta:
    """A CRL's meta: same (number, minutes, content) means same tbsCertList."""
    tbs = hashlib.sha256(f"{content}/{number}/{minutes}".encode()).digest()
    when = T0 + timedelta(minutes=minutes)
    return CrlMeta(url, number, when, when + timedelta(days=1), tbs, tbs, 0, when)


NEWEST = HistoryVerdict(identical=False, becomes_newest=True, behind=False)
IDENTICAL = HistoryVerdict(identical=True, becomes_newest=False, behind=False)
BEHIND = HistoryVerdict(identical=False, becomes_newest=False, behind=True)
CAUGHT_UP = HistoryVerdict(identical=False, becomes_newest=False, behind=False)

CASES = [
    ("first-crl", meta(1), None, None, NEWEST),
    ("first-crl-of-a-new-mirror", meta(3, 5, url=MIRROR), None, meta(2), NEWEST),
    ("higher-number", meta(2, 60), meta(1), meta(1), NEWEST),
    ("identical", meta(1), meta(1), meta(1), IDENTICAL),
    ("identical-served-by-a-mirror", meta(1, url=MIRROR), meta(1, url=MIRROR), meta(1), IDENTICAL),
    ("lower-number", meta(1, 120), meta(2), meta(2), RejectReason.ROLLBACK),
    ("crl-number-disappears", meta(None, 60), meta(2), meta(2), RejectReason.ROLLBACK),
    ("same-number-other-content", meta(2, 1, "b"), meta(2), meta(2), RejectReason.EQUIVOCATION),
    (
        "mirrors-equivocate",
        meta(2, 0, "b", url=MIRROR),
        None,
        meta(2),
        RejectReason.EQUIVOCATION,
    ),
    (
        "mirror-equivocates-after-its-own-history",
        meta(3, 10, "b", url=MIRROR),
        meta(2, url=MIRROR),
        meta(3, 10),
        RejectReason.EQUIVOCATION,
    ),
    (
        "higher-number-but-older-this-update",
        meta(3, -10),
        meta(2),
        meta(2),
        RejectReason.OLDER_THAN_ACCEPTED,
    ),
    ("mirror-behind", meta(1, url=MIRROR), None, meta(2), BEHIND),
    ("mirror-still-behind", meta(2, 5, url=MIRROR), meta(1, url=MIRROR), meta(3, 10), BEHIND),
    ("mirror-caught-up", meta(2, url=MIRROR), meta(1, url=MIRROR), meta(2), CAUGHT_UP),
    ("mirror-ahead", meta(3, 10, url=MIRROR), meta(2, url=MIRROR), meta(2), NEWEST),
    ("unnumbered-newer-this-update", meta(None, 60), meta(None), meta(None), NEWEST),
    (
        "unnumbered-older-this-update",
        meta(None, -60),
        meta(None),
        meta(None),
        RejectReason.OLDER_THAN_ACCEPTED,
    ),
    ("number-appears", meta(1, 60), meta(None), meta(None), NEWEST),
]


@pytest.mark.parametrize(
    ("candidate", "last", "newest", "outcome"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_history(
    candidate: CrlMeta,
    last: CrlMeta | None,
    newest: CrlMeta | None,
    outcome: HistoryVerdict | RejectReason,
) -> None:
    if isinstance(outcome, RejectReason):
        with pytest.raises(Rejected) as refused:
            check_history(candidate, last, newest, SOURCE)
        assert refused.value.reason is outcome
        assert SOURCE in refused.value.detail  # says which partner/issuer/URL
        assert "keeping CRL" in refused.value.detail  # and what revocd still uses
        return
    assert check_history(candidate, last, newest, SOURCE) == outcome


def test_history_of_real_crls() -> None:
    first = verify_crl(crl(5, number=7), ctx(ISSUING)).meta
    again = verify_crl(crl(5, number=7), ctx(ISSUING)).meta  # re-signed: ECDSA differs
    later = verify_crl(crl(5, 6, number=8, this_update=T0 + timedelta(minutes=30)), ctx(ISSUING))
    assert check_history(first, first, first, SOURCE) == IDENTICAL
    assert check_history(again, first, first, SOURCE) == IDENTICAL  # same tbsCertList
    assert check_history(later.meta, first, first, SOURCE) == NEWEST
    with pytest.raises(Rejected) as refused:
        check_history(first, later.meta, later.meta, SOURCE)
    assert refused.value.reason is RejectReason.ROLLBACK
    assert "CRL number 7 is lower than accepted 8" in refused.value.detail
    changed = verify_crl(crl(5, 9, number=7), ctx(ISSUING)).meta
    with pytest.raises(Rejected) as refused:
        check_history(changed, first, first, SOURCE)
    assert refused.value.reason is RejectReason.EQUIVOCATION


def index(*entries: tuple[int, int]) -> RevokedIndex:
    """serial -> reason code (NO_REASON for none); revoked at epoch second = serial."""
    return RevokedIndex.from_entries([(bytes([s]), s, reason) for s, reason in entries])


KC, HOLD = RevocationReason.KEY_COMPROMISE, RevocationReason.CERTIFICATE_HOLD


@pytest.mark.parametrize(
    ("older", "newer", "kept"),
    [
        (index(), index((1, KC)), []),
        (index((1, KC)), index((1, KC), (2, KC)), []),
        (index((1, KC), (2, NO_REASON), (3, KC)), index((3, KC)), [(1, KC), (2, None)]),
        (index((1, HOLD), (2, KC)), index(), [(2, KC)]),
        (index((1, HOLD)), index((1, KC)), []),
        (index((1, KC), (2, HOLD)), index((2, HOLD)), [(1, KC)]),
    ],
    ids=[
        "nothing-before",
        "nothing-dropped",
        "expired-entries-stay-revoked",
        "hold-released",
        "hold-made-permanent",
        "hold-still-listed",
    ],
)
def test_sticky_additions(
    older: RevokedIndex, newer: RevokedIndex, kept: list[tuple[int, int | None]]
) -> None:
    assert sticky_additions(older, newer) == [
        Revocation(bytes([s]), from_epoch(s), reason) for s, reason in kept
    ]


def _walked(serials: list[bytes], parts: int, width: int) -> RevokedIndex:
    """As the parallel walk builds a big CRL's index: consecutive parts, each sorted on its
    own, at one key width."""
    cuts = [len(serials) * i // parts for i in range(parts + 1)]
    runs = [
        sorted(make_key(s, width) + bytes(8) + bytes([KC]) for s in serials[a:b])
        for a, b in itertools.pairwise(cuts)
    ]
    counts = tuple(len(run) for run in runs)
    return RevokedIndex(width, b"".join(b"".join(run) for run in runs), counts if parts > 1 else ())


serial_lists = st.lists(
    st.integers(min_value=-(2**159), max_value=2**159).map(content_from_int),
    unique=True,
    max_size=400,
)


@given(
    serial_lists,
    serial_lists,
    st.integers(1, 4),
    st.integers(1, 4),
    # key padding of each index: as often the same (consecutive CRLs of a CA) as not
    st.integers(0, 3).map(lambda pad: (pad, pad)) | st.tuples(st.integers(0, 3), st.integers(0, 3)),
    st.integers(2, 60),
)
def test_sticky_additions_are_exactly_the_dropped_serials(
    older: list[bytes],
    newer_extra: list[bytes],
    older_parts: int,
    newer_parts: int,
    pads: tuple[int, int],
    every: int,
) -> None:
    """Any two indexes, however many runs and whatever key widths: what the older lists
    and the newer does not, in serial order (the block comparison must not skip any).
    With one key width and few entries dropped, as consecutive CRLs of a CA, runs cut at
    slightly different entries: an entry near a cut may sit in another run of the newer
    CRL, and must not count as dropped."""
    dropped = set(older[::every])  # consecutive CRLs share most entries; some expire
    newer = [s for s in older if s not in dropped] + [s for s in newer_extra if s not in older]
    widest = 1 + max((len(s) for s in older + newer), default=0)
    old_index = _walked(older, older_parts, widest + pads[0])
    new_index = _walked(newer, newer_parts, widest + pads[1])
    expected = sorted(set(older) - set(newer))
    assert [r.serial for r in sticky_additions(old_index, new_index)] == expected


def test_a_serial_listed_twice_and_still_listed_is_not_dropped() -> None:
    twice = make_key(b"\x07", 2) + bytes(8) + bytes([KC])
    others = [make_key(bytes([s]), 2) + bytes(8) + bytes([KC]) for s in range(8, 40)]
    older = RevokedIndex(2, b"".join(sorted([twice, twice, *others])))
    newer = RevokedIndex(2, b"".join(sorted([twice, *others[1:]])))
    assert [r.serial for r in sticky_additions(older, newer)] == [b"\x08"]


def test_the_sticky_diff_of_consecutive_crls_makes_no_object_per_entry() -> None:
    """Two 100,000-entry indexes that share their entries: the diff compares their bytes,
    and does not build a key per entry (that was 200 MB of fresh memory per 1,000,000-entry
    ingest in the CRL worker, and its page faults slowed the processes answering)."""
    serials = [content_from_int(n) for n in range(1_000_000, 1_100_000)]
    older = _walked(serials, 2, 21)
    newer = _walked(serials[3:], 2, 21)
    tracemalloc.start()
    try:
        additions = sticky_additions(older, newer)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r.serial for r in additions] == serials[:3]
    assert peak < 1_000_000  # one key per entry would be over 6 MB
