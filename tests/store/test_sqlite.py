"""SQLite specifics: migrations, refusing what it cannot use, durability under SIGKILL."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from revocd.errors import StoreError
from revocd.store.migrate import latest_version
from revocd.store.sqlite import SqliteStore
from tests.support.daemon import REPO


async def test_a_new_store_gets_the_latest_schema(tmp_path):
    store = SqliteStore(tmp_path / "new.db")
    await store.open()
    assert await store.schema_version() == latest_version()
    assert await store.integrity_check() == "ok"
    await store.close()


async def test_a_store_from_a_newer_revocd_is_refused(tmp_path):
    path = tmp_path / "future.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StoreError, match=r"newer revocd \(schema 99"):
        await SqliteStore(path).open()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("garbage.db", b"this is not a database" * 100, "not a usable revocd store"),
        ("missing/dir/revocd.db", None, "cannot open"),
    ],
    ids=["not-a-database", "missing-directory"],
)
async def test_unusable_paths_are_refused_with_the_path_named(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(StoreError, match=message) as error:
        await SqliteStore(path).open()
    assert str(path) in str(error.value)


CRASH = textwrap.dedent(
    """
    import asyncio, hashlib, os, sys
    from datetime import datetime, timedelta, UTC
    from pathlib import Path
    from revocd.evidence import CrlEvidence, CrlMeta
    from revocd.revoked import RevokedIndex
    from revocd.store.base import Validators
    from revocd.store.sqlite import SqliteStore

    def ev(n, size):
        der = bytes([n % 256]) * size
        idx = RevokedIndex.from_entries([(bytes([1, n % 256]), 0, 1)])
        t = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
        meta = CrlMeta("u", n, t, t + timedelta(days=1), hashlib.sha256(der).digest(),
                       hashlib.sha256(der).digest(), 1, t)
        return CrlEvidence(meta, idx, der)

    async def main():
        store = SqliteStore(Path(sys.argv[1]))
        await store.open()
        await store.accept_crl("i", "s", ev(1, 1000), Validators(), [])
        print("accepted", flush=True)
        n = 2
        while True:
            await store.accept_crl("i", "s", ev(n, 20_000_000), Validators(), [])
            n += 1

    asyncio.run(main())
    """
)


def test_sigkill_mid_write_leaves_a_whole_crl(tmp_path):
    path = tmp_path / "crash.db"
    process = subprocess.Popen(
        [sys.executable, "-c", CRASH, str(path)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert process.stdout.readline().strip() == "accepted"
    time.sleep(0.3)  # a kill point inside a stream of 20 MB writes, not a wait for a condition
    process.kill()
    process.wait()
    process.stdout.close()

    async def check() -> None:
        store = SqliteStore(path)
        await store.open()
        assert await store.integrity_check() == "ok"
        loaded = await store.load_issuer("i", ["s"])
        n = loaded.crl.crl_number
        assert loaded.index.lookup(bytes([1, n % 256])) is not None  # index matches its CRL
        await store.close()

    asyncio.run(check())
