"""Index files for the CRL workers and the replicas: read back or mapped, the same index."""

from __future__ import annotations

from pathlib import Path

import pytest

from revocd.revoked import RevokedIndex, make_key
from revocd.spill import load_index, mapped_index, remove, spill_index


def _index(runs: tuple[int, ...]) -> RevokedIndex:
    """Sorted runs of records at key width 4, serials numbered across the runs."""
    records, first = [], 0
    for count in runs:
        run = [
            make_key((first + i).to_bytes(3, "big"), 4) + (first + i).to_bytes(8, "big") + b"\x01"
            for i in range(count)
        ]
        records.append(b"".join(sorted(run, reverse=False)))
        first += count
    return RevokedIndex(4, b"".join(records), runs if len(runs) > 1 else ())


@pytest.mark.parametrize(
    "runs", [(), (1,), (5000,), (3000, 2000)], ids=["empty", "one", "one-run", "two-runs"]
)
def test_an_index_file_reads_and_maps_back_to_the_same_index(
    tmp_path: Path, runs: tuple[int, ...]
) -> None:
    index = _index(runs) if runs else RevokedIndex.empty()
    path = spill_index(index, str(tmp_path))
    try:
        assert load_index(path) == index
        with mapped_index(path) as mapped:
            assert (mapped.key_width, mapped.runs, len(mapped)) == (
                index.key_width,
                index.runs,
                len(index),
            )
            assert list(mapped) == list(index)
            for revocation in list(index)[::97]:
                assert mapped.lookup(revocation.serial) == revocation
    finally:
        remove(path)


def test_a_mapped_index_stays_whole_when_its_file_is_removed(tmp_path: Path) -> None:
    """The worker's caller removes the files as soon as the diff returns; a mapping taken
    before keeps the records (the kernel frees them with the last user)."""
    index = _index((4000,))
    path = spill_index(index, str(tmp_path))
    with mapped_index(path) as mapped:
        remove(path)
        assert list(mapped) == list(index)


def test_a_truncated_index_file_is_refused(tmp_path: Path) -> None:
    path = spill_index(_index((4000,)), str(tmp_path))
    with open(path, "r+b") as file:
        file.truncate(Path(path).stat().st_size - 7)
    with pytest.raises(ValueError, match="whole number of records"):
        load_index(path)
    with pytest.raises(ValueError, match="whole number of records"), mapped_index(path):
        pass
