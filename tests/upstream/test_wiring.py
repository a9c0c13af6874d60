"""Upstream OCSP wired into the answers: the JSON seam (`Answers`) and the OCSP responder
answer an OCSP-only issuer from upstream, revoked in any evidence wins, a conflict is
reported once, a new upstream answer invalidates pre-signed responses, and pass-through
relays the partner's bytes exactly when they answer the request."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.x509 import ocsp

from revocd.evidence import CrlMeta
from revocd.model import Issuer, Partner, SigningMode, SourceKind
from revocd.ocsp.asn1 import OcspRequest
from revocd.ocsp.responder import Responder, ResponderPolicy
from revocd.ocsp.signing import Signer
from revocd.revoked import RevokedIndex, epoch_seconds
from revocd.status.answer import Answer, CertStatus, IssuerEvidence, UnknownReason
from revocd.status.cache import StatusCache
from revocd.upstream.answers import Answers
from revocd.upstream.client import build_request
from revocd.upstream.outcome import UpstreamResult
from tests.support.pki import make_ca
from tests.upstream.conftest import GRACE, NOW, POLICY, Rig, Single, forge, serial

NO_NONCE = replace(POLICY, ocsp=replace(POLICY.ocsp, nonce=False))


@dataclass
class PartnerResponder:
    """A partner responder whose answer can change while the test runs; it records every
    response body it sent."""

    rig: Rig
    status: str = "good"
    sent: list[bytes] = field(default_factory=list)

    async def behave(self, request: OcspRequest) -> bytes:
        single = Single(self.status, revoked_at=NOW - timedelta(days=2), reason=1)
        signer = Signer(self.rig.pki.ca.cert, self.rig.pki.ca.key, embed=False)  # type: ignore[arg-type]
        body = forge(signer, [(single, request.cert_ids[0].der)], nonce=request.nonce)
        self.sent.append(body)
        return body


@dataclass
class World:
    rig: Rig
    issuer: Issuer
    cache: StatusCache
    answers: Answers
    responder: Responder
    partner: PartnerResponder
    trusted: Signer
    conflicts: list[tuple[Issuer, Answer, UpstreamResult]]


async def world(rig: Rig, *, signing: SigningMode = SigningMode.TRUSTED) -> World:
    partner = PartnerResponder(rig)
    server = await rig.serve(partner.behave)
    issuer = replace(
        rig.issuer(server.url),
        signing=signing,
        passthrough_fallback=SigningMode.TRUSTED if signing is SigningMode.PASSTHROUGH else None,
    )
    policy = NO_NONCE if signing is SigningMode.PASSTHROUGH else POLICY
    cache = StatusCache((Partner("partner", policy, (issuer,)),))
    cache.set_ready()
    answers = Answers(cache, {issuer.name: policy}, rig.cache)
    conflicts: list[tuple[Issuer, Answer, UpstreamResult]] = []
    answers.on_conflict.append(lambda *args: conflicts.append(args))
    responder_ca = make_ca("revocd responder")
    trusted = Signer(responder_ca.cert, responder_ca.key, embed=False)  # type: ignore[arg-type]
    responder = Responder(
        cache, {issuer.name: trusted}, {issuer.name: GRACE}, ResponderPolicy(), answers=answers
    )
    return World(rig, issuer, cache, answers, responder, partner, trusted, conflicts)


def install_crl(w: World, revoked: tuple[int, ...], *, next_update: timedelta) -> None:
    entries = [(serial(s), epoch_seconds(NOW - timedelta(days=3)), 1) for s in revoked]
    meta = CrlMeta(
        source_url="http://pki.partner.example/issuing.crl",
        crl_number=5,
        this_update=NOW - timedelta(hours=1),
        next_update=NOW + next_update,
        der_sha256=hashlib.sha256(b"crl").digest(),
        tbs_sha256=hashlib.sha256(b"tbs").digest(),
        entry_count=len(entries),
        accepted_at=NOW,
    )
    w.cache.install(IssuerEvidence(w.issuer.name, GRACE, meta, RevokedIndex.from_entries(entries)))


def single(body: bytes) -> ocsp.OCSPResponse:
    response = ocsp.load_der_ocsp_response(body)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    return response


@pytest.mark.parametrize(
    ("status", "expected", "reason"),
    [
        ("good", "good", None),
        ("revoked", "revoked", None),
        ("unknown", "unknown", "upstream_unknown"),
    ],
    ids=["good", "revoked", "unknown"],
)
async def test_an_ocsp_only_issuer_is_answered_from_upstream(
    rig: Rig, status: str, expected: str, reason: str | None
) -> None:
    w = await world(rig)
    w.partner.status = status
    answer = await w.answers.answer(w.issuer, serial(0x42), NOW)
    assert answer.status.value == expected
    assert (answer.unknown_reason.value if answer.unknown_reason else None) == reason
    assert answer.source is not None
    assert answer.source.type is SourceKind.OCSP
    assert answer.source.url == w.issuer.ocsp_urls[0]
    assert answer.this_update == NOW - timedelta(hours=1)
    assert answer.next_update == NOW + timedelta(days=1)
    reply = await w.responder.respond(
        build_request(w.issuer.cert, serial(0x42), nonce=None).der, NOW
    )
    response = single(reply.body)
    assert response.certificate_status.name.lower() == expected
    if expected != "unknown":  # unknown claims nothing: now, and a minute
        assert response.this_update_utc == NOW - timedelta(hours=1)
        assert response.next_update_utc == NOW + timedelta(days=1)  # the upstream's, no more


async def test_an_unreachable_upstream_is_unknown_with_its_reason(rig: Rig) -> None:
    w = await world(rig)
    w.issuer = replace(w.issuer, ocsp_urls=("http://127.0.0.1:9/",))
    answer = await w.answers.answer(w.issuer, serial(0x42), NOW)
    assert answer.status is CertStatus.UNKNOWN
    assert answer.unknown_reason is UnknownReason.UPSTREAM_UNREACHABLE


async def test_expired_crls_fall_back_to_upstream_and_fresh_ones_do_not_ask(rig: Rig) -> None:
    w = await world(rig)
    install_crl(w, (), next_update=-timedelta(hours=2))  # past nextUpdate + grace
    answer = await w.answers.answer(w.issuer, serial(0x42), NOW)
    assert answer.status is CertStatus.GOOD
    assert answer.source is not None
    assert answer.source.type is SourceKind.OCSP
    install_crl(w, (), next_update=timedelta(hours=2))
    answer = await w.answers.answer(w.issuer, serial(0x43), NOW)
    assert answer.status is CertStatus.GOOD
    assert answer.source is not None
    assert answer.source.type is SourceKind.CRL
    assert len(w.partner.sent) == 1  # the fresh CRL decided: upstream was not asked


async def test_revoked_in_any_evidence_wins_and_a_conflict_is_reported_once(rig: Rig) -> None:
    w = await world(rig)
    await w.answers.answer(w.issuer, serial(0x42), NOW)  # upstream says good, cached
    install_crl(w, (0x42,), next_update=timedelta(hours=2))
    for _ in range(3):
        answer = await w.answers.answer(w.issuer, serial(0x42), NOW)
        assert answer.status is CertStatus.REVOKED
        assert answer.source is not None
        assert answer.source.type is SourceKind.CRL
    assert len(w.conflicts) == 1
    # and the other way round: a fresh CRL says good, the cached upstream answer revoked
    w.partner.status = "revoked"
    install_crl(w, (), next_update=-timedelta(hours=2))
    await w.answers.answer(w.issuer, serial(0x77), NOW)
    install_crl(w, (), next_update=timedelta(hours=2))
    answer = await w.answers.answer(w.issuer, serial(0x77), NOW)
    assert answer.status is CertStatus.REVOKED
    assert answer.source is not None
    assert answer.source.type is SourceKind.OCSP


async def test_a_new_upstream_answer_invalidates_pre_signed_responses(rig: Rig) -> None:
    w = await world(rig)
    request = build_request(w.issuer.cert, serial(0x42), nonce=None).der
    first = await w.responder.respond(request, NOW)
    assert single(first.body).certificate_status is ocsp.OCSPCertStatus.GOOD
    again = await w.responder.respond(request, NOW)
    assert again.presigned  # the nonce-less fast path
    assert again.body == first.body
    # the background refresh fetches a newer answer before the old one goes stale
    w.partner.status = "revoked"
    rig.clock.advance(hours=18)
    assert await rig.cache.refresh_due() == 1
    now = rig.clock.now()
    assert now < (first.next_update or now)  # the old response has not expired by time
    later = await w.responder.respond(request, now)
    assert single(later.body).certificate_status is ocsp.OCSPCertStatus.REVOKED
    # the CertID form of the same request (another encoding, same CertIDs) agrees
    other = build_request(w.issuer.cert, serial(0x42), nonce=b"n" * 16).der
    assert single((await w.responder.respond(other, now)).body).certificate_status is (
        ocsp.OCSPCertStatus.REVOKED
    )


def relayed(w: World) -> Callable[[bytes], bool]:
    return lambda body: body in w.partner.sent


async def test_passthrough_relays_the_partners_bytes_for_exactly_its_request(rig: Rig) -> None:
    w = await world(rig, signing=SigningMode.PASSTHROUGH)
    request = build_request(w.issuer.cert, serial(0x42), nonce=None, hash_algorithm="sha256")
    reply = await w.responder.respond(request.der, NOW)
    assert reply.body == w.partner.sent[-1]  # byte for byte
    assert reply.cacheable
    assert rig.servers[0].seen[0].cert_ids[0].hash_algorithm == "sha256"  # the client's hash
    assert rig.servers[0].seen[0].nonce is None
    assert (await w.responder.respond(request.der, NOW)).body == reply.body


@pytest.mark.parametrize("case", ["client-nonce", "two-cert-ids", "crl-revoked"])
async def test_passthrough_falls_back_to_its_signer(rig: Rig, case: str) -> None:
    w = await world(rig, signing=SigningMode.PASSTHROUGH)
    nonce = b"client nonce 123" if case == "client-nonce" else None
    der = build_request(w.issuer.cert, serial(0x42), nonce=nonce).der
    if case == "two-cert-ids":
        one = build_request(w.issuer.cert, serial(0x42), nonce=None).der
        two = build_request(w.issuer.cert, serial(0x43), nonce=None).der
        der = _two_cert_ids(one, two)
    if case == "crl-revoked":
        install_crl(w, (0x42,), next_update=timedelta(hours=2))
    reply = await w.responder.respond(der, NOW)
    assert reply.body not in w.partner.sent
    response = single(reply.body)
    assert response.responder_key_hash == w.trusted.key_hash  # revocd's fallback signer
    if case == "client-nonce":
        assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    if case == "crl-revoked":
        assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    if case == "two-cert-ids":
        assert len(list(response.responses)) == 2


def _two_cert_ids(one: bytes, two: bytes) -> bytes:
    """An OCSPRequest with the Request of each of two one-CertID requests."""
    from revocd.der import encode_tlv, read_tlv

    def request_of(der: bytes) -> bytes:
        outer = read_tlv(der, 0)
        tbs = read_tlv(der, outer.content_start)
        requests = read_tlv(der, tbs.content_start)
        return der[requests.content_start : requests.end]

    return encode_tlv(0x30, encode_tlv(0x30, encode_tlv(0x30, request_of(one) + request_of(two))))
