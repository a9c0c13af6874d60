"""Versioned schema migrations, shared by the backends.

Each backend has its own folder of numbered SQL files,
``revocd/store/migrations/<backend>/NNNN_name.sql`` (SQLite and PostgreSQL differ in types
and DDL, so they do not share SQL; they share the numbering rules and the refusals here).
Versions run 1..n with no gaps. A database records the highest version applied to it:

* SQLite: ``PRAGMA user_version`` (an integer in the file header, written in the same
  transaction as the migration, so no table is needed and a crash mid-migration leaves
  the previous version whole);
* PostgreSQL (later): a one-row ``schema_version`` table, updated in the migration's
  transaction.

A database at a version higher than the newest migration shipped here was written by a
newer revocd: it is refused, never guessed at. A released migration is never edited; a
schema change is a new file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from revocd.errors import StoreError

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str  # the file name, for messages
    sql: str


def load_migrations(backend: str) -> tuple[Migration, ...]:
    """The backend's migrations, in order. Raises StoreError when they are missing or
    misnumbered (a broken install, not something an operator can fix in the config)."""
    folder = resources.files("revocd.store") / "migrations" / backend
    found = sorted(
        (
            Migration(int(match.group(1)), entry.name, entry.read_text("utf-8"))
            for entry in (folder.iterdir() if folder.is_dir() else ())
            if (match := _NAME.match(entry.name))
        ),
        key=lambda m: m.version,
    )
    versions = [m.version for m in found]
    if not found or versions != list(range(1, len(found) + 1)):
        raise StoreError(
            f"revocd/store/migrations/{backend}: expected migrations numbered 1..n, found "
            f"{versions}; reinstall revocd (the package data is incomplete)"
        )
    return tuple(found)


def plan(
    where: str, current: int, available: Sequence[Migration], *, setting: str = "[store] path"
) -> list[Migration]:
    """The migrations to apply to a database at version `current`, oldest first.

    `where` names the database in the message (a path, or a DSN without its password);
    `setting` is the config key that points at it.
    """
    latest = available[-1].version if available else 0
    if current > latest:
        raise StoreError(
            f"{where} was written by a newer revocd (schema {current}, this version knows "
            f"{latest}): upgrade revocd or point {setting} elsewhere"
        )
    return [m for m in available if m.version > current]
