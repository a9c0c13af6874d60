"""A replica's Responder with a signer of record (the primary's Responder): it pre-signs
nothing itself, so every process serves the same bytes; it signs its own only when the
primary gives no usable response; responses with a nonce never leave the process."""

from __future__ import annotations

import os
from datetime import timedelta

from cryptography.x509 import ocsp

from revocd.ocsp.encode import ResponseStatus, error_response
from revocd.ocsp.responder import Reply, Responder, ResponderPolicy
from revocd.ocsp.signing import Signer
from tests.ocsp.test_responses_property import CACHE, NOW, POLICY, RESPONDER, cert_id, request


def responder(signer_of_record=None) -> Responder:
    return Responder(
        CACHE,
        {"acme": Signer(RESPONDER.cert, RESPONDER.key, embed=False)},
        {"acme": POLICY.grace},
        ResponderPolicy(timedelta(hours=1), "echo"),
        signer_of_record=signer_of_record,
    )


class Primary:
    """The primary's side, as Replicas._sign_for runs it, counting the replica's asks."""

    def __init__(self, answer=None) -> None:
        self.responder = responder()
        self.asked: list[bytes] = []
        self.answer = answer

    async def sign(self, data: bytes) -> Reply | None:
        self.asked.append(data)
        if self.answer is not None:
            return self.answer
        return await self.responder.respond(data, NOW)


async def test_the_replica_serves_the_primarys_bytes_and_reuses_them():
    primary = Primary()
    replica = responder(primary.sign)
    data = request([cert_id(4, sha256=False), cert_id(7, sha256=True)], None)

    first = await replica.respond(data, NOW)
    again = await replica.respond(data, NOW + timedelta(minutes=1))

    assert first.body == again.body == (await primary.responder.respond(data, NOW)).body
    assert primary.asked == [data]  # asked once; then pre-signed in the replica too
    assert again.presigned
    assert ocsp.load_der_ocsp_response(first.body).response_status is (
        ocsp.OCSPResponseStatus.SUCCESSFUL
    )


async def test_a_primary_without_a_usable_response_leaves_the_replica_to_sign():
    unanswered: list[bytes] = []

    async def no_reply(data: bytes) -> Reply | None:
        unanswered.append(data)
        return None  # the primary did not answer in time

    refusing = Primary(Reply(error_response(ResponseStatus.TRY_LATER), ResponseStatus.TRY_LATER))
    for ask, asked in ((no_reply, unanswered), (refusing.sign, refusing.asked)):
        replica = responder(ask)
        data = request([cert_id(10, sha256=False)], None)
        reply = await replica.respond(data, NOW)
        assert asked == [data]
        parsed = ocsp.load_der_ocsp_response(reply.body)
        assert parsed.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
        assert parsed.serial_number == 10
        assert reply.cacheable


async def test_a_response_with_a_nonce_is_signed_where_it_is_asked():
    primary = Primary()
    replica = responder(primary.sign)
    reply = await replica.respond(request([cert_id(4, sha256=False)], os.urandom(16)), NOW)
    assert primary.asked == []
    assert not reply.cacheable
