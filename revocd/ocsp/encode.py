"""DER encoding of OCSP responses (RFC 6960 4.2), several SingleResponses in one.

cryptography builds only single responses, so the ResponseData is assembled here from
small pieces and signed by `signing.py`. Every CertID is echoed byte for byte as the
request sent it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum

from revocd.der import encode_tlv

OID_BASIC = bytes.fromhex("2b0601050507300101")
OID_NONCE = bytes.fromhex("2b0601050507300102")


class ResponseStatus(IntEnum):
    SUCCESSFUL = 0
    MALFORMED_REQUEST = 1
    INTERNAL_ERROR = 2
    TRY_LATER = 3
    SIG_REQUIRED = 5
    UNAUTHORIZED = 6


def error_response(status: ResponseStatus) -> bytes:
    """An OCSPResponse with no responseBytes (`malformedRequest`, `unauthorized`, ...)."""
    return encode_tlv(0x30, encode_tlv(0x0A, bytes((status,))))


def generalized_time(when: datetime) -> bytes:
    return encode_tlv(0x18, when.astimezone(UTC).strftime("%Y%m%d%H%M%SZ").encode())


@dataclass(frozen=True, slots=True)
class Single:
    cert_id_der: bytes
    status: str  # good | revoked | unknown
    this_update: datetime
    next_update: datetime
    revoked_at: datetime | None = None
    reason: int | None = None


def single_response(single: Single) -> bytes:
    if single.status == "good":
        status = b"\x80\x00"
    elif single.status == "unknown":
        status = b"\x82\x00"
    else:
        assert single.revoked_at is not None
        info = generalized_time(single.revoked_at)
        if single.reason is not None:
            info += encode_tlv(0xA0, encode_tlv(0x0A, bytes((single.reason,))))
        status = encode_tlv(0xA1, info)
    return encode_tlv(
        0x30,
        single.cert_id_der
        + status
        + generalized_time(single.this_update)
        + encode_tlv(0xA0, generalized_time(single.next_update)),
    )


def response_data(
    responder_key_hash: bytes,
    produced_at: datetime,
    singles: list[Single],
    nonce_extension: bytes | None,
) -> bytes:
    """ResponseData with responderID byKey (SHA-1 of the responder's public key bits)."""
    body = (
        encode_tlv(0xA2, encode_tlv(0x04, responder_key_hash))
        + generalized_time(produced_at)
        + encode_tlv(0x30, b"".join(single_response(s) for s in singles))
    )
    if nonce_extension is not None:
        body += encode_tlv(0xA1, encode_tlv(0x30, nonce_extension))
    return encode_tlv(0x30, body)


def ocsp_response(tbs: bytes, algorithm: bytes, signature: bytes, certs: list[bytes]) -> bytes:
    basic = tbs + algorithm + encode_tlv(0x03, b"\x00" + signature)
    if certs:
        basic += encode_tlv(0xA0, encode_tlv(0x30, b"".join(certs)))
    response_bytes = encode_tlv(
        0x30, encode_tlv(0x06, OID_BASIC) + encode_tlv(0x04, encode_tlv(0x30, basic))
    )
    return encode_tlv(
        0x30,
        encode_tlv(0x0A, bytes((ResponseStatus.SUCCESSFUL,))) + encode_tlv(0xA0, response_bytes),
    )
