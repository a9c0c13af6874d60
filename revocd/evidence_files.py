"""An issuer's big evidence reaches the replicas as a file, not pickled through the pipe.

Pickling a 1,000,000-entry index (30 MB) holds the primary's GIL, and unpickling it the
replica's, for 20-40 ms each on a 2-core VM (fresh memory faults in page by page): two
stalls that every request in flight on either process waits through. Writing the index
to a file and reading it back copies in the kernel, with the GIL free.

The primary writes each big index once (whatever the number of replicas) and sends its
path: ``("evidence_file", IssuerEvidence without its index, path)``. One file per
issuer: writing a newer one removes the older. A replica that finds its file gone skips
that message, since the newer evidence that replaced it is next in its pipe. The folder
is removed when the replicas stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import tempfile
from dataclasses import dataclass

from revocd.revoked import RevokedIndex
from revocd.spill import load_index, remove, spill_index, temporary_prefix
from revocd.status.answer import IssuerEvidence

SPILL_FROM_BYTES = 1 << 20  # smaller indexes are pickled with the rest of the message
Evidence = tuple[str, IssuerEvidence]  # ("evidence", evidence)
EvidenceFile = tuple[str, IssuerEvidence, str]  # ("evidence_file", without index, path)


@dataclass(frozen=True)
class Spilled:
    """Evidence whose index is being (or has been) written to a file for the replicas."""

    evidence: IssuerEvidence
    path: asyncio.Task[str | None]  # None: the file could not be written

    async def message(self) -> Evidence | EvidenceFile:
        """What goes down the pipe: the path, or, if the file failed, the whole index."""
        path = await self.path
        if path is None:
            return ("evidence", self.evidence)
        return (
            "evidence_file",
            dataclasses.replace(self.evidence, index=RevokedIndex.empty()),
            path,
        )


class EvidenceFiles:
    """The primary's side: one file per issuer with big evidence, in a folder of its own."""

    def __init__(self, parent: str | None = None) -> None:
        self._parent = parent  # where the folder goes: the system's temporary directory
        self._folder: str | None = None
        self._latest: dict[str, Spilled] = {}

    def outgoing(self, evidence: IssuerEvidence) -> Evidence | Spilled:
        """The message for `evidence`: as is when small; else its file, written once (a
        replica started later reuses the file of the evidence still in force)."""
        if evidence.index.nbytes < SPILL_FROM_BYTES:
            return ("evidence", evidence)
        latest = self._latest.get(evidence.issuer)
        if latest is not None and latest.evidence is evidence:
            return latest
        if self._folder is None:
            try:
                prefix = temporary_prefix("evidence")
                self._folder = tempfile.mkdtemp(prefix=prefix, dir=self._parent)
            except OSError:
                return ("evidence", evidence)  # slower for serving, but just as right
        spilled = Spilled(evidence, asyncio.create_task(self._write(evidence.index, latest)))
        self._latest[evidence.issuer] = spilled
        return spilled

    async def close(self) -> None:
        for spilled in self._latest.values():
            with contextlib.suppress(asyncio.CancelledError):
                await spilled.path
        if self._folder is not None:
            await asyncio.to_thread(shutil.rmtree, self._folder, True)
        self._latest.clear()

    async def _write(self, index: RevokedIndex, previous: Spilled | None) -> str | None:
        try:
            path = await asyncio.to_thread(spill_index, index, self._folder)
        except OSError:
            path = None
        if previous is not None and (old := await previous.path) is not None:
            await asyncio.to_thread(remove, old)
        return path


def read_spilled(evidence: IssuerEvidence, path: str) -> Evidence | None:
    """The replica's side (on its pipe-reading thread), for ``("evidence_file", evidence,
    path)``: ``("evidence", ...)`` with the index read back from the file, or None when a
    newer file has replaced it."""
    try:
        index = load_index(path)
    except FileNotFoundError:
        return None
    return ("evidence", dataclasses.replace(evidence, index=index))
