"""Versioned schema migrations, shared by the backends.

Migrations are `revocd/store/migrations/NNNN_name.sql`, applied in order; a database
records the highest applied number (SQLite: `PRAGMA user_version`). A database written by
a newer revocd (higher version than this code knows) is refused rather than guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    folder = resources.files("revocd.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations are not numbered 1..n without gaps: {versions}")
    return found


def latest_version() -> int:
    return len(migrations())


def pending(current: int) -> list[Migration]:
    return [m for m in migrations() if m.version > current]
