"""Temporary files for the CRL workers and the replicas: an index read back or mapped is the
same index; what a killed revocd left is removed, what a running one holds is kept."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from revocd.revoked import RevokedIndex, make_key
from revocd.spill import (
    load_index,
    mapped_index,
    remove,
    remove_leftovers,
    spill,
    spill_index,
    temporary_prefix,
)


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


def _tag_of_a_gone_process() -> str:
    """`revocd-<pid>.<start>.<namespace>-` of a process that ran and was killed."""
    child = subprocess.Popen(["sleep", "60"])
    try:
        start = Path(f"/proc/{child.pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[19]
    finally:
        child.kill()
        child.wait()
    return f"revocd-{child.pid}.{int(start)}.{os.stat('/proc/self/ns/pid').st_ino}-"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
def test_leftovers_of_a_killed_revocd_are_removed_and_a_running_ones_kept(tmp_path: Path) -> None:
    gone = _tag_of_a_gone_process()
    left_file = tmp_path / f"{gone}crl-x1.der"
    left_file.write_bytes(b"\x30" * 100)
    left_folder = tmp_path / f"{gone}evidence-x2"
    left_folder.mkdir()
    (left_folder / "revocd-index-x3.index").write_bytes(b"\x02")
    running = Path(spill([b"kept"], prefix=temporary_prefix("crl"), folder=str(tmp_path)))
    namespace = os.stat("/proc/self/ns/pid").st_ino
    reused_pid = tmp_path / f"revocd-{os.getpid()}.1.{namespace}-crl-x4.der"  # another start
    reused_pid.write_bytes(b"")
    elsewhere = gone.replace(f".{namespace}-", f".{namespace + 1}-")  # another pid namespace
    others = [
        tmp_path / f"{elsewhere}crl-x6.der",
        tmp_path / "revocd-demo-x5",
        tmp_path / "unrelated.txt",
    ]
    for other in others:
        other.write_bytes(b"")

    removed = remove_leftovers(str(tmp_path))

    assert sorted(removed) == sorted(str(p) for p in (left_file, left_folder, reused_pid))
    assert sorted(tmp_path.iterdir()) == sorted([running, *others])
    assert remove_leftovers(str(tmp_path)) == []
