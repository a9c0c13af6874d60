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
import contextlib
import itertools
import os
import tempfile
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from revocd.evidence import CrlEvidence
from revocd.revoked import RevokedIndex
from revocd.verify.crl import CheckedCrl, CrlCheckContext, check_crl, verify_crl, with_entries
from revocd.verify.entries import BoundaryMiss, find_boundary, walk_chunk

PARALLEL_FROM_BYTES = 4 * 1024 * 1024
DEFAULT_WIDTH = 21


@dataclass(frozen=True, slots=True)
class CrlVerifier:
    executor: Executor | None
    parts: int = 2

    async def verify(self, body: bytes, ctx: CrlCheckContext) -> CrlEvidence:
        loop = asyncio.get_running_loop()
        if len(body) < PARALLEL_FROM_BYTES or self.parts < 2:
            evidence = await loop.run_in_executor(self.executor, _verify_small, body, ctx)
            return evidence if evidence.der else CrlEvidence(evidence.meta, evidence.index, body)
        path = await asyncio.to_thread(_spill, body)
        try:
            checked: CheckedCrl = await loop.run_in_executor(self.executor, _check_file, path, ctx)
            der = body
            if checked.der:  # PEM: the workers walk the decoded DER
                der = checked.der
                await asyncio.to_thread(Path(path).write_bytes, der)
            index, count = await self._walk(path, der, checked.entries_start, checked.entries_end)
        finally:
            await asyncio.to_thread(_unlink, path)
        return with_entries(checked, der, index, count)

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
        while True:
            jobs = [
                loop.run_in_executor(
                    self.executor, _walk_file_part, path, a, b, width, i < len(cuts) - 2
                )
                for i, (a, b) in enumerate(itertools.pairwise(cuts))
            ]
            results = await asyncio.gather(*jobs, return_exceptions=True)
            for result in results:  # in order: a part's errors count once its start is proven
                if isinstance(result, BoundaryMiss):
                    return await self._walk_whole(path, start, end)
                if isinstance(result, BaseException):
                    raise result
            widths = {r[0] for r in results if not isinstance(r, BaseException)}
            if len(widths) == 1:
                parts = [r for r in results if not isinstance(r, BaseException)]
                return (
                    RevokedIndex.concat(width := widths.pop(), [p[1] for p in parts]),
                    sum(p[2] for p in parts),
                )
            width = max(widths)  # some part had longer serials: redo all at one width

    async def _walk_whole(self, path: str, start: int, end: int) -> tuple[RevokedIndex, int]:
        loop = asyncio.get_running_loop()
        width, blob, count = await loop.run_in_executor(
            self.executor, _walk_file_part, path, start, end, DEFAULT_WIDTH, False
        )
        return RevokedIndex(width, blob), count


def _verify_small(body: bytes, ctx: CrlCheckContext) -> CrlEvidence:
    evidence = verify_crl(body, ctx)
    return evidence if evidence.der != body else CrlEvidence(evidence.meta, evidence.index, b"")


def _spill(body: bytes) -> str:
    with tempfile.NamedTemporaryFile(prefix="revocd-crl-", suffix=".der", delete=False) as f:
        f.write(body)
        return f.name


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _check_file(path: str, ctx: CrlCheckContext) -> CheckedCrl:
    data = Path(path).read_bytes()
    return check_crl(data, ctx)


def _walk_file_part(
    path: str, start: int, end: int, width: int, guessed_end: bool
) -> tuple[int, bytes, int]:
    with open(path, "rb") as handle:
        handle.seek(start)
        part = handle.read(end - start)
    if len(part) != end - start:
        raise RuntimeError(f"{path} is shorter than expected")
    return walk_chunk(part, 0, len(part), width, guessed_end=guessed_end)
