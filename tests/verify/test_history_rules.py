"""History: rollback, equivocation, older thisUpdate, mirrors behind, sticky additions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from revocd.errors import Rejected
from revocd.evidence import CrlMeta
from revocd.revoked import NO_REASON, RevokedIndex
from revocd.verify.history import check_history, sticky_additions
from tests.support.pki import T0


def meta(number, minutes=0, content="a", url="http://a"):
    tbs = (content + str(number) + str(minutes)).encode().ljust(32, b".")
    return CrlMeta(
        url, number, T0 + timedelta(minutes=minutes), T0 + timedelta(days=1), b"d" * 32, tbs, 0, T0
    )


@pytest.mark.parametrize(
    ("candidate", "last", "newest", "outcome"),
    [
        (meta(1), None, None, "newest"),
        (meta(2, 1), meta(1), meta(1), "newest"),
        (meta(1), meta(1), meta(1), "identical"),
        (meta(1, 5), meta(2), meta(2), "rollback"),
        (meta(2, 1, "b"), meta(2), meta(2), "equivocation"),
        (meta(3, -10), meta(2), meta(2), "older_than_accepted"),
        (meta(1, url="file:///m"), None, meta(2), "behind"),
        (meta(2, 0, "b", url="file:///m"), None, meta(2), "equivocation"),
        (meta(2, url="file:///m"), None, meta(2), "caught-up"),
        (meta(None, 1), meta(2), meta(2), "rollback"),
        (meta(None, 1), meta(None), meta(None), "newest"),
    ],
    ids=[
        "first-crl",
        "higher-number",
        "same-content",
        "lower-number",
        "same-number-other-content",
        "older-this-update",
        "mirror-behind",
        "mirrors-equivocate",
        "mirror-caught-up",
        "number-disappears",
        "unnumbered-crls-by-time",
    ],
)
def test_history(candidate, last, newest, outcome):
    if outcome in ("rollback", "equivocation", "older_than_accepted"):
        with pytest.raises(Rejected) as refused:
            check_history(candidate, last, newest, "partner acme / issuer i / url")
        assert refused.value.reason.value == outcome
        assert "partner acme" in refused.value.detail
        assert "keeping CRL" in refused.value.detail
        return
    verdict = check_history(candidate, last, newest, "src")
    assert verdict.identical is (outcome == "identical")
    assert verdict.becomes_newest is (outcome == "newest")
    assert verdict.behind is (outcome == "behind")


def test_sticky_additions_keep_dropped_revocations_but_release_holds():
    older = RevokedIndex.from_entries(
        [(b"\x01", 10, 1), (b"\x02", 20, 6), (b"\x03", 30, NO_REASON), (b"\x04", 40, 1)]
    )
    newer = RevokedIndex.from_entries([(b"\x04", 40, 1)])
    added = sticky_additions(older, newer)
    assert [(r.serial, r.reason) for r in added] == [(b"\x01", 1), (b"\x03", None)]
    assert sticky_additions(RevokedIndex.empty(), newer) == []
