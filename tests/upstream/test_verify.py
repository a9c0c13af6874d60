"""verify_upstream, the acceptance rules of SPEC.md for upstream OCSP responses, one
named check per case; each rejection carries its reason code."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from revocd.errors import Rejected
from revocd.evidence import RejectReason
from revocd.ocsp.encode import ResponseStatus
from revocd.ocsp.signing import Signer
from revocd.status.answer import CertStatus
from revocd.upstream.verify import Asked, UpstreamAnswer, verify_upstream
from tests.support.pki import issue
from tests.upstream.conftest import (
    NOW,
    Pki,
    Single,
    cert_id_der,
    forge,
    serial,
    unsuccessful,
)

NONCE = b"n" * 32
SKEW = timedelta(minutes=5)
VALIDITY = timedelta(minutes=5)


def asked_for(pki: Pki, value: int = 0x1001, nonce: bytes | None = NONCE) -> Asked:
    return Asked.for_issuer(pki.ca.cert, serial(value), nonce=nonce)


def cid(asked: Asked) -> bytes:
    return cert_id_der(asked.name_hash, asked.key_hash, asked.serial)


def by_ca(pki: Pki) -> Signer:
    return Signer(pki.ca.cert, pki.ca.key, embed=False)  # type: ignore[arg-type]


def delegated(pair) -> Signer:
    return Signer(pair[0], pair[1], embed=True)


def check(der: bytes, pki: Pki, asked: Asked, previous: UpstreamAnswer | None = None):
    return verify_upstream(
        der,
        issuer=pki.ca.cert,
        asked=asked,
        now=NOW,
        clock_skew=SKEW,
        default_validity=VALIDITY,
        previous=previous,
    )


def test_good_signed_by_the_issuer(pki: Pki) -> None:
    asked = asked_for(pki)
    der = forge(by_ca(pki), [(Single(), cid(asked))], nonce=NONCE)
    answer = check(der, pki, asked)
    assert answer.status is CertStatus.GOOD
    assert answer.serial == serial(0x1001)
    assert (answer.this_update, answer.next_update) == (
        NOW - timedelta(hours=1),
        NOW + timedelta(days=1),
    )
    assert answer.produced_at == NOW - timedelta(hours=1)
    assert (answer.next_update_given, answer.has_nonce, answer.delegated) == (True, True, False)
    assert answer.der == der


def test_revoked_by_a_delegated_responder(pki: Pki) -> None:
    asked = asked_for(pki)
    single = Single("revoked", revoked_at=NOW - timedelta(days=3), reason=1)
    answer = check(forge(delegated(pki.delegated), [(single, cid(asked))], nonce=NONCE), pki, asked)
    assert answer.status is CertStatus.REVOKED
    assert (answer.revoked_at, answer.reason) == (NOW - timedelta(days=3), 1)
    assert answer.delegated


def test_unknown_and_no_nonce_asked(pki: Pki) -> None:
    asked = asked_for(pki, nonce=None)
    answer = check(forge(by_ca(pki), [(Single("unknown"), cid(asked))]), pki, asked)
    assert answer.status is CertStatus.UNKNOWN
    assert not answer.has_nonce


def test_the_asked_single_is_found_among_several(pki: Pki) -> None:
    asked = asked_for(pki, 0x2002)
    other = cert_id_der(asked.name_hash, asked.key_hash, serial(0x1001))
    der = forge(
        by_ca(pki),
        [(Single("revoked", reason=1), other), (Single("good"), cid(asked))],
        nonce=NONCE,
    )
    assert check(der, pki, asked).status is CertStatus.GOOD


def test_no_next_update_is_fresh_for_the_default_validity(pki: Pki) -> None:
    asked = asked_for(pki)
    produced = NOW - timedelta(minutes=1)
    single = Single(this_update=produced, next_update=None)
    der = forge(by_ca(pki), [(single, cid(asked))], nonce=NONCE, produced_at=produced)
    answer = check(der, pki, asked)
    assert answer.next_update == produced + VALIDITY
    assert not answer.next_update_given
    with pytest.raises(Rejected) as caught:
        verify_upstream(
            der,
            issuer=pki.ca.cert,
            asked=asked,
            now=NOW,
            clock_skew=SKEW,
            default_validity=timedelta(0),
        )
    assert caught.value.reason is RejectReason.BAD_VALIDITY


Case = Callable[[Pki, Asked], bytes]


def _garbage(pki: Pki, asked: Asked) -> bytes:
    return b"<html>502 Bad Gateway</html>"


def _truncated(pki: Pki, asked: Asked) -> bytes:
    return forge(by_ca(pki), [(Single(), cid(asked))], nonce=NONCE)[:-7]


def _status(status: ResponseStatus) -> Case:
    return lambda pki, asked: unsuccessful(status)


def _wrong_key(pki: Pki, asked: Asked) -> bytes:
    # names the issuer as signer (byKey), signed by another CA's key
    impostor = Signer(pki.ca.cert, pki.stranger.key, embed=False)  # type: ignore[arg-type]
    return forge(impostor, [(Single(), cid(asked))], nonce=NONCE)


def _unknown_signer(pki: Pki, asked: Asked) -> bytes:
    stranger = Signer(pki.stranger.cert, pki.stranger.key, embed=False)  # type: ignore[arg-type]
    return forge(stranger, [(Single(), cid(asked))], nonce=NONCE)


def _no_eku(pki: Pki, asked: Asked) -> bytes:
    return forge(delegated(pki.no_eku), [(Single(), cid(asked))], nonce=NONCE)


def _foreign(pki: Pki, asked: Asked) -> bytes:
    return forge(delegated(pki.foreign), [(Single(), cid(asked))], nonce=NONCE)


def _expired(pki: Pki, asked: Asked) -> bytes:
    return forge(delegated(pki.expired), [(Single(), cid(asked))], nonce=NONCE)


def _tampered_embedded_signature(pki: Pki, asked: Asked) -> bytes:
    # the delegated certificate embedded, but the response signed with the no-EKU key
    signer = Signer(pki.delegated[0], pki.no_eku[1], embed=True)  # type: ignore[arg-type]
    return forge(signer, [(Single(), cid(asked))], nonce=NONCE)


def _wrong_serial(pki: Pki, asked: Asked) -> bytes:
    wrong = cert_id_der(asked.name_hash, asked.key_hash, serial(0x9999))
    return forge(by_ca(pki), [(Single(), wrong)], nonce=NONCE)


def _wrong_issuer_hash(pki: Pki, asked: Asked) -> bytes:
    wrong = cert_id_der(asked.name_hash, b"\x00" * 20, asked.serial)
    return forge(by_ca(pki), [(Single(), wrong)], nonce=NONCE)


def _wrong_nonce(pki: Pki, asked: Asked) -> bytes:
    return forge(by_ca(pki), [(Single(), cid(asked))], nonce=b"x" * 32)


def _no_nonce(pki: Pki, asked: Asked) -> bytes:
    return forge(by_ca(pki), [(Single(), cid(asked))])


def _future(pki: Pki, asked: Asked) -> bytes:
    single = Single(this_update=NOW + timedelta(hours=1), next_update=NOW + timedelta(days=1))
    return forge(by_ca(pki), [(single, cid(asked))], nonce=NONCE)


def _future_produced(pki: Pki, asked: Asked) -> bytes:
    return forge(
        by_ca(pki), [(Single(), cid(asked))], nonce=NONCE, produced_at=NOW + timedelta(hours=1)
    )


def _inverted(pki: Pki, asked: Asked) -> bytes:
    single = Single(next_update=NOW - timedelta(hours=2))
    return forge(by_ca(pki), [(single, cid(asked))], nonce=NONCE)


def _critical_extension(pki: Pki, asked: Asked) -> bytes:
    from revocd.der import encode_tlv

    ext = encode_tlv(
        0x30,
        encode_tlv(0x06, bytes.fromhex("2b0601040182371501"))
        + b"\x01\x01\xff"
        + encode_tlv(0x04, b"\x05\x00"),
    )
    return forge(by_ca(pki), [(Single(), cid(asked))], nonce=NONCE, extensions=ext)


CASES: list[tuple[Case, RejectReason]] = [
    (_garbage, RejectReason.MALFORMED),
    (_truncated, RejectReason.MALFORMED),
    (_status(ResponseStatus.TRY_LATER), RejectReason.TRY_LATER),
    (_status(ResponseStatus.UNAUTHORIZED), RejectReason.UNAUTHORIZED),
    (_status(ResponseStatus.INTERNAL_ERROR), RejectReason.INTERNAL_ERROR),
    (_status(ResponseStatus.MALFORMED_REQUEST), RejectReason.MALFORMED_REQUEST),
    (_status(ResponseStatus.SIG_REQUIRED), RejectReason.SIG_REQUIRED),
    (_wrong_key, RejectReason.BAD_SIGNATURE),
    (_tampered_embedded_signature, RejectReason.BAD_SIGNATURE),
    (_unknown_signer, RejectReason.SIGNER_NOT_AUTHORIZED),
    (_no_eku, RejectReason.SIGNER_NOT_AUTHORIZED),
    (_foreign, RejectReason.SIGNER_NOT_AUTHORIZED),
    (_expired, RejectReason.RESPONDER_CERT_EXPIRED),
    (_wrong_serial, RejectReason.CERTID_MISMATCH),
    (_wrong_issuer_hash, RejectReason.CERTID_MISMATCH),
    (_wrong_nonce, RejectReason.NONCE_MISMATCH),
    (_no_nonce, RejectReason.NONCE_MISSING),
    (_future, RejectReason.NOT_YET_VALID),
    (_future_produced, RejectReason.NOT_YET_VALID),
    (_inverted, RejectReason.BAD_VALIDITY),
    (_critical_extension, RejectReason.UNKNOWN_CRITICAL_EXTENSION),
]


@pytest.mark.parametrize(
    ("make", "reason"), CASES, ids=[make.__name__.strip("_") or "x" for make, _ in CASES]
)
def test_rejections(pki: Pki, make: Case, reason: RejectReason) -> None:
    asked = asked_for(pki)
    with pytest.raises(Rejected) as caught:
        check(make(pki, asked), pki, asked)
    assert caught.value.reason is reason, caught.value.detail


def test_replay_of_an_older_response(pki: Pki) -> None:
    asked = asked_for(pki)
    older = forge(
        by_ca(pki), [(Single(), cid(asked))], nonce=NONCE, produced_at=NOW - timedelta(hours=2)
    )
    newer = check(forge(by_ca(pki), [(Single(), cid(asked))], nonce=NONCE), pki, asked)
    with pytest.raises(Rejected) as caught:
        check(older, pki, asked, previous=newer)
    assert caught.value.reason is RejectReason.REPLAY
    # the same response again is not older: accepted (pre-signed responders repeat)
    assert check(newer.der, pki, asked, previous=newer) == newer
    # an older thisUpdate with a newer producedAt is still a step back
    stale = Single(this_update=NOW - timedelta(hours=3))
    with pytest.raises(Rejected):
        check(forge(by_ca(pki), [(stale, cid(asked))], nonce=NONCE), pki, asked, previous=newer)


def test_byname_responder_id(pki: Pki) -> None:
    """openssl signs with responderID byName unless told -resp_key_id."""
    # cryptography stamps producedAt with the real clock: a responder valid around it
    real_now = datetime.now(UTC)
    responder, key = issue(
        pki.ca,
        "partner ocsp by name",
        ocsp_signing=True,
        not_before=real_now - timedelta(days=1),
        not_after=real_now + timedelta(days=1),
    )
    leaf, _ = issue(pki.ca, serial=0x1001)
    der = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            leaf,
            pki.ca.cert,
            hashes.SHA1(),
            ocsp.OCSPCertStatus.GOOD,
            real_now - timedelta(hours=1),
            real_now + timedelta(hours=5),
            None,
            None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.NAME, responder)
        .certificates([responder])
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    answer = verify_upstream(
        der,
        issuer=pki.ca.cert,
        asked=asked_for(pki, nonce=None),
        now=real_now,
        clock_skew=SKEW,
        default_validity=VALIDITY,
    )
    assert answer.delegated
    assert answer.status is CertStatus.GOOD
