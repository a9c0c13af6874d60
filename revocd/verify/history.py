"""Compare a verified CRL with what was accepted before. Pure; no I/O, no clock.

Per source (one URL): the CRL number must not go down (`rollback`) and thisUpdate must
not go back (`older_than_accepted`). Per source and across an issuer's mirrors: the same
CRL number with a different tbsCertList is `equivocation`. A mirror whose CRL is older
than the issuer's newest (from another mirror) is *behind*: its CRL is accepted for the
source and reported, but it does not replace the issuer's newest, and it is not a
rollback of the issuer.
"""

from __future__ import annotations

from dataclasses import dataclass

from revocd.errors import Rejected
from revocd.evidence import CrlMeta, RejectReason, RevocationReason
from revocd.revoked import Revocation, RevokedIndex, serial_of


@dataclass(frozen=True, slots=True)
class HistoryVerdict:
    identical: bool  # same content as this source's last accepted CRL: nothing to do
    becomes_newest: bool  # replaces the issuer's newest CRL
    behind: bool  # older than the issuer's newest from another mirror


def _number(meta: CrlMeta) -> str:
    return str(meta.crl_number) if meta.crl_number is not None else "(none)"


def check_history(
    candidate: CrlMeta, source_last: CrlMeta | None, issuer_newest: CrlMeta | None, source: str
) -> HistoryVerdict:
    if source_last is not None:
        if candidate.tbs_sha256 == source_last.tbs_sha256:
            return HistoryVerdict(identical=True, becomes_newest=False, behind=False)
        check_rollback(candidate, source_last, source)
        check_equivocation(candidate, source_last, source, "this source's")
        check_not_older(candidate, source_last, source)
    if issuer_newest is None:
        return HistoryVerdict(identical=False, becomes_newest=True, behind=False)
    if candidate.tbs_sha256 == issuer_newest.tbs_sha256:  # a mirror caught up
        return HistoryVerdict(identical=False, becomes_newest=False, behind=False)
    check_equivocation(candidate, issuer_newest, source, "another mirror's")
    newer = candidate.is_newer_than(issuer_newest)
    return HistoryVerdict(identical=False, becomes_newest=newer, behind=not newer)


def check_rollback(candidate: CrlMeta, last: CrlMeta, source: str) -> None:
    if last.crl_number is None or candidate.crl_number is None:
        if last.crl_number is not None:
            raise Rejected(
                RejectReason.ROLLBACK,
                f"{source}: CRL has no CRL number but the accepted one has "
                f"{last.crl_number} (rollback); keeping CRL {last.crl_number}",
            )
        return
    if candidate.crl_number < last.crl_number:
        raise Rejected(
            RejectReason.ROLLBACK,
            f"{source}: CRL number {candidate.crl_number} is lower than accepted "
            f"{last.crl_number} (rollback); keeping CRL {last.crl_number}",
        )


def check_equivocation(candidate: CrlMeta, other: CrlMeta, source: str, whose: str) -> None:
    if candidate.crl_number is not None and candidate.crl_number == other.crl_number:
        raise Rejected(
            RejectReason.EQUIVOCATION,
            f"{source}: CRL number {candidate.crl_number} has different content from "
            f"{whose} accepted CRL {other.crl_number} ({other.source_url}) (equivocation); "
            f"keeping CRL {other.crl_number}",
        )


def check_not_older(candidate: CrlMeta, last: CrlMeta, source: str) -> None:
    if candidate.this_update < last.this_update:
        raise Rejected(
            RejectReason.OLDER_THAN_ACCEPTED,
            f"{source}: thisUpdate {candidate.this_update.isoformat()} is older than the "
            f"accepted CRL {_number(last)}'s {last.this_update.isoformat()}; keeping CRL "
            f"{_number(last)}",
        )


def sticky_additions(older: RevokedIndex, newer: RevokedIndex) -> list[Revocation]:
    """Entries of `older` that `newer` no longer lists, except released certificateHolds.

    A CA drops an entry when the certificate expires; revocd keeps it revoked (sticky).
    A certificateHold absent from a newer complete CRL is released (RFC 5280 5.3.1).
    """
    if not len(older):
        return []
    width = max(older.key_width, newer.key_width)
    dropped = missing_keys(older.sorted_keys(width), newer.sorted_keys(width))
    hold = RevocationReason.CERTIFICATE_HOLD
    return [
        found
        for serial in sorted(serial_of(key) for key in dropped)
        if (found := older.lookup(serial)) is not None and found.reason != hold
    ]


_BLOCK = 64  # keys compared at once


def missing_keys(older: list[bytes], newer: list[bytes]) -> list[bytes]:
    """The keys of sorted `older` that sorted `newer` lacks.

    Consecutive CRLs share nearly all their entries, so the two lists are compared a block
    at a time (one list comparison, in C) and merged key by key only where a block differs:
    for two 1,000,000-entry CRLs a few times cheaper than two sets, and without their
    ~100 MB.
    """
    missing: list[bytes] = []
    i = j = 0
    old_count, new_count = len(older), len(newer)
    while i < old_count:
        if older[i : i + _BLOCK] == newer[j : j + _BLOCK]:
            i += _BLOCK
            j += _BLOCK
            continue
        stop = min(i + _BLOCK, old_count)
        while i < stop:
            if j >= new_count or older[i] < newer[j]:
                missing.append(older[i])
                i += 1
            elif older[i] == newer[j]:
                i += 1
                j += 1
            else:
                j += 1
    return missing
