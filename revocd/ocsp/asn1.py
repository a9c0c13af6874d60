"""The only hand-written ASN.1 in revocd: a strict reader for OCSP requests (RFC 6960 4.1).

cryptography parses only single-CertID requests; relying parties (openssl, Java, some
TLS stacks) send several. This reader takes the whole OCSPRequest apart with
`revocd.der`, which accepts only definite, minimal DER and bounds every read, so hostile
input raises `MalformedRequest`, never anything else::

    OCSPRequest ::= SEQUENCE { tbsRequest TBSRequest,
                               optionalSignature [0] EXPLICIT Signature OPTIONAL }
    TBSRequest  ::= SEQUENCE { version [0] EXPLICIT INTEGER DEFAULT v1,
                               requestorName [1] EXPLICIT GeneralName OPTIONAL,
                               requestList SEQUENCE OF Request,
                               requestExtensions [2] EXPLICIT Extensions OPTIONAL }
    Request     ::= SEQUENCE { reqCert CertID,
                               singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }
    CertID      ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, issuerNameHash OCTET STRING,
                               issuerKeyHash OCTET STRING, serialNumber INTEGER }

Each CertID keeps its exact bytes, so a response can echo it byte for byte. The nonce
(RFC 9654) is 1 to 128 octets; an empty or longer one is malformed. Signed requests are
accepted and their signature ignored (revocd answers anyone).
"""

from __future__ import annotations

from dataclasses import dataclass

from revocd.der import DerError, Tlv, children, expect, read_tlv
from revocd.serials import is_minimal

MAX_REQUEST_BYTES = 10 * 1024
MAX_CERT_IDS = 100
MAX_NONCE = 128

# AlgorithmIdentifier OIDs (content octets) -> name and digest length
HASHES = {
    bytes.fromhex("2b0e03021a"): ("sha1", 20),
    bytes.fromhex("608648016503040201"): ("sha256", 32),
    bytes.fromhex("608648016503040202"): ("sha384", 48),
    bytes.fromhex("608648016503040203"): ("sha512", 64),
}
OID_NONCE = bytes.fromhex("2b0601050507300102")


class MalformedRequest(ValueError):
    """The bytes are not an OCSP request revocd can answer: `malformedRequest`."""


@dataclass(frozen=True, slots=True)
class CertId:
    der: bytes  # the CertID exactly as sent, echoed in the response
    hash_algorithm: str  # sha1 | sha256 | sha384 | sha512
    name_hash: bytes
    key_hash: bytes
    serial: bytes  # DER INTEGER content octets


@dataclass(frozen=True, slots=True)
class OcspRequest:
    cert_ids: tuple[CertId, ...]
    nonce: bytes | None  # the nonce value (inner OCTET STRING content)
    nonce_extension: bytes | None  # the whole Extension, echoed as sent


def parse_request(data: bytes) -> OcspRequest:
    if not data:
        raise MalformedRequest("empty request")
    if len(data) > MAX_REQUEST_BYTES:
        raise MalformedRequest(f"request is {len(data)} bytes, over {MAX_REQUEST_BYTES}")
    try:
        return _parse(data)
    except (DerError, IndexError) as error:
        raise MalformedRequest(f"not a DER OCSPRequest: {error}") from None


def _parse(data: bytes) -> OcspRequest:
    outer = expect(data, 0, 0x30)
    if outer.end != len(data):
        raise MalformedRequest("trailing bytes after the OCSPRequest")
    parts = children(data, outer)
    if not parts or len(parts) > 2 or parts[0].tag != 0x30:
        raise MalformedRequest("OCSPRequest is not SEQUENCE { tbsRequest, [0] signature }")
    if len(parts) == 2 and parts[1].tag != 0xA0:
        raise MalformedRequest("unexpected field after tbsRequest")
    fields = children(data, parts[0])
    i = 0
    if i < len(fields) and fields[i].tag == 0xA0:
        version = expect(data, fields[i].content_start, 0x02, fields[i].end)
        if data[version.content_start : version.end] != b"\x00" or version.end != fields[i].end:
            raise MalformedRequest("only OCSP version 1 requests exist")
        i += 1
    if i < len(fields) and fields[i].tag == 0xA1:
        i += 1  # requestorName: informational
    if i >= len(fields) or fields[i].tag != 0x30:
        raise MalformedRequest("tbsRequest has no requestList")
    requests = children(data, fields[i])
    i += 1
    nonce = nonce_ext = None
    if i < len(fields) and fields[i].tag == 0xA2:
        nonce, nonce_ext = _request_extensions(data, fields[i])
        i += 1
    if i != len(fields):
        raise MalformedRequest("unexpected field in tbsRequest")
    if not requests:
        raise MalformedRequest("requestList is empty")
    if len(requests) > MAX_CERT_IDS:
        raise MalformedRequest(f"{len(requests)} CertIDs; at most {MAX_CERT_IDS} per request")
    return OcspRequest(tuple(_request(data, r) for r in requests), nonce, nonce_ext)


