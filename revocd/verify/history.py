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

from revocd.der import ReadOnlyBytes
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
    hold = RevocationReason.CERTIFICATE_HOLD
    return [
        found
        for serial in sorted(_dropped_serials(older, newer))
        if (found := older.lookup(serial)) is not None and found.reason != hold
    ]


def _dropped_serials(older: RevokedIndex, newer: RevokedIndex) -> set[bytes]:
    """The serials `older` lists and `newer` does not.

    Same key width (nearly always): each sorted run of `older` is compared with the run of
    `newer` at the same position, over the index bytes themselves. That finds candidates
    only, since a walk's runs are parts of the entry list and an entry near a cut may sit in
    another run of the newer CRL; each candidate is then looked up in all of `newer`. No
    per-entry objects are made for the shared entries: for two 1,000,000-entry CRLs this
    used to be 2,000,000 keys (about 200 MB of fresh memory in the worker, whose page
    faults slowed the processes answering beside it).

    Otherwise (longer serials appeared, or the runs hardly line up, as when a CA reorders
    its list), every key is compared, in one sorted run per index, padded to one width.
    """
    if older.key_width == newer.key_width:
        candidates = _candidates(older, newer)
        if len(candidates) <= len(older) // _MOST_LOOKUPS:
            return {s for key in candidates if newer.lookup(s := serial_of(key)) is None}
    width = max(older.key_width, newer.key_width)
    old_keys = b"".join(older.sorted_keys(width))
    new_keys = b"".join(newer.sorted_keys(width))
    keys = _missing_in_run(
        old_keys, range(len(old_keys)), new_keys, range(len(new_keys)), width, width
    )
    return {serial_of(key) for key in keys}


def _candidates(older: RevokedIndex, newer: RevokedIndex) -> list[bytes]:
    """The keys of each run of `older` that the run of `newer` at its position lacks."""
    old_runs, new_runs = older.run_bounds(), newer.run_bounds()
    candidates: list[bytes] = []
    for i, old_run in enumerate(old_runs):
        new_run = new_runs[min(i, len(new_runs) - 1)]
        candidates += _missing_in_run(
            older.blob, old_run, newer.blob, new_run, older.key_width, older.record_size
        )
    return candidates


_BLOCK = 64  # keys compared at once
_MOST_LOOKUPS = 4  # candidates beyond a quarter of the entries: a lookup each costs more


def _missing_in_run(
    old: ReadOnlyBytes, old_run: range, new: ReadOnlyBytes, new_run: range, width: int, size: int
) -> list[bytes]:
    """The keys of the sorted records at `old_run` (byte offsets of `old`) that the sorted
    records at `new_run` of `new` lack (records of `size` octets, keys of `width`).

    Consecutive CRLs share nearly all their entries, so a block of records is compared at
    once (one bytes comparison, in C) and merged key by key only where the blocks differ.
    """
    missing: list[bytes] = []
    block = _BLOCK * size
    i, old_end = old_run.start, old_run.stop
    j, new_end = new_run.start, new_run.stop
    while i < old_end:
        if old[i : min(i + block, old_end)] == new[j : min(j + block, new_end)]:
            i += block
            j += block
            continue
        stop = min(i + block, old_end)
        while i < stop:
            key = old[i : i + width]
            other = new[j : j + width] if j < new_end else None
            if other is None or key < other:
                missing.append(key)
                i += size
            elif key == other:
                i += size
                j += size
            else:
                j += size
    return missing
