"""Verify a fetched CRL and turn it into evidence, or refuse it with a reason. No I/O.

`verify_crl` is a top-level function of picklable arguments, so the poller runs it in a
process pool: a 1,000,000-entry CRL never stalls the event loop. Each acceptance rule of
SPEC.md is one small function raising `Rejected(reason, detail)`.

How a big CRL stays cheap: the DER is split with `revocd.der` into tbsCertList,
signatureAlgorithm and signature; the signature is verified directly over the tbs bytes
with the configured issuer's key; the header (issuer, times, extensions) is parsed by
cryptography from a re-assembled copy of the CRL *without* its entry list; the entries
are walked by `entries.build_index` straight into the compact index.
"""

from __future__ import annotations

import binascii
import hashlib
import warnings
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtensionOID, ObjectIdentifier, SignatureAlgorithmOID

from revocd.der import DerError, ReadOnlyBytes, Tlv, children, encode_tlv, expect
from revocd.errors import Rejected
from revocd.evidence import CrlEvidence, CrlMeta, RejectReason
from revocd.revoked import RevokedIndex
from revocd.verify.entries import build_index
from revocd.verify.idp import check_scope
from revocd.verify.names import names_match

_PEM_BEGIN = b"-----BEGIN X509 CRL-----"
_PEM_END = b"-----END X509 CRL-----"
UNDERSTOOD = {
    ExtensionOID.CRL_NUMBER,
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    ExtensionOID.ISSUING_DISTRIBUTION_POINT,
    ExtensionOID.DELTA_CRL_INDICATOR,
    ExtensionOID.FRESHEST_CRL,
    ExtensionOID.ISSUER_ALTERNATIVE_NAME,
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
}


@dataclass(frozen=True, slots=True)
class CrlCheckContext:
    """Everything verification needs; picklable (the issuer certificate travels as DER)."""

    issuer_cert_der: bytes
    issuer_name: str
    source_url: str
    configured_urls: tuple[str, ...]
    now: datetime
    clock_skew: timedelta
    max_crl_bytes: int


@dataclass(frozen=True, slots=True)
class CrlParts:
    """Offsets into the DER of a CertificateList."""

    tbs: Tlv
    tbs_children: tuple[Tlv, ...]
    inner_algorithm: Tlv
    outer_algorithm: Tlv
    signature: Tlv
    revoked: Tlv | None


@dataclass(frozen=True, slots=True)
class CheckedCrl:
    """A CRL whose every check but the entry walk has passed (see `check_crl`)."""

    der: bytes  # empty when identical to the input (saves sending it back from a worker)
    meta: CrlMeta  # entry_count still 0
    entries_start: int
    entries_end: int


def verify_crl(data: bytes, ctx: CrlCheckContext) -> CrlEvidence:
    """Every acceptance check, then the entries: evidence, or Rejected."""
    checked = check_crl(data, ctx)
    der = checked.der or data
    index, count = build_index(der, checked.entries_start, checked.entries_end)
    return with_entries(checked, der, index, count)


def check_crl(data: ReadOnlyBytes, ctx: CrlCheckContext) -> CheckedCrl:
    """Everything but walking the entries (cheap even for a 1,000,000-entry CRL)."""
    check_size(data, ctx.max_crl_bytes)
    decoded = pem_decoded(data)
    der = data if decoded is None else decoded
    parts = split(der)
    check_algorithms_agree(der, parts)  # before parsing: cryptography calls it malformed
    issuer = x509.load_der_x509_certificate(ctx.issuer_cert_der)
    header = parse_header(der, parts)
    check_issuer_name(header, issuer)
    check_can_sign_crl(issuer)
    # One hash of the 40 MB tbsCertList serves both equivocation and (SHA-256) signatures.
    tbs_sha256 = hashlib.sha256(memoryview(der)[parts.tbs.start : parts.tbs.end]).digest()
    check_signature(der, parts, header, issuer, tbs_sha256)
    check_extensions(header)
    check_scope(header.extensions, ctx.configured_urls)
    this_update, next_update = check_times(header, ctx.now, ctx.clock_skew)
    meta = CrlMeta(
        source_url=ctx.source_url,
        crl_number=crl_number(header),
        this_update=this_update,
        next_update=next_update,
        der_sha256=hashlib.sha256(der).digest(),
        tbs_sha256=tbs_sha256,
        entry_count=0,
        accepted_at=ctx.now,
    )
    start, end = (parts.revoked.content_start, parts.revoked.end) if parts.revoked else (0, 0)
    return CheckedCrl(decoded or b"", meta, start, end)


