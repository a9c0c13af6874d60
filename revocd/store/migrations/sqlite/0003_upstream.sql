-- revocd schema 3: accepted upstream OCSP answers, one row per (issuer, serial).
--
-- Why: SPEC.md says accepted evidence is persisted before it is served, and a revoked
-- answer never turns good because of a restart. Answers from a partner's own OCSP
-- responder are evidence like CRLs: the upstream cache writes each one here before it
-- serves it, and puts them back at start-up. The DER is kept whole, for pass-through.
--
-- Times are microseconds since the epoch, UTC, like `source`.

CREATE TABLE upstream_answer (
    issuer_id          TEXT NOT NULL,     -- IssuerKey.id: survives renaming the issuer
    serial             BLOB NOT NULL,     -- DER INTEGER content octets
    source_url         TEXT NOT NULL,     -- the OCSP URL that gave it
    status             TEXT NOT NULL,     -- good | revoked | unknown
    this_update        INTEGER NOT NULL,
    next_update        INTEGER NOT NULL,
    produced_at        INTEGER NOT NULL,
    revoked_at         INTEGER,
    reason             INTEGER,           -- RFC 5280 CRLReason code
    next_update_given  INTEGER NOT NULL,  -- 0: nextUpdate derived (ocsp_default_validity)
    delegated          INTEGER NOT NULL,
    has_nonce          INTEGER NOT NULL,
    hash_algorithm     TEXT NOT NULL,     -- of the CertID asked and answered
    der                BLOB NOT NULL,     -- the whole OCSPResponse, as received
    accepted_at        INTEGER NOT NULL,
    PRIMARY KEY (issuer_id, serial)
) WITHOUT ROWID;
