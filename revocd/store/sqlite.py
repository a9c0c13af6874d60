"""The embedded store: one SQLite file, used from one dedicated thread.

The event loop never touches the disk: every call runs on the store's single worker
thread, which also owns the connection (created there, used only there, closed there;
sqlite3's same-thread check stays on to prove it). WAL journal with `synchronous=FULL`:
`accept_crl` returns only once the CRL and its sticky entries are durable, so a SIGKILL
or power loss after it returns loses nothing, and one during it leaves the previous state
intact (one `BEGIN IMMEDIATE` transaction).

Layout (schema 2, see migrations/sqlite/): `source` holds one small row per source
(metadata of its accepted CRL, validators, last success/failure), so status updates cost
one page; `crl_body` holds the big things as BLOBs (compact index, then raw DER), so a
1,000,000-entry CRL is persisted with one row write and loaded with one read; `sticky`
holds one row per sticky revocation.

`upstream_answer` (schema 3) holds one row per (issuer, serial) answered by a partner's
OCSP responder, DER included; the upsert itself refuses to turn a revoked row good (except
a certificateHold released by a good) or to go back in time, so the guarantee does not
rest on the caller alone.

Times are integers: microseconds since the epoch, UTC (sticky `revoked_at` is whole
seconds, like every CRL time). Any SQLite failure surfaces as `StoreError` naming the
file: the daemon cannot promise persistence, so it stops.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from revocd.der import ReadOnlyBytes
from revocd.errors import StoreError
from revocd.evidence import CrlEvidence, CrlMeta
from revocd.revoked import Revocation, RevokedIndex, epoch_seconds, from_epoch
from revocd.status.answer import CertStatus, StickyRevocation
from revocd.store.base import SourceRecord, StoredIssuer, StoredUpstream, Validators
from revocd.store.migrate import Migration, load_migrations, plan
from revocd.upstream.verify import UpstreamAnswer

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BUSY_TIMEOUT_MS = 5000
# 64 KiB pages halve the cost of writing a 40 MB blob (only takes effect on a new file)
_PAGE_SIZE = 65536
_MAX_ERROR_CHARS = 2000


def to_micros(when: datetime | None) -> int | None:
    """Aware datetime -> integer microseconds since the epoch (naive ones raise TypeError)."""
    if when is None:
        return None
    return (when - _EPOCH) // timedelta(microseconds=1)


def from_micros(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + timedelta(microseconds=value)


class SqliteStore:
    """The `Store` protocol on one SQLite file (the embedded default backend)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        """Open or create the file and bring its schema to the latest version."""
        if self._thread is not None:
            return
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="revocd-sqlite")
        try:
            self._db = await asyncio.get_running_loop().run_in_executor(thread, self._connect)
        except BaseException:
            thread.shutdown(wait=False)
            raise
        self._thread = thread

    async def close(self) -> None:
        thread, db = self._thread, self._db
        if thread is None:
            return
        self._thread = self._db = None
        try:
            if db is not None:
                await asyncio.get_running_loop().run_in_executor(thread, db.close)
        finally:
            thread.shutdown(wait=True)

    async def schema_version(self) -> int:
        return await self._run("reading the schema version", _user_version)

    async def integrity_check(self) -> None:
        """`PRAGMA quick_check` (reads every page: ~0.1 s per 100 MB). Raises StoreError."""

        def check(db: sqlite3.Connection) -> list[str]:
            return [str(row[0]) for row in db.execute("PRAGMA quick_check")]

        problems = await self._run("checking integrity", check)
        if problems != ["ok"]:
            raise StoreError(
                f"{self.path}: integrity check failed ({'; '.join(problems[:5])}); restore a "
                "backup, or move the file away and let revocd fetch every source again"
            )

    async def load_sources(self) -> dict[str, SourceRecord]:
        def load(db: sqlite3.Connection) -> dict[str, SourceRecord]:
            rows = db.execute(f"SELECT {_SOURCE_COLUMNS} FROM source").fetchall()  # noqa: S608
            return {row["source_id"]: _record(row) for row in rows}

        return await self._run("loading sources", load)

    async def load_issuer(self, issuer_id: str, source_ids: Sequence[str]) -> StoredIssuer:
        ids = list(source_ids)

        def load(db: sqlite3.Connection) -> StoredIssuer:
            # one read transaction: the index is the one of the CRL whose metadata we chose
            with _Transaction(db, "BEGIN DEFERRED"):
                crl, newest = _newest(db, ids)
                index = RevokedIndex.empty()
                if newest is not None:
                    header, blob = db.execute(
                        "SELECT index_header, revoked_index FROM crl_body WHERE source_id = ?",
                        (newest,),
                    ).fetchone()
                    index = RevokedIndex.from_parts(header, blob)
                return StoredIssuer(issuer_id, crl, index, _sticky(db, issuer_id))

        return await self._run(f"loading issuer {issuer_id}", load)

    async def load_der(self, source_id: str) -> bytes | None:
        """The raw DER of the source's accepted CRL, exactly as accepted (None: no CRL)."""

        def load(db: sqlite3.Connection) -> bytes | None:
            row = db.execute("SELECT der FROM crl_body WHERE source_id = ?", (source_id,))
            found = row.fetchone()
            return None if found is None else bytes(found[0])

        return await self._run(f"loading the CRL of source {source_id}", load)

    async def accept_crl(
        self,
        issuer_id: str,
        source_id: str,
        evidence: CrlEvidence,
        validators: Validators,
        sticky: Sequence[StickyRevocation],
    ) -> None:
        meta = evidence.meta
        accepted_at = to_micros(meta.accepted_at)
        row = {
            "source_id": source_id,
            **_meta_values(meta),
            "etag": validators.etag,
            "last_modified": validators.last_modified,
            "last_success": accepted_at,
        }
        header, blob, der = evidence.index.header(), evidence.index.blob, evidence.der

        def write(db: sqlite3.Connection) -> None:
            # the sticky rows are built here, on the store's thread: 100k of them would
            # otherwise hold the event loop for tens of milliseconds
            sticky_rows = [_sticky_row(issuer_id, s, accepted_at) for s in sticky]
            with _Transaction(db, "BEGIN IMMEDIATE"):
                db.execute(_upsert("source", row), row)
                cursor = db.execute(
                    "INSERT OR REPLACE INTO crl_body (source_id, index_header, revoked_index, "
                    "der) VALUES (?, ?, zeroblob(?), zeroblob(?))",
                    (source_id, header, len(blob), len(der)),
                )
                rowid = cursor.lastrowid
                assert rowid is not None
                _write_blob(db, "revoked_index", rowid, blob)
                _write_blob(db, "der", rowid, der)
                # the first recording of a serial wins: it is the earliest evidence
                db.executemany(
                    "INSERT INTO sticky (issuer_id, serial, revoked_at, reason, source_url, "
                    "crl_number, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (issuer_id, serial) DO NOTHING",
                    sticky_rows,
                )

        await self._run(f"saving the accepted CRL of source {source_id}", write)

    async def record_success(self, source_id: str, at: datetime) -> None:
        await self._status(source_id, {"last_success": to_micros(at)})

    async def record_failure(self, source_id: str, at: datetime, error: str) -> None:
        await self._status(
            source_id, {"last_error": error[:_MAX_ERROR_CHARS], "last_error_at": to_micros(at)}
        )

    async def save_upstream(
        self, issuer_id: str, url: str, answer: UpstreamAnswer, at: datetime
    ) -> None:
        row = _upstream_row(issuer_id, url, answer, at)

        def write(db: sqlite3.Connection) -> None:
            with _Transaction(db, "BEGIN IMMEDIATE"):
                db.execute(_UPSERT_UPSTREAM, row)

        await self._run(f"saving an upstream OCSP answer of issuer {issuer_id}", write)

    async def load_upstream(self, issuer_id: str) -> list[StoredUpstream]:
        def load(db: sqlite3.Connection) -> list[StoredUpstream]:
            rows = db.execute(
                f"SELECT {_UPSTREAM_COLUMNS} FROM upstream_answer "  # noqa: S608
                "WHERE issuer_id = ? ORDER BY serial",
                (issuer_id,),
            ).fetchall()
            return [_stored_upstream(row) for row in rows]

        return await self._run(f"loading upstream OCSP answers of issuer {issuer_id}", load)

    async def prune_upstream(self, issuer_id: str, expired_before: datetime) -> int:
        def prune(db: sqlite3.Connection) -> int:
            with _Transaction(db, "BEGIN IMMEDIATE"):
                cursor = db.execute(
                    "DELETE FROM upstream_answer WHERE issuer_id = ? "
                    "AND status != 'revoked' AND next_update < ?",
                    (issuer_id, to_micros(expired_before)),
                )
                return int(cursor.rowcount)

        return await self._run(f"pruning expired upstream OCSP answers of {issuer_id}", prune)

    async def _status(self, source_id: str, values: dict[str, Any]) -> None:
        row = {"source_id": source_id, **values}

        def write(db: sqlite3.Connection) -> None:
            with _Transaction(db, "BEGIN IMMEDIATE"):
                db.execute(_upsert("source", row), row)

        await self._run(f"recording the status of source {source_id}", write)

    async def _run(self, doing: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        thread, db = self._thread, self._db
        if thread is None or db is None:
            raise StoreError(f"{self.path}: {doing}: the store is not open (call open() first)")
        try:
            return await asyncio.get_running_loop().run_in_executor(thread, fn, db)
        except sqlite3.Error as error:
            raise StoreError(
                f"{self.path}: {doing} failed ({error}); check the disk (space, permissions, "
                "health) and that no other program writes this file"
            ) from error

    # --- on the store's thread -------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as error:
            raise StoreError(
                f"{self.path}: cannot open the store ({error}); check that the directory "
                "exists and is writable, or change [store] path"
            ) from None
        db.row_factory = sqlite3.Row
        try:
            db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            db.execute(f"PRAGMA page_size = {_PAGE_SIZE}")  # before WAL: WAL fixes the size
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(
                    f"{self.path}: cannot use the WAL journal (got {mode!r}); put the store "
                    "on a local file system"
                )
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA foreign_keys = ON")
            migrate(db, str(self.path), load_migrations("sqlite"))
        except sqlite3.Error as error:
            db.close()
            raise StoreError(
                f"{self.path}: is not a usable revocd store ({error}); check that the file is "
                "writable, point [store] path at a new file, or restore a backup"
            ) from None
        except BaseException:
            db.close()
            raise
        return db


def migrate(db: sqlite3.Connection, where: str, available: Sequence[Migration]) -> int:
    """Apply the pending migrations in one transaction; returns the version reached.

    The version is read inside the write transaction, so two processes opening one new
    file do not both migrate it.
    """
    with _Transaction(db, "BEGIN IMMEDIATE"):
        current = _user_version(db)
        steps = plan(where, current, available)
        for migration in steps:
            for statement in split_statements(migration.sql):
                db.execute(statement)
        if steps:
            db.execute(f"PRAGMA user_version = {steps[-1].version}")
            return steps[-1].version
        return current


def split_statements(sql: str) -> list[str]:
    """A script's statements, split where SQLite itself says one is complete (so a
    semicolon inside a string or a comment does not split it)."""
    statements, pending = [], ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip() and not _only_comments(pending):
        raise ValueError(f"unterminated SQL statement: {pending.strip()[:80]!r}")
    return statements


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


def _user_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


_BLOB_CHUNK = 1024 * 1024


def _write_blob(db: sqlite3.Connection, column: str, rowid: int, data: ReadOnlyBytes) -> None:
    """Write a big BLOB in 1 MiB pieces: binding 70 MB as one parameter copies it while
    holding the GIL, which stalls the event loop for tens of milliseconds."""
    view = memoryview(data)
    with db.blobopen("crl_body", column, rowid) as handle:
        for start in range(0, len(view), _BLOB_CHUNK):
            handle.write(view[start : start + _BLOB_CHUNK])


class _Transaction:
    """BEGIN ... COMMIT, or ROLLBACK on any exception (the exception propagates)."""

    def __init__(self, db: sqlite3.Connection, begin: str) -> None:
        self._db = db
        self._begin = begin

    def __enter__(self) -> None:
        self._db.execute(self._begin)

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if kind is None:
            self._db.execute("COMMIT")
        elif self._db.in_transaction:  # some errors (disk full, I/O) already rolled back
            self._db.execute("ROLLBACK")


_SOURCE_COLUMNS = (
    "source_id, crl_number, this_update, next_update, der_sha256, tbs_sha256, entry_count, "
    "accepted_at, source_url, etag, last_modified, last_success, last_error, last_error_at"
)


def _upsert(table: str, row: dict[str, Any]) -> str:
    """INSERT a row, or UPDATE only the given columns of an existing one (first column is
    the key). Column names come from this module, never from input."""
    key, *columns = row
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns)
    return (
        f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(':' + c for c in row)}) "  # noqa: S608
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )


