"""Every response revocd emits parses and verifies with cryptography, for random requests:
any number of CertIDs, SHA-1 or SHA-256, with or without a nonce, any answer state."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from hypothesis import given, settings
from hypothesis import strategies as st

from revocd.der import encode_tlv
from revocd.evidence import CrlMeta
from revocd.model import Issuer, IssuerKey, Partner, Policy, SigningMode
from revocd.ocsp.responder import Responder, ResponderPolicy
from revocd.ocsp.signing import Signer
from revocd.revoked import RevokedIndex, epoch_seconds
from revocd.serials import content_from_int
from revocd.status.answer import IssuerEvidence
from revocd.status.cache import StatusCache
from tests.support.pki import make_ca

NOW = datetime(2026, 6, 1, tzinfo=UTC)
POLICY = Policy(
    timedelta(minutes=5), timedelta(hours=1), timedelta(seconds=5), 10**6, timedelta(minutes=5)
)
CA = make_ca("Property OCSP CA")
RESPONDER = make_ca("revocd responder")
KEY = IssuerKey.from_certificate(CA.cert)
ISSUER = Issuer(
    "acme", "acme", Path("x"), CA.cert, KEY, ("u",), (), SigningMode.TRUSTED, None, None
)
CACHE = StatusCache((Partner("acme", POLICY, (ISSUER,)),))
REVOKED = {content_from_int(s) for s in range(1, 50, 3)}
CACHE.install(
    IssuerEvidence(
        "acme",
        POLICY.grace,
        CrlMeta(
            "u", 1, NOW - timedelta(hours=1), NOW + timedelta(hours=5), b"d" * 32, b"t" * 32, 0, NOW
        ),
        RevokedIndex.from_entries((s, epoch_seconds(NOW - timedelta(days=1)), 1) for s in REVOKED),
        {},
    )
)
CACHE.ready = True
SHA1 = encode_tlv(0x30, encode_tlv(0x06, bytes.fromhex("2b0e03021a")) + b"\x05\x00")
SHA256 = encode_tlv(0x30, encode_tlv(0x06, bytes.fromhex("608648016503040201")) + b"\x05\x00")


def cert_id(serial: int, sha256: bool) -> bytes:
    names = (KEY.name_sha256, KEY.key_sha256) if sha256 else (KEY.name_sha1, KEY.key_sha1)
    return encode_tlv(
        0x30,
        (SHA256 if sha256 else SHA1)
        + encode_tlv(0x04, names[0])
        + encode_tlv(0x04, names[1])
        + encode_tlv(0x02, content_from_int(serial)),
    )


def request(ids: list[bytes], nonce: bytes | None) -> bytes:
    body = encode_tlv(0x30, b"".join(encode_tlv(0x30, i) for i in ids))
    if nonce is not None:
        ext = encode_tlv(
            0x30,
            encode_tlv(0x06, bytes.fromhex("2b0601050507300102"))
            + encode_tlv(0x04, encode_tlv(0x04, nonce)),
        )
        body += encode_tlv(0xA2, encode_tlv(0x30, ext))
    return encode_tlv(0x30, encode_tlv(0x30, body))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 60), st.booleans()), min_size=1, max_size=8),
    st.one_of(st.none(), st.binary(min_size=1, max_size=128)),
    st.sampled_from([NOW, NOW + timedelta(hours=5, minutes=30)]),
)
def test_responses_parse_verify_and_answer_in_order(items, nonce, now):
    responder = Responder(
        CACHE,
        {"acme": Signer(RESPONDER.cert, RESPONDER.key, embed=False)},
        {"acme": POLICY.grace},
        ResponderPolicy(timedelta(hours=1), "echo"),
    )
    ids = [cert_id(serial, sha256) for serial, sha256 in items]
    reply = asyncio.run(responder.respond(request(ids, nonce), now))
    parsed = ocsp.load_der_ocsp_response(reply.body)
    assert parsed.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    public = RESPONDER.cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(
        parsed.signature, parsed.tbs_response_bytes, ec.ECDSA(parsed.signature_hash_algorithm)
    )
    assert (
        parsed.responder_key_hash
        == hashlib.sha1(
            RESPONDER.cert.public_key().public_bytes(
                serialization.Encoding.X962,
                serialization.PublicFormat.UncompressedPoint,
            ),
            usedforsecurity=False,
        ).digest()
    )
    singles = list(parsed.responses)
    assert [s.serial_number for s in singles] == [serial for serial, _ in items]
    for single, (serial, sha256) in zip(singles, items, strict=True):
        expected = (
            ocsp.OCSPCertStatus.REVOKED
            if content_from_int(serial) in REVOKED
            else ocsp.OCSPCertStatus.GOOD
        )
        assert single.certificate_status == expected
        assert single.hash_algorithm.name == ("sha256" if sha256 else "sha1")
        assert single.this_update_utc <= now
        assert single.next_update_utc is not None
        assert single.next_update_utc > now
        assert single.next_update_utc <= max(NOW + timedelta(hours=5), now + timedelta(hours=1))
    nonces = [e.value.nonce for e in parsed.extensions if isinstance(e.value, x509.OCSPNonce)]
    assert nonces == ([] if nonce is None else [nonce])
