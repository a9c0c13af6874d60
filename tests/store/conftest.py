"""The store contract runs against every backend: add "postgres" to BACKENDS when it lands.

A `Backend` knows how to make a store on one database (each `open()` call is a new store
object on the same database: a restart) and the few backend-specific things the contract
needs: put the database at a given schema version, and point a store somewhere unusable.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from revocd.store.base import Store
from revocd.store.migrate import load_migrations
from revocd.store.sqlite import SqliteStore, migrate

BACKENDS = ["sqlite"]


class SqliteBackend:
    name = "sqlite"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "revocd.db"
        self.opened: list[Store] = []

    def make(self) -> SqliteStore:
        return SqliteStore(self.path)

    async def open(self) -> SqliteStore:
        store = self.make()
        await store.open()
        self.opened.append(store)
        return store

    def latest_version(self) -> int:
        return load_migrations("sqlite")[-1].version

    async def create_at_version(self, version: int) -> None:
        """A database as an older revocd left it: only migrations 1..version applied."""
        with sqlite3.connect(self.path, isolation_level=None) as db:
            migrate(db, str(self.path), load_migrations("sqlite")[:version])
        db.close()

    async def stamp_version(self, version: int) -> None:
        with sqlite3.connect(self.path, isolation_level=None) as db:
            db.execute(f"PRAGMA user_version = {version}")
        db.close()

    def unusable(self) -> tuple[Store, str]:
        """A store that cannot open, and how its error must name the place: here a path
        whose parent is a regular file (permission bits would not stop root)."""
        blocker = self.folder / "not-a-directory"
        blocker.write_text("a file where the store's directory should be\n")
        path = blocker / "revocd.db"
        return SqliteStore(path), str(path)


Backend = SqliteBackend


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param != "sqlite":
        raise AssertionError(f"no factory for store backend {request.param!r}")
    made = SqliteBackend(tmp_path)
    yield made
    for store in reversed(made.opened):
        await store.close()


@pytest.fixture
async def sqlite_backend(tmp_path: Path) -> AsyncIterator[SqliteBackend]:
    """For the SQLite-specific tests, which run once whatever BACKENDS holds."""
    made = SqliteBackend(tmp_path)
    yield made
    for store in reversed(made.opened):
        await store.close()


@pytest.fixture
async def store(backend: Backend) -> Store:
    """A freshly opened store on a new database."""
    return await backend.open()