def _meta_values(meta: CrlMeta) -> dict[str, Any]:
    return {
        # decimal text: a CRL number may be 20 octets, past SQLite's 64-bit integers
        "crl_number": None if meta.crl_number is None else str(meta.crl_number),
        "this_update": to_micros(meta.this_update),
        "next_update": to_micros(meta.next_update),
        "der_sha256": meta.der_sha256,
        "tbs_sha256": meta.tbs_sha256,
        "entry_count": meta.entry_count,
        "accepted_at": to_micros(meta.accepted_at),
        "source_url": meta.source_url,
    }


def _meta(row: sqlite3.Row) -> CrlMeta | None:
    if row["this_update"] is None:
        return None
    return CrlMeta(
        source_url=row["source_url"],
        crl_number=_number(row["crl_number"]),
        this_update=_EPOCH + timedelta(microseconds=row["this_update"]),
        next_update=_EPOCH + timedelta(microseconds=row["next_update"]),
        der_sha256=bytes(row["der_sha256"]),
        tbs_sha256=bytes(row["tbs_sha256"]),
        entry_count=row["entry_count"],
        accepted_at=_EPOCH + timedelta(microseconds=row["accepted_at"]),
    )


def _record(row: sqlite3.Row) -> SourceRecord:
    return SourceRecord(
        source_id=row["source_id"],
        meta=_meta(row),
        validators=Validators(row["etag"], row["last_modified"]),
        last_success=from_micros(row["last_success"]),
        last_error=row["last_error"],
        last_error_at=from_micros(row["last_error_at"]),
    )


