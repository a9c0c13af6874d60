-- revocd schema 2: a CRL's DER and index move out of the `source` row into `crl_body`.
--
-- Why: SQLite rewrites a whole row when an UPDATE changes its size, and reaches a column
-- stored after a big BLOB only by walking the BLOB's overflow pages. With the DER and the
-- index in `source`, recording one failed poll of a source with a 43 MB CRL rewrote
-- ~146 MB of WAL and took 0.3 s. Now `source` rows are small (status updates cost one
-- page) and `crl_body` is written only when a CRL is accepted.
--
-- `source` is rebuilt rather than altered with DROP COLUMN, which needs SQLite 3.35.

ALTER TABLE source RENAME TO source_v1;

CREATE TABLE source (
    source_id        TEXT PRIMARY KEY,
    crl_number       TEXT,              -- decimal text: CRL numbers are up to 20 octets
    this_update      INTEGER,           -- microseconds since the epoch, UTC; NULL: no CRL yet
    next_update      INTEGER,
    der_sha256       BLOB,
    tbs_sha256       BLOB,
    entry_count      INTEGER,
    accepted_at      INTEGER,
    source_url       TEXT,
    etag             TEXT,
    last_modified    TEXT,
    last_success     INTEGER,
    last_error       TEXT,
    last_error_at    INTEGER
);

INSERT INTO source (
    source_id, crl_number, this_update, next_update, der_sha256, tbs_sha256, entry_count,
    accepted_at, source_url, etag, last_modified, last_success, last_error, last_error_at
)
SELECT
    source_id, crl_number, this_update, next_update, der_sha256, tbs_sha256, entry_count,
    accepted_at, source_url, etag, last_modified, last_success, last_error, last_error_at
FROM source_v1;

-- One row per source with an accepted CRL, written in the same transaction as its
-- `source` metadata. The index comes before the DER so that loading it never walks the
-- DER's overflow pages.
CREATE TABLE crl_body (
    source_id        TEXT PRIMARY KEY REFERENCES source (source_id) ON DELETE CASCADE,
    index_header     BLOB NOT NULL,     -- RevokedIndex.header(): format, key width, runs
    revoked_index    BLOB NOT NULL,     -- RevokedIndex.blob: the sorted records
    der              BLOB NOT NULL      -- the CRL exactly as accepted
);

INSERT INTO crl_body (source_id, index_header, revoked_index, der)
SELECT source_id, index_header, revoked_index, der
FROM source_v1
WHERE this_update IS NOT NULL AND der IS NOT NULL;

DROP TABLE source_v1;
