"""Nothing accepted is lost to a SIGKILL, and a kill mid-write leaves no half CRL.

A child process accepts CRL 1, then accepts 20 MB CRLs 2, 3, ... in a loop, printing
`begin N` before and `accepted N` after each `accept_crl`. The test kills it while it is
writing, then reopens the file: the CRL found must be whole (its DER hashes to its
metadata, its index is its own) and at least as new as the last one reported accepted.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import textwrap
import time

from revocd.store.sqlite import SqliteStore
from tests.support.daemon import REPO

CHILD = textwrap.dedent(
    """
    import asyncio, hashlib, sys
    from datetime import UTC, datetime, timedelta
    from pathlib import Path
    from revocd.evidence import CrlEvidence, CrlMeta
    from revocd.revoked import RevokedIndex
    from revocd.store.base import Validators
    from revocd.store.sqlite import SqliteStore

    def crl(n, size):
        der = n.to_bytes(4, "big") * (size // 4)
        index = RevokedIndex.from_entries([(n.to_bytes(4, "big"), n, 1)])
        t = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
        digest = hashlib.sha256(der).digest()
        meta = CrlMeta("u", n, t, t + timedelta(days=1), digest, digest, 1, t)
        return CrlEvidence(meta, index, der)

    async def main():
        store = SqliteStore(Path(sys.argv[1]))
        await store.open()
        n, size = 1, 1000
        while True:
            print("begin", n, flush=True)
            await store.accept_crl("i", "s", crl(n, size), Validators(), [])
            print("accepted", n, flush=True)
            n, size = n + 1, 20_000_000

    asyncio.run(main())
    """
)


def test_sigkill_mid_write_keeps_every_accepted_crl_whole(tmp_path):
    path = tmp_path / "crash.db"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        lines = [child.stdout.readline().strip() for _ in range(3)]
        assert lines == ["begin 1", "accepted 1", "begin 2"]
        # a kill point inside the stream of 20 MB writes (each takes ~0.1 s); the
        # assertions hold wherever it lands
        time.sleep(0.15)
    finally:
        child.kill()
        child.wait()
    lines += child.stdout.read().split("\n")
    child.stdout.close()
    accepted = max(int(line.split()[1]) for line in lines if line.startswith("accepted"))
    begun = max(int(line.split()[1]) for line in lines if line.startswith("begin"))

    n = asyncio.run(check_whole(path))
    assert accepted <= n <= begun


async def check_whole(path) -> int:
    """Open the store after the crash; the CRL number found, once shown to be whole."""
    store = SqliteStore(path)
    await store.open()
    try:
        await store.integrity_check()
        loaded = await store.load_issuer("i", ["s"])
        n = loaded.crl.crl_number
        assert loaded.index.lookup(n.to_bytes(4, "big")) is not None  # its own index
        der = await store.load_der("s")
        assert hashlib.sha256(der).digest() == loaded.crl.der_sha256  # its own bytes, whole
        return n
    finally:
        await store.close()