def _newest(db: sqlite3.Connection, ids: list[str]) -> tuple[CrlMeta | None, str | None]:
    """The newest accepted CRL among the sources (CrlMeta.is_newer_than), and its source."""
    if not ids:
        return None, None
    marks = ",".join("?" * len(ids))
    rows = db.execute(
        f"SELECT {_SOURCE_COLUMNS} FROM source "  # noqa: S608
        f"WHERE source_id IN ({marks}) AND this_update IS NOT NULL ORDER BY source_id",
        ids,
    ).fetchall()
    newest: CrlMeta | None = None
    newest_id: str | None = None
    for row in rows:
        meta = _meta(row)
        if meta is not None and (newest is None or meta.is_newer_than(newest)):
            newest, newest_id = meta, row["source_id"]
    return newest, newest_id


def _sticky(db: sqlite3.Connection, issuer_id: str) -> dict[bytes, StickyRevocation]:
    cursor = db.cursor()
    cursor.row_factory = None  # plain tuples: ~20% faster for 100k rows than sqlite3.Row
    rows = cursor.execute(
        "SELECT serial, revoked_at, reason, source_url, crl_number FROM sticky WHERE issuer_id = ?",
        (issuer_id,),
    )
    return {
        bytes(serial): StickyRevocation(
            Revocation(bytes(serial), from_epoch(revoked_at), reason), url, _number(number)
        )
        for serial, revoked_at, reason, url, number in rows
    }