def with_entries(checked: CheckedCrl, der: bytes, index: RevokedIndex, count: int) -> CrlEvidence:
    return CrlEvidence(replace(checked.meta, entry_count=count), index, der)


def check_size(data: ReadOnlyBytes, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise Rejected(
            RejectReason.OVERSIZE,
            f"CRL is {len(data)} bytes, more than max_crl_bytes {max_bytes}",
        )


def pem_decoded(data: ReadOnlyBytes) -> bytes | None:
    """None for DER (used as it is); PEM (`-----BEGIN X509 CRL-----`) decoded. Anything
    else is malformed."""
    if data[:1] == b"\x30":
        return None
    if not isinstance(data, bytes):  # a mapped file that is not DER: PEM is small
        data = data[:]
    if not data.strip():
        raise Rejected(RejectReason.MALFORMED, "the partner sent an empty body, not a CRL")
    # Markers found with bytes.find, the body checked by strict base64: linear, and right
    # for a PEM of any size (looking only at the head and tail spliced the body).
    begin = data.find(_PEM_BEGIN)
    end = data.find(_PEM_END, begin + len(_PEM_BEGIN)) if begin >= 0 else -1
    if end < 0:
        start = data[:40]
        raise Rejected(
            RejectReason.MALFORMED,
            f"not a DER or PEM CRL (starts with {start!r}); is the URL serving an error page?",
        )
    body = data[begin + len(_PEM_BEGIN) : end]
    try:
        return binascii.a2b_base64(b"".join(body.split()), strict_mode=True)
    except binascii.Error as error:
        raise Rejected(RejectReason.MALFORMED, f"PEM CRL has bad base64 ({error})") from None


def split(der: ReadOnlyBytes) -> CrlParts:
    try:
        outer = expect(der, 0, 0x30)
        if outer.end != len(der):
            raise Rejected(
                RejectReason.MALFORMED, f"{len(der) - outer.end} bytes of trailing garbage"
            )
        tbs, algorithm, signature = children(der, outer)
        if tbs.tag != 0x30 or algorithm.tag != 0x30 or signature.tag != 0x03:
            raise DerError("CertificateList is not SEQUENCE { tbsCertList, algorithm, BIT STRING }")
        fields = children(der, tbs)
        i = 0
        if fields and fields[0].tag == 0x02:
            version = der[fields[0].content_start : fields[0].end]
            if version != b"\x01":
                raise DerError(f"CRL version {version.hex()} is not v2 (1)")
            i = 1
        if i == 0 and fields[-1].tag == 0xA0:
            raise DerError("a v1 CRL (no version field) carries crlExtensions; v2 is required")
        inner, _name, _this = fields[i], fields[i + 1], fields[i + 2]
        rest = fields[i + 3 :]
        if rest and rest[0].tag in (0x17, 0x18):
            rest = rest[1:]
        revoked = None
        if rest and rest[0].tag == 0x30:
            revoked, rest = rest[0], rest[1:]
        if rest and rest[0].tag == 0xA0:
            rest = rest[1:]
        if rest:
            raise DerError(f"unexpected field with tag 0x{rest[0].tag:02x} in tbsCertList")
    except (DerError, ValueError, IndexError) as error:
        raise Rejected(RejectReason.MALFORMED, f"not a DER CRL: {error}") from None
    return CrlParts(tbs, tuple(fields), inner, algorithm, signature, revoked)


def parse_header(der: ReadOnlyBytes, parts: CrlParts) -> x509.CertificateRevocationList:
    """cryptography's view of everything but the entries (re-assembled without them)."""
    kept = b"".join(
        der[f.start : f.end]
        for f in parts.tbs_children
        if parts.revoked is None or f != parts.revoked
    )
    stripped = encode_tlv(
        0x30,
        encode_tlv(0x30, kept)
        + der[parts.outer_algorithm.start : parts.outer_algorithm.end]
        + der[parts.signature.start : parts.signature.end],
    )
    try:
        header = x509.load_der_x509_crl(stripped)
        _ = header.extensions, header.issuer, header.last_update_utc, header.next_update_utc
    except ValueError as error:
        raise Rejected(RejectReason.MALFORMED, f"CRL header does not parse: {error}") from None
    return header


def check_issuer_name(header: x509.CertificateRevocationList, issuer: x509.Certificate) -> None:
    if not names_match(header.issuer, issuer.subject):
        raise Rejected(
            RejectReason.WRONG_ISSUER,
            f"CRL issuer '{header.issuer.rfc4514_string()}' is not the configured CA "
            f"'{issuer.subject.rfc4514_string()}'; wrong URL or wrong CA certificate configured?",
        )


def check_can_sign_crl(issuer: x509.Certificate) -> None:
    try:
        usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.crl_sign:
        raise Rejected(
            RejectReason.ISSUER_CANNOT_SIGN_CRL,
            f"the configured CA '{issuer.subject.rfc4514_string()}' has keyUsage without "
            "cRLSign, so it cannot sign CRLs (a separate CRL signer is an indirect CRL, "
            "not supported yet)",
        )


def check_algorithms_agree(der: ReadOnlyBytes, parts: CrlParts) -> None:
    outer = der[parts.outer_algorithm.start : parts.outer_algorithm.end]
    inner = der[parts.inner_algorithm.start : parts.inner_algorithm.end]
    if outer != inner:
        raise Rejected(
            RejectReason.BAD_SIGNATURE,
            "signatureAlgorithm differs from the one inside tbsCertList (RFC 5280 5.1.1.2)",
        )


def _oids(prefix: str) -> frozenset[ObjectIdentifier]:
    return frozenset(
        oid for name, oid in vars(SignatureAlgorithmOID).items() if name.startswith(prefix)
    )


def _dsa_public_key_type() -> type[dsa.DSAPublicKey] | None:
    """DSA public keys, while the installed cryptography still has them. cryptography 51
    deprecated DSA (FIPS 186-5 no longer approves it for signing) and warns on first use
    of its names, which this process must not turn into a failure at import: a CA that
    still signs CRLs with DSA is verified until cryptography drops it, and its CRLs are
    refused after that (a key type revocd does not verify with)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return getattr(dsa, "DSAPublicKey", None)


_DSA_PUBLIC_KEY = _dsa_public_key_type()

# The key type decides how the signature is checked, so the algorithm must name that key
# type: an "RSA" CRL carrying an ECDSA signature is not what the CA said it signed.
_ALGORITHMS_FOR_KEY: tuple[tuple[type, frozenset[ObjectIdentifier]], ...] = (
    (rsa.RSAPublicKey, _oids("RSA")),
    (ec.EllipticCurvePublicKey, _oids("ECDSA_")),
    (ed25519.Ed25519PublicKey, frozenset({SignatureAlgorithmOID.ED25519})),
    (ed448.Ed448PublicKey, frozenset({SignatureAlgorithmOID.ED448})),
    *([(_DSA_PUBLIC_KEY, _oids("DSA_"))] if _DSA_PUBLIC_KEY is not None else []),
)


def check_algorithm_fits_key(oid: ObjectIdentifier, key: object) -> None:
    for key_type, oids in _ALGORITHMS_FOR_KEY:
        if isinstance(key, key_type) and oid not in oids:
            raise Rejected(
                RejectReason.BAD_SIGNATURE,
                f"signature algorithm {oid.dotted_string} is not one for the configured CA's "
                f"{type(key).__name__}",
            )


def verify_with_key(
    key: object,
    signature: bytes,
    data: bytes,
    hashed: hashes.HashAlgorithm | Prehashed | None,
    rsa_padding: padding.AsymmetricPadding,
) -> bool:
    """Verify `signature` over `data` with whatever kind of public key `key` is. False for
    a key type revocd does not verify with; raises InvalidSignature when it does not
    verify, and UnsupportedAlgorithm, TypeError, ValueError or AssertionError when the
    algorithm does not fit the key (callers word these for their evidence)."""
    if isinstance(key, rsa.RSAPublicKey):
        assert hashed is not None
        key.verify(signature, data, rsa_padding, hashed)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        assert hashed is not None
        key.verify(signature, data, ec.ECDSA(hashed))
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        key.verify(signature, data)
    elif _DSA_PUBLIC_KEY is not None and isinstance(key, _DSA_PUBLIC_KEY):
        assert hashed is not None
        key.verify(signature, data, hashed)
    else:
        return False
    return True


def check_signature(
    der: ReadOnlyBytes,
    parts: CrlParts,
    header: x509.CertificateRevocationList,
    issuer: x509.Certificate,
    tbs_sha256: bytes | None = None,
) -> None:
    """Verify over the tbsCertList bytes with the configured CA's key. `tbs_sha256`, when
    given, saves hashing the tbsCertList again for a SHA-256 signature."""
    bits = der[parts.signature.content_start : parts.signature.end]
    if not bits or bits[0] != 0:
        raise Rejected(RejectReason.MALFORMED, "signature BIT STRING has unused bits")
    signature = bits[1:]
    key = issuer.public_key()
    check_algorithm_fits_key(header.signature_algorithm_oid, key)
    try:
        algorithm = header.signature_hash_algorithm
        hashed: hashes.HashAlgorithm | Prehashed | None = algorithm
        if tbs_sha256 is not None and isinstance(algorithm, hashes.SHA256):
            tbs, hashed = tbs_sha256, Prehashed(algorithm)
        else:
            tbs = der[parts.tbs.start : parts.tbs.end]
        params = header.signature_algorithm_parameters
        pad = params if isinstance(params, padding.PSS) else padding.PKCS1v15()
        if not verify_with_key(key, signature, tbs, hashed, pad):
            raise Rejected(
                RejectReason.BAD_SIGNATURE, f"unsupported issuer key {type(key).__name__}"
            )
    except InvalidSignature:
        raise Rejected(
            RejectReason.BAD_SIGNATURE,
            "signature does not verify with the configured CA's public key "
            "(signed by another key? has the CA been re-keyed?)",
        ) from None
    except (UnsupportedAlgorithm, AssertionError, TypeError, ValueError) as error:
        raise Rejected(
            RejectReason.BAD_SIGNATURE,
            f"signature algorithm {header.signature_algorithm_oid.dotted_string} does not fit "
            f"the configured CA's {type(key).__name__} ({error})",
        ) from None


def check_extensions(header: x509.CertificateRevocationList) -> None:
    for ext in header.extensions:
        if ext.critical and ext.oid not in UNDERSTOOD:
            raise Rejected(
                RejectReason.UNKNOWN_CRITICAL_EXTENSION,
                f"critical CRL extension {ext.oid.dotted_string} is not understood; "
                "RFC 5280 forbids using this CRL",
            )


def check_times(
    header: x509.CertificateRevocationList, now: datetime, skew: timedelta
) -> tuple[datetime, datetime]:
    this_update = header.last_update_utc
    next_update = header.next_update_utc
    if this_update > now + skew:
        raise Rejected(
            RejectReason.NOT_YET_VALID,
            f"thisUpdate {this_update.isoformat()} is in the future (now {now.isoformat()}, "
            f"clock_skew {skew}); check both clocks",
        )
    if next_update is None:
        raise Rejected(
            RejectReason.BAD_VALIDITY,
            "CRL has no nextUpdate, so revocd cannot tell when it goes stale",
        )
    if next_update <= this_update:
        raise Rejected(
            RejectReason.BAD_VALIDITY,
            f"nextUpdate {next_update.isoformat()} is not after thisUpdate "
            f"{this_update.isoformat()}",
        )
    return this_update, next_update


def crl_number(header: x509.CertificateRevocationList) -> int | None:
    try:
        return header.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return None
