"""The store contract runs against every backend: add "postgres" to BACKENDS when it lands."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from revocd.store.base import Store
from revocd.store.sqlite import SqliteStore

BACKENDS = ["sqlite"]


def _factory(backend: str, tmp_path: Path) -> Callable[[], Store]:
    if backend == "sqlite":
        return lambda: SqliteStore(tmp_path / "revocd.db")
    raise AssertionError(backend)


@pytest.fixture(params=BACKENDS)
async def open_store(request, tmp_path) -> AsyncIterator[Callable[[], Awaitable[Store]]]:
    """Open a store on the same database each call (a new call is a restart)."""
    opened: list[Store] = []
    factory = _factory(request.param, tmp_path)

    async def open_() -> Store:
        store = factory()
        await store.open()
        opened.append(store)
        return store

    yield open_
    for store in reversed(opened):
        await store.close()
