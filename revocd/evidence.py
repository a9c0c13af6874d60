"""What verification produces: accepted evidence, and the reasons evidence is refused.

Evidence keeps its raw DER (rule 9: raw bytes travel with parsed objects) until the
poller has persisted it; the cache keeps only `CrlMeta` and the compact index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

from revocd.revoked import RevokedIndex


class RejectReason(StrEnum):
    """Why a CRL or OCSP response was refused. Same strings in logs, metrics, alerts, JSON."""

    OVERSIZE = "oversize"
    MALFORMED = "malformed"
    WRONG_ISSUER = "wrong_issuer"
    BAD_SIGNATURE = "bad_signature"
    ISSUER_CANNOT_SIGN_CRL = "issuer_cannot_sign_crl"
    UNKNOWN_CRITICAL_EXTENSION = "unknown_critical_extension"
    NOT_YET_VALID = "not_yet_valid"
    BAD_VALIDITY = "bad_validity"
    ROLLBACK = "rollback"
    EQUIVOCATION = "equivocation"
    OLDER_THAN_ACCEPTED = "older_than_accepted"
    UNSUPPORTED_SCOPE = "unsupported_scope"
    # upstream OCSP responses (revocd/upstream/verify.py); MALFORMED, BAD_SIGNATURE,
    # NOT_YET_VALID, BAD_VALIDITY, OVERSIZE and UNKNOWN_CRITICAL_EXTENSION apply too
    SIGNER_NOT_AUTHORIZED = "signer_not_authorized"
    RESPONDER_CERT_EXPIRED = "responder_cert_expired"
    CERTID_MISMATCH = "certid_mismatch"
    NONCE_MISMATCH = "nonce_mismatch"
    NONCE_MISSING = "nonce_missing"
    REPLAY = "replay"
    # an OCSPResponse whose responseStatus is not successful (RFC 6960 4.2.1)
    MALFORMED_REQUEST = "malformed_request"
    INTERNAL_ERROR = "internal_error"
    TRY_LATER = "try_later"
    SIG_REQUIRED = "sig_required"
    UNAUTHORIZED = "unauthorized"


# The reasons only an upstream OCSP response can be rejected for (no CRL check gives them).
UPSTREAM_ONLY_REASONS = frozenset(
    {
        RejectReason.SIGNER_NOT_AUTHORIZED,
        RejectReason.RESPONDER_CERT_EXPIRED,
        RejectReason.CERTID_MISMATCH,
        RejectReason.NONCE_MISMATCH,
        RejectReason.NONCE_MISSING,
        RejectReason.REPLAY,
        RejectReason.MALFORMED_REQUEST,
        RejectReason.INTERNAL_ERROR,
        RejectReason.TRY_LATER,
        RejectReason.SIG_REQUIRED,
        RejectReason.UNAUTHORIZED,
    }
)


class RevocationReason(IntEnum):
    """RFC 5280 CRLReason codes (7 is unused)."""

    UNSPECIFIED = 0
    KEY_COMPROMISE = 1
    CA_COMPROMISE = 2
    AFFILIATION_CHANGED = 3
    SUPERSEDED = 4
    CESSATION_OF_OPERATION = 5
    CERTIFICATE_HOLD = 6
    REMOVE_FROM_CRL = 8
    PRIVILEGE_WITHDRAWN = 9
    AA_COMPROMISE = 10

    @property
    def rfc_name(self) -> str:
        """The RFC 5280 spelling used in JSON (``keyCompromise``)."""
        return _RFC_NAMES[self]


_RFC_NAMES = {
    RevocationReason.UNSPECIFIED: "unspecified",
    RevocationReason.KEY_COMPROMISE: "keyCompromise",
    RevocationReason.CA_COMPROMISE: "cACompromise",
    RevocationReason.AFFILIATION_CHANGED: "affiliationChanged",
    RevocationReason.SUPERSEDED: "superseded",
    RevocationReason.CESSATION_OF_OPERATION: "cessationOfOperation",
    RevocationReason.CERTIFICATE_HOLD: "certificateHold",
    RevocationReason.REMOVE_FROM_CRL: "removeFromCRL",
    RevocationReason.PRIVILEGE_WITHDRAWN: "privilegeWithdrawn",
    RevocationReason.AA_COMPROMISE: "aACompromise",
}


@dataclass(frozen=True, slots=True)
class CrlMeta:
    """Everything about an accepted CRL except its entries and bytes."""

    source_url: str
    crl_number: int | None
    this_update: datetime
    next_update: datetime
    der_sha256: bytes  # of the whole DER: ETag-like identity of the bytes served
    tbs_sha256: bytes  # of tbsCertList: "same content" for equivocation
    entry_count: int
    accepted_at: datetime

    def is_newer_than(self, other: CrlMeta) -> bool:
        """Issuer-level ordering of mirrors' CRLs: highest CRL number, then latest thisUpdate."""
        return _order_key(self) > _order_key(other)


def _order_key(meta: CrlMeta) -> tuple[int, datetime]:
    return (meta.crl_number if meta.crl_number is not None else -1, meta.this_update)


@dataclass(frozen=True, slots=True)
class CrlEvidence:
    """A verified, complete CRL: metadata, compact entries and the raw DER it came from."""

    meta: CrlMeta
    index: RevokedIndex
    der: bytes