def _request(data: bytes, request: Tlv) -> CertId:
    if request.tag != 0x30:
        raise MalformedRequest("a Request is not a SEQUENCE")
    parts = children(data, request)
    if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].tag != 0xA0):
        raise MalformedRequest("Request is not SEQUENCE { CertID, [0] extensions }")
    return _cert_id(data, parts[0])


def _cert_id(data: bytes, cert_id: Tlv) -> CertId:
    if cert_id.tag != 0x30:
        raise MalformedRequest("CertID is not a SEQUENCE")
    fields = children(data, cert_id)
    if len(fields) != 4:
        raise MalformedRequest("CertID does not have four fields")
    algorithm, name_hash, key_hash, serial = fields
    if algorithm.tag != 0x30 or name_hash.tag != 0x04 or key_hash.tag != 0x04 or serial.tag != 0x02:
        raise MalformedRequest("CertID fields have the wrong types")
    alg_fields = children(data, algorithm)
    if not alg_fields or alg_fields[0].tag != 0x06 or len(alg_fields) > 2:
        raise MalformedRequest("CertID hashAlgorithm is not an AlgorithmIdentifier")
    if len(alg_fields) == 2 and data[alg_fields[1].start : alg_fields[1].end] != b"\x05\x00":
        raise MalformedRequest("CertID hashAlgorithm parameters must be absent or NULL")
    known = HASHES.get(data[alg_fields[0].content_start : alg_fields[0].end])
    if known is None:
        raise MalformedRequest("CertID uses a hash algorithm revocd does not support")
    name, size = known
    name_bytes = data[name_hash.content_start : name_hash.end]
    key_bytes = data[key_hash.content_start : key_hash.end]
    if len(name_bytes) != size or len(key_bytes) != size:
        raise MalformedRequest(f"CertID hashes are not {size}-octet {name} digests")
    serial_bytes = data[serial.content_start : serial.end]
    if not is_minimal(serial_bytes):
        raise MalformedRequest("CertID serialNumber is not a minimal DER INTEGER")
    return CertId(data[cert_id.start : cert_id.end], name, name_bytes, key_bytes, serial_bytes)


def _request_extensions(data: bytes, wrapper: Tlv) -> tuple[bytes | None, bytes | None]:
    extensions = expect(data, wrapper.content_start, 0x30, wrapper.end)
    if extensions.end != wrapper.end:
        raise MalformedRequest("requestExtensions has trailing bytes")
    nonce = nonce_ext = None
    seen: set[bytes] = set()
    for ext in children(data, extensions):
        if ext.tag != 0x30:
            raise MalformedRequest("an extension is not a SEQUENCE")
        parts = children(data, ext)
        if len(parts) not in (2, 3) or parts[0].tag != 0x06 or parts[-1].tag != 0x04:
            raise MalformedRequest("an extension is not SEQUENCE { OID, critical, OCTET STRING }")
        oid = data[parts[0].content_start : parts[0].end]
        if oid in seen:
            raise MalformedRequest("an extension appears twice")
        seen.add(oid)
        if oid != OID_NONCE:
            continue  # unknown request extensions are ignored (RFC 6960 4.4)
        value = parts[-1]
        inner = read_tlv(data, value.content_start, value.end)
        if inner.tag != 0x04 or inner.end != value.end:
            raise MalformedRequest("nonce is not an OCTET STRING (RFC 9654)")
        nonce = data[inner.content_start : inner.end]
        if not 1 <= len(nonce) <= MAX_NONCE:
            raise MalformedRequest(
                f"nonce is {len(nonce)} octets; RFC 9654 allows 1 to {MAX_NONCE}"
            )
        nonce_ext = data[ext.start : ext.end]
    return nonce, nonce_ext