def _sticky_row(
    issuer_id: str, sticky: StickyRevocation, recorded_at: int | None
) -> tuple[Any, ...]:
    revocation = sticky.revocation
    return (
        issuer_id,
        revocation.serial,
        epoch_seconds(revocation.revoked_at),
        revocation.reason,
        sticky.source_url,
        None if sticky.crl_number is None else str(sticky.crl_number),
        recorded_at,
    )


def _number(text: str | None) -> int | None:
    return None if text is None else int(text)


_UPSTREAM_COLUMNS = (
    "issuer_id, serial, source_url, status, this_update, next_update, produced_at, "
    "revoked_at, reason, next_update_given, delegated, has_nonce, hash_algorithm, der, "
    "accepted_at"
)
_HOLD = 6  # certificateHold: the one revocation a later good may release
# Replace the row only with an answer at least as new, and never a revoked row with a
# non-revoked one unless it was a hold and the new answer is good.
_UPSERT_UPSTREAM = (
    f"INSERT INTO upstream_answer ({_UPSTREAM_COLUMNS}) VALUES ("  # noqa: S608
    + ", ".join(":" + c.strip() for c in _UPSTREAM_COLUMNS.split(","))
    + ") ON CONFLICT (issuer_id, serial) DO UPDATE SET "
    + ", ".join(f"{c.strip()} = excluded.{c.strip()}" for c in _UPSTREAM_COLUMNS.split(",")[2:])
    + " WHERE excluded.produced_at >= upstream_answer.produced_at AND ("
    "upstream_answer.status != 'revoked' OR excluded.status = 'revoked' OR "
    f"(upstream_answer.reason = {_HOLD} AND excluded.status = 'good'))"
)


