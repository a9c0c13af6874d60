"""The embedded store: one SQLite file, used from one dedicated thread.

The event loop never touches the disk: every call runs on the store's single worker
thread (which also owns the connection, as sqlite3 requires). WAL journal with
`synchronous=FULL`: `accept_crl` returns only once the CRL and its sticky entries are
durable, so a SIGKILL or power loss after it returns loses nothing, and one during it
leaves the previous state intact (one `BEGIN IMMEDIATE` transaction).

Big things are BLOBs: the raw DER and the compact index of a 1,000,000-entry CRL are two
values in one row, so persisting and loading them costs one write and one read.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from revocd.errors import StoreError
from revocd.evidence import CrlEvidence, CrlMeta
from revocd.revoked import Revocation, RevokedIndex, epoch_seconds, from_epoch
from revocd.status.answer import StickyRevocation
from revocd.store.base import SourceRecord, StoredIssuer, Validators
from revocd.store.migrate import latest_version, pending

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(when: datetime | None) -> int | None:
    if when is None:
        return None
    return (when - _EPOCH) // timedelta(microseconds=1)


def from_micros(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + timedelta(microseconds=value)


def _number(text: str | None) -> int | None:
    return None if text is None else int(text)


def _meta(row: sqlite3.Row) -> CrlMeta | None:
    if row["this_update"] is None:
        return None
    this_update = from_micros(row["this_update"])
    next_update = from_micros(row["next_update"])
    accepted_at = from_micros(row["accepted_at"])
    assert this_update is not None
    assert next_update is not None
    assert accepted_at is not None
    return CrlMeta(
        source_url=row["source_url"],
        crl_number=_number(row["crl_number"]),
        this_update=this_update,
        next_update=next_update,
        der_sha256=row["der_sha256"],
        tbs_sha256=row["tbs_sha256"],
        entry_count=row["entry_count"],
        accepted_at=accepted_at,
    )


_META_COLUMNS = (
    "source_id, crl_number, this_update, next_update, der_sha256, tbs_sha256, entry_count, "
    "accepted_at, source_url, etag, last_modified, last_success, last_error, last_error_at"
)


class SqliteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._thread is None or self._db is None:
            raise StoreError(f"{self.path}: store is not open")
        db = self._db
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, db)

    async def open(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="revocd-sqlite")
        loop = asyncio.get_running_loop()
        try:
            self._db = await loop.run_in_executor(self._thread, self._connect)
        except BaseException:
            self._thread.shutdown(wait=False)
            self._thread = None
            raise

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as error:
            raise StoreError(
                f"{self.path}: cannot open the store ({error}); check that the directory "
                "exists and is writable, or change [store] path"
            ) from None
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA busy_timeout = 5000")
            # big pages halve the cost of writing a 40 MB CRL blob (only takes effect on a
            # new database, before WAL is switched on)
            db.execute("PRAGMA page_size = 65536")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{self.path}: cannot use WAL journal mode (got {mode})")
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA foreign_keys = ON")
            self._migrate(db)
        except sqlite3.DatabaseError as error:
            db.close()
            raise StoreError(
                f"{self.path}: is not a usable revocd store ({error}); point [store] path at "
                "a new file or restore a backup"
            ) from None
        except StoreError:
            db.close()
            raise
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        current = db.execute("PRAGMA user_version").fetchone()[0]
        latest = latest_version()
        if current > latest:
            raise StoreError(
                f"{self.path} was written by a newer revocd (schema {current}, this version "
                f"knows {latest}): upgrade revocd or point [store] path elsewhere"
            )
        for migration in pending(current):
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(migration.sql):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {migration.version}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    async def schema_version(self) -> int:
        return await self._run(lambda db: int(db.execute("PRAGMA user_version").fetchone()[0]))

    async def close(self) -> None:
        if self._thread is None:
            return
        db = self._db
        if db is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, db.close)
        self._thread.shutdown(wait=True)
        self._thread = None
        self._db = None

    async def load_sources(self) -> dict[str, SourceRecord]:
        def load(db: sqlite3.Connection) -> dict[str, SourceRecord]:
            rows = db.execute(f"SELECT {_META_COLUMNS} FROM source").fetchall()  # noqa: S608
            return {
                row["source_id"]: SourceRecord(
                    source_id=row["source_id"],
                    meta=_meta(row),
                    validators=Validators(row["etag"], row["last_modified"]),
                    last_success=from_micros(row["last_success"]),
                    last_error=row["last_error"],
                    last_error_at=from_micros(row["last_error_at"]),
                )
                for row in rows
            }

        return await self._run(load)

    async def load_issuer(self, issuer_id: str, source_ids: Sequence[str]) -> StoredIssuer:
        ids = list(source_ids)

        def load(db: sqlite3.Connection) -> StoredIssuer:
            crl: CrlMeta | None = None
            newest_id: str | None = None
            if ids:
                marks = ",".join("?" * len(ids))
                rows = db.execute(
                    f"SELECT {_META_COLUMNS} FROM source WHERE source_id IN ({marks}) "  # noqa: S608
                    "AND this_update IS NOT NULL",
                    ids,
                ).fetchall()
                for row in rows:
                    meta = _meta(row)
                    if meta is not None and (crl is None or meta.is_newer_than(crl)):
                        crl, newest_id = meta, row["source_id"]
            index = RevokedIndex.empty()
            if newest_id is not None:
                header, blob = db.execute(
                    "SELECT index_header, revoked_index FROM source WHERE source_id = ?",
                    (newest_id,),
                ).fetchone()
                index = RevokedIndex.from_parts(header, blob)
            sticky = {
                row["serial"]: StickyRevocation(
                    Revocation(row["serial"], from_epoch(row["revoked_at"]), row["reason"]),
                    row["source_url"],
                    _number(row["crl_number"]),
                )
                for row in db.execute(
                    "SELECT serial, revoked_at, reason, source_url, crl_number FROM sticky "
                    "WHERE issuer_id = ?",
                    (issuer_id,),
                )
            }
            return StoredIssuer(issuer_id, crl, index, sticky)

        return await self._run(load)

    async def accept_crl(
        self,
        issuer_id: str,
        source_id: str,
        evidence: CrlEvidence,
        validators: Validators,
        sticky: Sequence[StickyRevocation],
    ) -> None:
        meta = evidence.meta
        now = to_micros(meta.accepted_at)
        row = {
            "source_id": source_id,
            "crl_number": None if meta.crl_number is None else str(meta.crl_number),
            "this_update": to_micros(meta.this_update),
            "next_update": to_micros(meta.next_update),
            "der_sha256": meta.der_sha256,
            "tbs_sha256": meta.tbs_sha256,
            "entry_count": meta.entry_count,
            "accepted_at": now,
            "source_url": meta.source_url,
            "der": evidence.der,
            "index_header": evidence.index.header(),
            "revoked_index": evidence.index.blob,
            "etag": validators.etag,
            "last_modified": validators.last_modified,
            "last_success": now,
        }
        sticky_rows = [
            (
                issuer_id,
                s.revocation.serial,
                epoch_seconds(s.revocation.revoked_at),
                s.revocation.reason,
                s.source_url,
                None if s.crl_number is None else str(s.crl_number),
                now,
            )
            for s in sticky
        ]

        def write(db: sqlite3.Connection) -> None:
            with _Transaction(db):
                db.execute(
                    "INSERT INTO source (source_id, crl_number, this_update, next_update, "
                    "der_sha256, tbs_sha256, entry_count, accepted_at, source_url, der, "
                    "index_header, revoked_index, etag, last_modified, last_success) "
                    "VALUES (:source_id, :crl_number, :this_update, :next_update, :der_sha256, "
                    ":tbs_sha256, :entry_count, :accepted_at, :source_url, :der, :index_header, "
                    ":revoked_index, :etag, "
                    ":last_modified, :last_success) ON CONFLICT (source_id) DO UPDATE SET "
                    "crl_number = excluded.crl_number, this_update = excluded.this_update, "
                    "next_update = excluded.next_update, der_sha256 = excluded.der_sha256, "
                    "tbs_sha256 = excluded.tbs_sha256, entry_count = excluded.entry_count, "
                    "accepted_at = excluded.accepted_at, source_url = excluded.source_url, "
                    "der = excluded.der, index_header = excluded.index_header, "
                    "revoked_index = excluded.revoked_index, "
                    "etag = excluded.etag, last_modified = excluded.last_modified, "
                    "last_success = excluded.last_success",
                    row,
                )
                db.executemany(
                    "INSERT INTO sticky (issuer_id, serial, revoked_at, reason, source_url, "
                    "crl_number, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (issuer_id, serial) DO NOTHING",
                    sticky_rows,
                )

        await self._run(write)

    async def record_success(self, source_id: str, at: datetime) -> None:
        await self._upsert_status(source_id, {"last_success": to_micros(at)})

    async def record_failure(self, source_id: str, at: datetime, error: str) -> None:
        await self._upsert_status(
            source_id, {"last_error": error[:2000], "last_error_at": to_micros(at)}
        )

    async def _upsert_status(self, source_id: str, values: dict[str, Any]) -> None:
        columns = ", ".join(values)
        marks = ", ".join(f":{k}" for k in values)
        updates = ", ".join(f"{k} = excluded.{k}" for k in values)

        def write(db: sqlite3.Connection) -> None:
            with _Transaction(db):
                db.execute(
                    f"INSERT INTO source (source_id, {columns}) VALUES (:source_id, {marks}) "  # noqa: S608
                    f"ON CONFLICT (source_id) DO UPDATE SET {updates}",
                    {"source_id": source_id, **values},
                )

        await self._run(write)

    async def integrity_check(self) -> str:
        return await self._run(lambda db: str(db.execute("PRAGMA quick_check").fetchone()[0]))


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if kind is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (they hold no semicolons inside strings)."""
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
