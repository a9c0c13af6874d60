-- revocd schema 1: per-source accepted CRLs (as blobs), per-issuer sticky revocations.
CREATE TABLE source (
    source_id        TEXT PRIMARY KEY,
    crl_number       TEXT,              -- decimal text: CRL numbers are up to 20 octets
    this_update      INTEGER,           -- microseconds since the epoch, UTC
    next_update      INTEGER,
    der_sha256       BLOB,
    tbs_sha256       BLOB,
    entry_count      INTEGER,
    accepted_at      INTEGER,
    source_url       TEXT,
    der              BLOB,              -- the CRL exactly as accepted
    index_header     BLOB,              -- RevokedIndex.header(): format, key width, runs
    revoked_index    BLOB,              -- RevokedIndex.blob: the sorted records
    etag             TEXT,
    last_modified    TEXT,
    last_success     INTEGER,
    last_error       TEXT,
    last_error_at    INTEGER
);

CREATE TABLE sticky (
    issuer_id    TEXT NOT NULL,
    serial       BLOB NOT NULL,         -- DER INTEGER content octets
    revoked_at   INTEGER NOT NULL,      -- seconds since the epoch, UTC
    reason       INTEGER,               -- RFC 5280 CRLReason, NULL when the CRL gave none
    source_url   TEXT NOT NULL,
    crl_number   TEXT,
    recorded_at  INTEGER NOT NULL,
    PRIMARY KEY (issuer_id, serial)
) WITHOUT ROWID;
