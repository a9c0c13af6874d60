"""Verifying an upstream OCSP response: bytes in, `UpstreamAnswer` out, or `Rejected`.

Pure: no clock, no socket, no file. Every check is small, named, and raises
`Rejected(RejectReason.X, detail)` with the same reason strings as CRL rejections
where the meaning is the same (`malformed`, `bad_signature`, `not_yet_valid`,
`bad_validity`, `unknown_critical_extension`) and OCSP-specific ones otherwise.

An upstream response is accepted only if (SPEC.md "Accepting evidence"):

* its responseStatus is successful (else `try_later`, `unauthorized`, ...) and it is a
  BasicOCSPResponse cryptography can parse (else `malformed`);
* it is signed by the issuer's key, or by a responder certificate embedded in the
  response that the issuer signed directly, that carries the id-kp-OCSPSigning EKU
  (`signer_not_authorized`) and that is valid at producedAt (`responder_cert_expired`);
  the signature verifies with that key (`bad_signature`);
* one of its SingleResponses is for exactly the CertID asked: same hash algorithm,
  issuer name and key hashes, serial (`certid_mismatch`);
* its nonce equals the one sent, when one was sent (`nonce_missing`, `nonce_mismatch`);
* `thisUpdate` and `producedAt` are no later than `now + clock_skew` (`not_yet_valid`),
  and `nextUpdate`, when present, is after `thisUpdate` (`bad_validity`);
* it is not older than the answer already accepted for that serial: neither its
  producedAt nor its thisUpdate goes backwards (`replay`).

A response without nextUpdate says "newer information is available all the time" (RFC
6960 4.2.2.1); RFC 5019 profiles require nextUpdate. revocd treats it as fresh for
`default_validity` (config `ocsp_default_validity`) after producedAt, and a zero
`default_validity` rejects it (`bad_validity`). The answer records that the nextUpdate
was derived, so nothing downstream claims the partner promised it.

id-pkix-ocsp-nocheck is irrelevant here: revocd does not check the responder
certificate's own revocation status, exactly as the RFC lets clients do.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509 import ocsp
from cryptography.x509.oid import OCSPExtensionOID, SignatureAlgorithmOID

from revocd.eku import allows_ocsp_signing
from revocd.errors import Rejected
from revocd.evidence import RejectReason, RevocationReason
from revocd.model import ocsp_hashes
from revocd.serials import content_from_int, serial_hex
from revocd.status.answer import CertStatus
from revocd.verify.crl import check_algorithm_fits_key, verify_with_key

_NOT_SUCCESSFUL = {
    ocsp.OCSPResponseStatus.MALFORMED_REQUEST: RejectReason.MALFORMED_REQUEST,
    ocsp.OCSPResponseStatus.INTERNAL_ERROR: RejectReason.INTERNAL_ERROR,
    ocsp.OCSPResponseStatus.TRY_LATER: RejectReason.TRY_LATER,
    ocsp.OCSPResponseStatus.SIG_REQUIRED: RejectReason.SIG_REQUIRED,
    ocsp.OCSPResponseStatus.UNAUTHORIZED: RejectReason.UNAUTHORIZED,
}
_STATUS = {
    ocsp.OCSPCertStatus.GOOD: CertStatus.GOOD,
    ocsp.OCSPCertStatus.REVOKED: CertStatus.REVOKED,
    ocsp.OCSPCertStatus.UNKNOWN: CertStatus.UNKNOWN,
}
_REASON_CODES = {reason.rfc_name: int(reason) for reason in RevocationReason}


@dataclass(frozen=True, slots=True)
class Asked:
    """The CertID revocd sent upstream, and the nonce it sent (None: none)."""

    hash_algorithm: str  # sha1 | sha256 | sha384 | sha512
    name_hash: bytes
    key_hash: bytes
    serial: bytes  # DER INTEGER content octets
    nonce: bytes | None = None

    @classmethod
    def for_issuer(
        cls,
        issuer: x509.Certificate,
        serial: bytes,
        *,
        hash_algorithm: str = "sha1",
        nonce: bytes | None = None,
    ) -> Asked:
        name_hash, key_hash = ocsp_hashes(issuer, hash_algorithm)
        return cls(hash_algorithm, name_hash, key_hash, serial, nonce)


@dataclass(frozen=True, slots=True)
class UpstreamAnswer:
    """A verified upstream SingleResponse, with the whole response's DER (for passthrough).

    `next_update` is always set: the partner's nextUpdate, or, when it sent none
    (`next_update_given` False), producedAt + the configured default validity.
    """

    status: CertStatus
    serial: bytes
    this_update: datetime
    next_update: datetime
    produced_at: datetime
    revoked_at: datetime | None
    reason: int | None  # RFC 5280 CRLReason code, None when the responder gave none
    next_update_given: bool
    delegated: bool  # signed by a responder certificate rather than the issuer's key
    has_nonce: bool  # a response carrying a nonce must never be served from a cache
    der: bytes
    hash_algorithm: str = "sha1"  # of the CertID asked (and answered)

    @property
    def is_hold(self) -> bool:
        return self.status is CertStatus.REVOKED and self.reason == int(
            RevocationReason.CERTIFICATE_HOLD
        )

    def is_older_than(self, other: UpstreamAnswer) -> bool:
        return self.produced_at < other.produced_at or self.this_update < other.this_update


def verify_upstream(
    der: bytes,
    *,
    issuer: x509.Certificate,
    asked: Asked,
    now: datetime,
    clock_skew: timedelta,
    default_validity: timedelta,
    previous: UpstreamAnswer | None = None,
) -> UpstreamAnswer:
    """Accept `der` as the answer to `asked`, or raise `Rejected` naming the failed check."""
    response = parse(der)
    signer = check_signer(response, issuer)
    check_signature(response, signer)
    delegated = signer is not issuer
    if delegated:
        check_delegation(signer, issuer, response.produced_at_utc)
    single = find_single(response, asked)
    has_nonce = check_nonce(response, asked.nonce)
    check_extensions(response)
    this_update, next_update = check_times(
        single, response.produced_at_utc, now, clock_skew, default_validity
    )
    revoked_at = reason = None
    status = _STATUS[single.certificate_status]
    if status is CertStatus.REVOKED:
        revoked_at = single.revocation_time_utc
        flag = single.revocation_reason
        reason = _REASON_CODES.get(flag.value) if flag is not None else None
    answer = UpstreamAnswer(
        status=status,
        serial=asked.serial,
        this_update=this_update,
        next_update=next_update,
        produced_at=response.produced_at_utc,
        revoked_at=revoked_at,
        reason=reason,
        next_update_given=single.next_update_utc is not None,
        delegated=delegated,
        has_nonce=has_nonce,
        der=der,
        hash_algorithm=asked.hash_algorithm,
    )
    check_replay(answer, previous)
    return answer


def parse(der: bytes) -> ocsp.OCSPResponse:
    try:
        response = ocsp.load_der_ocsp_response(der)
        status = response.response_status
    except ValueError as error:
        raise Rejected(RejectReason.MALFORMED, f"not a DER OCSPResponse: {error}") from None
    if status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise Rejected(
            _NOT_SUCCESSFUL[status],
            f"the responder answered {status.name} (responseStatus {status.value}) "
            "instead of a signed response",
        )
    try:
        # touch what later checks read, so a malformed body fails here, as `malformed`
        _ = (response.produced_at_utc, response.certificates, response.extensions)
        _ = (response.tbs_response_bytes, response.signature, response.signature_algorithm_oid)
        _ = [(s.certificate_status, s.this_update_utc) for s in response.responses]
    except ValueError as error:
        raise Rejected(RejectReason.MALFORMED, f"unusable BasicOCSPResponse: {error}") from None
    return response


def check_signer(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> x509.Certificate:
    """The certificate whose key signed the response, by its responderID: the issuer
    itself, or a certificate embedded in the response."""
    if _names_signer(response, issuer):
        return issuer
    for cert in response.certificates:
        if _names_signer(response, cert):
            return cert
    raise Rejected(
        RejectReason.SIGNER_NOT_AUTHORIZED,
        f"responderID ({_responder_id(response)}) names neither the issuer nor a "
        "certificate included in the response",
    )


def _names_signer(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    if response.responder_key_hash is not None:
        _, key_sha1 = ocsp_hashes(cert, "sha1")
        return hmac.compare_digest(response.responder_key_hash, key_sha1)
    return response.responder_name == cert.subject


def _responder_id(response: ocsp.OCSPResponse) -> str:
    if response.responder_key_hash is not None:
        return f"byKey {response.responder_key_hash.hex()}"
    name = response.responder_name
    return f"byName {name.rfc4514_string() if name is not None else '?'}"


def check_signature(response: ocsp.OCSPResponse, signer: x509.Certificate) -> None:
    key = signer.public_key()
    oid = response.signature_algorithm_oid
    try:
        check_algorithm_fits_key(oid, key)
    except Rejected as rejected:
        raise Rejected(RejectReason.BAD_SIGNATURE, rejected.detail) from None
    data, signature = response.tbs_response_bytes, response.signature
    try:
        if oid == SignatureAlgorithmOID.RSASSA_PSS:
            raise Rejected(
                RejectReason.BAD_SIGNATURE, "RSASSA-PSS OCSP signatures are not supported"
            )
        algorithm = response.signature_hash_algorithm
        if not verify_with_key(key, signature, data, algorithm, padding.PKCS1v15()):
            raise Rejected(
                RejectReason.BAD_SIGNATURE, f"unsupported signer key {type(key).__name__}"
            )
    except InvalidSignature:
        raise Rejected(
            RejectReason.BAD_SIGNATURE,
            f"signature does not verify with the key of {signer.subject.rfc4514_string()}",
        ) from None
    except (UnsupportedAlgorithm, AssertionError, TypeError, ValueError) as error:
        raise Rejected(
            RejectReason.BAD_SIGNATURE,
            f"signature algorithm {oid.dotted_string} does not fit the signer's "
            f"{type(key).__name__} ({error})",
        ) from None


def check_delegation(
    responder: x509.Certificate, issuer: x509.Certificate, produced_at: datetime
) -> None:
    """RFC 6960 4.2.2.2: issued directly by the CA, with id-kp-OCSPSigning; valid then."""
    who = responder.subject.rfc4514_string()
    try:
        responder.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        raise Rejected(
            RejectReason.SIGNER_NOT_AUTHORIZED,
            f"responder certificate {who} was not issued by the issuer "
            f"{issuer.subject.rfc4514_string()}",
        ) from None
    if not allows_ocsp_signing(responder):
        raise Rejected(
            RejectReason.SIGNER_NOT_AUTHORIZED,
            f"responder certificate {who} lacks the id-kp-OCSPSigning extended key usage",
        )
    if not responder.not_valid_before_utc <= produced_at <= responder.not_valid_after_utc:
        raise Rejected(
            RejectReason.RESPONDER_CERT_EXPIRED,
            f"responder certificate {who} is valid {responder.not_valid_before_utc.isoformat()}"
            f" to {responder.not_valid_after_utc.isoformat()}, not at producedAt "
            f"{produced_at.isoformat()}",
        )


def find_single(response: ocsp.OCSPResponse, asked: Asked) -> ocsp.OCSPSingleResponse:
    """The SingleResponse for exactly the CertID asked (a responder may add others)."""
    serial = None
    for single in response.responses:
        serial = content_from_int(single.serial_number)
        if (
            single.hash_algorithm.name == asked.hash_algorithm
            and hmac.compare_digest(single.issuer_name_hash, asked.name_hash)
            and hmac.compare_digest(single.issuer_key_hash, asked.key_hash)
            and serial == asked.serial
        ):
            return single
    got = f"serial {serial_hex(serial)}" if serial is not None else "no SingleResponse"
    raise Rejected(
        RejectReason.CERTID_MISMATCH,
        f"no SingleResponse for the CertID asked ({asked.hash_algorithm}, serial "
        f"{serial_hex(asked.serial)}, this issuer); got {got}",
    )


def check_nonce(response: ocsp.OCSPResponse, sent: bytes | None) -> bool:
    """Returns whether the response carries a nonce at all."""
    try:
        ext = response.extensions.get_extension_for_class(x509.OCSPNonce)
    except x509.ExtensionNotFound:
        if sent is not None:
            raise Rejected(
                RejectReason.NONCE_MISSING,
                "a nonce was sent and the response has none; set ocsp_nonce = false for a "
                "responder that serves only pre-signed responses",
            ) from None
        return False
    if sent is not None and not hmac.compare_digest(ext.value.nonce, sent):
        raise Rejected(
            RejectReason.NONCE_MISMATCH,
            f"the response's nonce {ext.value.nonce.hex()[:16]}... is not the one sent "
            f"{sent.hex()[:16]}...",
        )
    return True


def check_extensions(response: ocsp.OCSPResponse) -> None:
    for ext in response.extensions:
        if ext.critical and ext.oid != OCSPExtensionOID.NONCE:
            raise Rejected(
                RejectReason.UNKNOWN_CRITICAL_EXTENSION,
                f"critical response extension {ext.oid.dotted_string} is not understood",
            )


def check_times(
    single: ocsp.OCSPSingleResponse,
    produced_at: datetime,
    now: datetime,
    skew: timedelta,
    default_validity: timedelta,
) -> tuple[datetime, datetime]:
    this_update, next_update = single.this_update_utc, single.next_update_utc
    for label, when in (("thisUpdate", this_update), ("producedAt", produced_at)):
        if when > now + skew:
            raise Rejected(
                RejectReason.NOT_YET_VALID,
                f"{label} {when.isoformat()} is in the future (now {now.isoformat()}, "
                f"clock_skew {skew}); check both clocks",
            )
    if next_update is None:
        if default_validity <= timedelta(0):
            raise Rejected(
                RejectReason.BAD_VALIDITY,
                "the response has no nextUpdate and ocsp_default_validity is 0",
            )
        return this_update, max(produced_at, this_update) + default_validity
    if next_update <= this_update:
        raise Rejected(
            RejectReason.BAD_VALIDITY,
            f"nextUpdate {next_update.isoformat()} is not after thisUpdate "
            f"{this_update.isoformat()}",
        )
    return this_update, next_update


def check_replay(answer: UpstreamAnswer, previous: UpstreamAnswer | None) -> None:
    if previous is not None and answer.is_older_than(previous):
        raise Rejected(
            RejectReason.REPLAY,
            f"response (producedAt {answer.produced_at.isoformat()}, thisUpdate "
            f"{answer.this_update.isoformat()}) is older than the one accepted (producedAt "
            f"{previous.produced_at.isoformat()}, thisUpdate "
            f"{previous.this_update.isoformat()}); keeping that one",
        )
