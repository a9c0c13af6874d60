"""Verifying a CRL in the process pool, splitting a big one across the workers.

Checking a CRL (size, DER, issuer, signature, times, extensions, scope) is cheap; walking
a million entries is not (about 1.2 s of Python). So a big CRL is checked in one worker,
then its entry list is cut in as many parts as there are workers and walked in parallel,
each part sorted on its own; the index keeps the parts as sorted runs.

The CRL travels to the workers as a temporary file, not as a pickled argument: writing a
file releases the GIL, while pickling 40 MB would stall the event loop for tens of ms.

A cut point is a guess (`find_boundary`); the walk of the part before it proves it (that
walk must land exactly on it). If it does not, the list is walked in one piece: a wrong
guess costs time, never correctness, and errors in later parts count only once their
start is proven.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from revocd.evidence import CrlEvidence
from revocd.revoked import Revocation, RevokedIndex
from revocd.spill import (
    mapped_file,
    mapped_index,
    remove,
    spill,
    spill_index,
    temporary_prefix,
)
from revocd.verify.crl import CheckedCrl, CrlCheckContext, check_crl, verify_crl, with_entries
from revocd.verify.entries import BoundaryMiss, find_boundary, walk_sorted
from revocd.verify.history import sticky_additions

PARALLEL_FROM_BYTES = 4 * 1024 * 1024
DEFAULT_WIDTH = 21
_WRITE_BUFFER = 64 * 1024  # under glibc's mmap threshold: the same heap memory each time


@dataclass(frozen=True, slots=True)
class CrlVerifier:
    executor: Executor | None
    parts: int = 2

    async def verify(self, body: bytes, ctx: CrlCheckContext) -> CrlEvidence:
        loop = asyncio.get_running_loop()
        if len(body) < PARALLEL_FROM_BYTES or self.parts < 2:
            evidence = await loop.run_in_executor(self.executor, _verify_small, body, ctx)
            return evidence if evidence.der else CrlEvidence(evidence.meta, evidence.index, body)
        prefix = temporary_prefix("crl")
        path = await asyncio.to_thread(spill, [body], prefix=prefix, suffix=".der")
        try:
            checked: CheckedCrl = await loop.run_in_executor(self.executor, _check_file, path, ctx)
            der = body
            if checked.der:  # PEM: the workers walk the decoded DER
                der = checked.der
                await asyncio.to_thread(Path(path).write_bytes, der)
            index, count = await self._walk(path, der, checked.entries_start, checked.entries_end)
        finally:
            await asyncio.to_thread(remove, path)
        return with_entries(checked, der, index, count)

    async def sticky_additions(self, older: RevokedIndex, newer: RevokedIndex) -> list[Revocation]:
        """`history.sticky_additions` in the pool. The two indexes go to the worker as files,
        as the CRL does: pickling two 30 MB indexes would hold this process's GIL, and so
        stall serving, for tens of milliseconds."""
        loop = asyncio.get_running_loop()
        old_path = await asyncio.to_thread(spill_index, older)
        new_path = await asyncio.to_thread(spill_index, newer)
        try:
            return await loop.run_in_executor(self.executor, _sticky_from_files, old_path, new_path)
        finally:
            await asyncio.to_thread(remove, old_path, new_path)

    async def _walk(self, path: str, der: bytes, start: int, end: int) -> tuple[RevokedIndex, int]:
        loop = asyncio.get_running_loop()
        cuts = [start]
        step = (end - start) // self.parts
        for i in range(1, self.parts):
            guess = find_boundary(der, start, end, start + i * step) if step else None
            if guess is not None and guess > cuts[-1]:
                cuts.append(guess)
        cuts.append(end)
        width = DEFAULT_WIDTH
        outputs = [f"{path}.{i}" for i in range(len(cuts) - 1)]
        try:
            while True:
                jobs = [
                    loop.run_in_executor(
                        self.executor,
                        _walk_file_part,
                        path,
                        a,
                        b,
                        width,
                        i < len(cuts) - 2,
                        outputs[i],
                    )
                    for i, (a, b) in enumerate(itertools.pairwise(cuts))
                ]
                results = await asyncio.gather(*jobs, return_exceptions=True)
                # in order: a part's errors count once its start is proven
                for result in results:
                    if isinstance(result, BoundaryMiss):
                        return await self._walk_whole(path, start, end)
                    if isinstance(result, BaseException):
                        raise result
                parts = [r for r in results if not isinstance(r, BaseException)]
                widths = {w for w, _ in parts}
                if len(widths) == 1:
                    counts = [count for _, count in parts]
                    # the CRL's copy is done with: temporary space is often small
                    await asyncio.to_thread(remove, path)
                    blob = await asyncio.to_thread(_read_parts, outputs)
                    runs = tuple(counts) if len(counts) > 1 else ()
                    return RevokedIndex(widths.pop(), blob, runs), sum(counts)
                width = max(widths)  # some part had longer serials: redo all at one width
        finally:
            await asyncio.to_thread(remove, *outputs)

    async def _walk_whole(self, path: str, start: int, end: int) -> tuple[RevokedIndex, int]:
        loop = asyncio.get_running_loop()
        output = f"{path}.whole"
        try:
            width, count = await loop.run_in_executor(
                self.executor, _walk_file_part, path, start, end, DEFAULT_WIDTH, False, output
            )
            blob = await asyncio.to_thread(_read_parts, [output])
        finally:
            await asyncio.to_thread(remove, output)
        return RevokedIndex(width, blob), count


def _verify_small(body: bytes, ctx: CrlCheckContext) -> CrlEvidence:
    evidence = verify_crl(body, ctx)
    return evidence if evidence.der != body else CrlEvidence(evidence.meta, evidence.index, b"")


def _check_file(path: str, ctx: CrlCheckContext) -> CheckedCrl:
    """`check_crl` on the CRL in `path`, mapped rather than read (as in `_walk_file_part`)."""
    with mapped_file(path) as data:
        return check_crl(data, ctx)


def _walk_file_part(
    path: str, start: int, end: int, width: int, guessed_end: bool, output: str
) -> tuple[int, int]:
    """Walk one part of the CRL in `path`; its sorted records go to the file `output`
    (read back by the kernel, not unpickled in the serving process). Returns the key
    width used and the record count.

    The CRL is mapped, not read, and the records are written as they are, not joined:
    each is 20 MB of fresh memory per part and ingest, and faulting fresh pages in here
    slows the processes answering beside this one (docs/decisions/0008).
    """
    with mapped_file(path) as der:
        if len(der) < end:
            raise RuntimeError(f"{path} is shorter than expected")
        width, records = walk_sorted(der, start, end, width, guessed_end=guessed_end)
    with open(output, "wb", buffering=_WRITE_BUFFER) as file:
        file.writelines(records)
    return width, len(records)


def _read_parts(paths: list[str]) -> bytes:
    """The part files as one bytes object, read by the kernel while the GIL is free (parts
    returned as pickled results would be unpickled holding it: 30 MB stall serving for
    tens of milliseconds). The later parts are appended to the first, each removed once
    appended, so the parts never take more temporary space than the walk's output."""
    first, *rest = paths
    with open(first, "ab") as whole:
        for path in rest:
            with open(path, "rb") as part:
                shutil.copyfileobj(part, whole)
            remove(path)
    return Path(first).read_bytes()


def _sticky_from_files(older: str, newer: str) -> list[Revocation]:
    with mapped_index(older) as old_index, mapped_index(newer) as new_index:
        return sticky_additions(old_index, new_index)
