"""Benchmark: the embedded store with a 1,000,000-entry CRL.

Prints the time to accept (persist durably) a CRL with a 43 MB DER and a 1,000,000-entry
index (~26 MB), to replace it, to record a failed poll, and, after a restart (a new
SqliteStore on the same file; the OS page cache stays warm), to load the sources and
the issuer. Also: accepting 100,000 sticky revocations in one CRL, and loading them.
Targets (the daemon is ready within 3 s): accept and load_issuer well under 0.5 s each.

Usage: python bench/store_io.py [--entries N] [--dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from revocd.evidence import CrlEvidence, CrlMeta
from revocd.revoked import Revocation, RevokedIndex, from_epoch
from revocd.status.answer import StickyRevocation
from revocd.store.base import Validators
from revocd.store.sqlite import SqliteStore

T = TypeVar("T")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DER_BYTES = 43_000_000


def big_index(entries: int) -> RevokedIndex:
    """Sorted random 16-octet serials, with key width 17 (a length octet + 16)."""
    keys = sorted(b"\x10" + os.urandom(16) for _ in range(entries))
    tail = (1_700_000_000).to_bytes(8, "big") + b"\x01"
    return RevokedIndex(key_width=17, blob=b"".join(key + tail for key in keys))


def crl(number: int, index: RevokedIndex) -> CrlEvidence:
    der = os.urandom(DER_BYTES)
    this_update = T0 + timedelta(hours=number)
    meta = CrlMeta(
        source_url="http://pki.example/big.crl",
        crl_number=number,
        this_update=this_update,
        next_update=this_update + timedelta(days=1),
        der_sha256=hashlib.sha256(der).digest(),
        tbs_sha256=hashlib.sha256(der[:1000]).digest(),
        entry_count=len(index),
        accepted_at=this_update,
    )
    return CrlEvidence(meta, index, der)


async def timed(label: str, work: Awaitable[T]) -> T:
    start = time.perf_counter()
    result = await work
    print(f"{label:<44} {time.perf_counter() - start:7.3f} s")
    return result


async def run(folder: Path, entries: int) -> None:
    path = folder / "bench.db"
    print(f"building a {entries:,}-entry index and {DER_BYTES / 1e6:.0f} MB DER ...")
    index = big_index(entries)
    first, second = crl(1, index), crl(2, index)
    print(f"index: {index.nbytes / 1e6:.1f} MB ({index.record_size} B/entry)")
    source = "big/issuer/crl/http://pki.example/big.crl"
    sticky = [
        StickyRevocation(Revocation(i.to_bytes(16, "big"), from_epoch(0), 1), "u", 1)
        for i in range(100_000)
    ]

    store = SqliteStore(path)
    await timed("open (new file, migrate)", store.open())
    await timed("accept_crl (new source)", store.accept_crl("i", source, first, Validators(), []))
    await timed("accept_crl (replace)", store.accept_crl("i", source, second, Validators(), []))
    await timed("record_failure", store.record_failure(source, T0, "HTTP 503 from partner"))
    await timed(
        "accept_crl (+100,000 sticky)",
        store.accept_crl("s", "small", crl(3, RevokedIndex.empty()), Validators(), sticky),
    )
    await store.close()

    store = SqliteStore(path)
    await timed("open (restart)", store.open())
    await timed("load_sources", store.load_sources())
    loaded = await timed("load_issuer (1M-entry index)", store.load_issuer("i", [source]))
    assert len(loaded.index) == entries
    stuck = await timed("load_issuer (100,000 sticky)", store.load_issuer("s", ["small"]))
    assert len(stuck.sticky) == 100_000
    await store.close()
    print(f"file: {path.stat().st_size / 1e6:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, help="where to put the database (default: a temp dir)")
    args = parser.parse_args()
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
        asyncio.run(run(args.dir, args.entries))
        return
    with tempfile.TemporaryDirectory(prefix="revocd-store-bench-") as folder:
        asyncio.run(run(Path(folder), args.entries))


if __name__ == "__main__":
    main()
