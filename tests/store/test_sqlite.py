"""SQLite specifics: migrating real data forward, refusing files it cannot use, what a
status update costs on disk, and the migration script splitter."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from revocd.errors import StoreError
from revocd.evidence import CrlEvidence
from revocd.revoked import RevokedIndex
from revocd.store.base import Validators
from revocd.store.sqlite import SqliteStore, split_statements, to_micros
from tests.store.test_contract import ISSUER, A, evidence
from tests.support.pki import T0


async def test_a_schema_1_database_keeps_its_crl_and_sticky_entries_when_migrated(sqlite_backend):
    """Schema 1 kept the DER and index in the `source` row; schema 2 moved them out."""
    ev = evidence(41, serials=(1, 2, 3))
    await sqlite_backend.create_at_version(1)
    with sqlite3.connect(sqlite_backend.path, isolation_level=None) as db:
        db.execute(
            "INSERT INTO source (source_id, crl_number, this_update, next_update, der_sha256, "
            "tbs_sha256, entry_count, accepted_at, source_url, der, index_header, "
            "revoked_index, etag, last_success, last_error, last_error_at) "
            "VALUES (?, '41', ?, ?, ?, ?, 3, ?, ?, ?, ?, ?, '\"v1\"', ?, 'HTTP 500', ?)",
            (
                A,
                to_micros(ev.meta.this_update),
                to_micros(ev.meta.next_update),
                ev.meta.der_sha256,
                ev.meta.tbs_sha256,
                to_micros(ev.meta.accepted_at),
                ev.meta.source_url,
                ev.der,
                ev.index.header(),
                ev.index.blob,
                to_micros(ev.meta.accepted_at),
                to_micros(T0 + timedelta(hours=1)),
            ),
        )
        db.execute("INSERT INTO source (source_id, last_error) VALUES ('never-accepted', 'x')")
        db.execute(
            "INSERT INTO sticky VALUES (?, x'09', 1700000000, 1, 'http://a', '40', ?)",
            (ISSUER, to_micros(T0)),
        )
    db.close()

    store = await sqlite_backend.open()
    assert await store.schema_version() == sqlite_backend.latest_version()
    records = await store.load_sources()
    assert records[A].meta == ev.meta
    assert records[A].validators == Validators('"v1"')
    assert records[A].last_error == "HTTP 500"
    assert records["never-accepted"].meta is None
    loaded = await store.load_issuer(ISSUER, [A, "never-accepted"])
    assert (loaded.crl, loaded.index) == (ev.meta, ev.index)
    assert loaded.sticky[b"\x09"].crl_number == 40
    assert await store.load_der(A) == ev.der
    await store.integrity_check()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"this is not a database" * 100), "not a usable revocd store"),
        (lambda p: p.mkdir(), "cannot open the store"),
    ],
    ids=["not-a-database", "a-directory"],
)
async def test_unusable_files_are_refused_with_the_path_named(tmp_path, make, message):
    path = tmp_path / "revocd.db"
    make(path)
    with pytest.raises(StoreError, match=message) as refused:
        await SqliteStore(path).open()
    assert str(path) in str(refused.value)


async def test_a_status_update_does_not_rewrite_the_accepted_crl(sqlite_backend):
    """A failing partner is polled often; each failure must not rewrite its big CRL."""
    der = bytes(range(256)) * 20_000  # 5 MB
    blob = bytes(26) * 100_000  # 2.6 MB of index
    ev = evidence(1)
    big = CrlEvidence(ev.meta, RevokedIndex(17, blob), der)
    store = await sqlite_backend.open()
    await store.accept_crl(ISSUER, A, big, Validators(), [])
    wal = sqlite_backend.path.with_name(sqlite_backend.path.name + "-wal")
    before = wal.stat().st_size
    for attempt in range(20):
        await store.record_failure(A, T0 + timedelta(minutes=attempt), "e" * attempt)
        await store.record_success(A, T0 + timedelta(minutes=attempt, seconds=1))
    # the WAL only grows until a checkpoint (64 MB of frames triggers one): each of the 40
    # updates may write a few 64 KiB pages, never the 7.6 MB CRL again
    per_update = (wal.stat().st_size - before) / 40
    assert per_update < 4 * 65536
    assert await store.load_der(A) == der


@pytest.mark.parametrize(
    ("script", "statements"),
    [
        (
            "CREATE TABLE a (x);\nCREATE TABLE b (y);\n",
            ["CREATE TABLE a (x);", "CREATE TABLE b (y);"],
        ),
        (
            "-- a comment; with a semicolon\nCREATE TABLE a (x);\n",
            ["-- a comment; with a semicolon\nCREATE TABLE a (x);"],
        ),
        ("INSERT INTO a VALUES ('x;\ny');\n", ["INSERT INTO a VALUES ('x;\ny');"]),
        ("CREATE TABLE a (x);\n-- trailing comment\n", ["CREATE TABLE a (x);"]),
    ],
    ids=["two-statements", "semicolon-in-comment", "semicolon-in-string", "trailing-comment"],
)
def test_migration_scripts_split_where_sqlite_says_a_statement_ends(script, statements):
    assert split_statements(script) == statements


def test_an_unterminated_migration_statement_is_an_error():
    with pytest.raises(ValueError, match="unterminated"):
        split_statements("CREATE TABLE a (x);\nCREATE TABLE b (y)\n")
