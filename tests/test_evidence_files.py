"""Big evidence goes to the replicas as files: written once, read back whole, replaced
and removed; a failure falls back to the pickled message, never to missing evidence."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

from revocd.evidence_files import SPILL_FROM_BYTES, EvidenceFiles, Spilled, read_spilled
from revocd.revoked import RevokedIndex
from revocd.status.answer import IssuerEvidence


def _evidence(entries: int, seed: int = 1) -> IssuerEvidence:
    rng = random.Random(seed)
    index = RevokedIndex.from_entries(
        (rng.getrandbits(127).to_bytes(16, "big"), i, 1) for i in range(entries)
    )
    return IssuerEvidence("acme-issuing", timedelta(hours=1), None, index)


def _index_files(folder: Path) -> list[Path]:
    return list(folder.glob("revocd-*-evidence-*/*.index"))


def _anything(folder: Path) -> list[Path]:
    return list(folder.iterdir())


BIG = SPILL_FROM_BYTES // 20  # entries: ~26 octets each, so more than SPILL_FROM_BYTES


async def test_small_evidence_is_sent_as_it_is(tmp_path: Path) -> None:
    files = EvidenceFiles(str(tmp_path))
    small = _evidence(100)
    assert files.outgoing(small) == ("evidence", small)
    assert _anything(tmp_path) == []


async def test_big_evidence_is_written_once_and_read_back_whole(tmp_path: Path) -> None:
    files = EvidenceFiles(str(tmp_path))
    big = _evidence(BIG)
    assert big.index.nbytes >= SPILL_FROM_BYTES
    first = files.outgoing(big)
    assert isinstance(first, Spilled)
    assert files.outgoing(big) is first  # a second replica (or a restarted one) reuses it
    message = await first.message()
    assert message[0] == "evidence_file"
    assert len(message[1].index) == 0  # the pipe carries the path, not the 1 MB
    assert read_spilled(*message[1:]) == ("evidence", big)
    assert len(_index_files(tmp_path)) == 1
    await files.close()
    assert _anything(tmp_path) == []


async def test_newer_evidence_replaces_the_file_and_the_older_message_is_skipped(
    tmp_path: Path,
) -> None:
    files = EvidenceFiles(str(tmp_path))
    older, newer = files.outgoing(_evidence(BIG, 1)), files.outgoing(_evidence(BIG, 2))
    assert isinstance(older, Spilled)
    assert isinstance(newer, Spilled)
    older_message, newer_message = await older.message(), await newer.message()
    assert read_spilled(*older_message[1:]) is None  # gone: the newer one is next in the pipe
    assert read_spilled(*newer_message[1:]) == ("evidence", newer.evidence)
    assert len(_index_files(tmp_path)) == 1
    await files.close()


async def test_without_a_folder_big_evidence_is_pickled_instead(tmp_path: Path) -> None:
    files = EvidenceFiles(str(tmp_path / "missing"))
    big = _evidence(BIG)
    assert files.outgoing(big) == ("evidence", big)