def _upstream_row(issuer_id: str, url: str, answer: UpstreamAnswer, at: datetime) -> dict[str, Any]:
    return {
        "issuer_id": issuer_id,
        "serial": answer.serial,
        "source_url": url,
        "status": answer.status.value,
        "this_update": to_micros(answer.this_update),
        "next_update": to_micros(answer.next_update),
        "produced_at": to_micros(answer.produced_at),
        "revoked_at": to_micros(answer.revoked_at),
        "reason": answer.reason,
        "next_update_given": int(answer.next_update_given),
        "delegated": int(answer.delegated),
        "has_nonce": int(answer.has_nonce),
        "hash_algorithm": answer.hash_algorithm,
        "der": answer.der,
        "accepted_at": to_micros(at),
    }


def _stored_upstream(row: sqlite3.Row) -> StoredUpstream:
    def when(column: str) -> datetime:
        value = from_micros(row[column])
        assert value is not None
        return value

    answer = UpstreamAnswer(
        status=CertStatus(row["status"]),
        serial=bytes(row["serial"]),
        this_update=when("this_update"),
        next_update=when("next_update"),
        produced_at=when("produced_at"),
        revoked_at=from_micros(row["revoked_at"]),
        reason=row["reason"],
        next_update_given=bool(row["next_update_given"]),
        delegated=bool(row["delegated"]),
        has_nonce=bool(row["has_nonce"]),
        der=bytes(row["der"]),
        hash_algorithm=row["hash_algorithm"],
    )
    return StoredUpstream(row["source_url"], answer)
