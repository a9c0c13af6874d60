"""10,000 malformed, truncated or mutated OCSP requests: never a 5xx, and the responder
keeps answering real requests afterwards."""

from __future__ import annotations

import base64
import random
from datetime import timedelta

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from revocd.clock import ManualClock
from revocd.metrics import Metrics
from revocd.ocsp.responder import Responder, ResponderPolicy
from revocd.ocsp.signing import Signer
from revocd.status.answer import IssuerEvidence
from revocd.status.board import SourceBoard
from revocd.web.app import make_app
from tests.ocsp.test_responses_property import CA, CACHE, NOW, POLICY, RESPONDER
from tests.support.pki import issue


async def test_ten_thousand_bad_requests_never_break_the_responder(aiohttp_client):
    responder = Responder(
        CACHE,
        {"acme": Signer(RESPONDER.cert, RESPONDER.key, embed=False)},
        {"acme": POLICY.grace},
        ResponderPolicy(timedelta(hours=1), "ignore"),
    )
    assert isinstance(CACHE.evidence("acme"), IssuerEvidence)
    app = make_app(
        cache=CACHE,
        board=SourceBoard([]),
        clock=ManualClock(NOW),
        partners=(),
        metrics=Metrics(),
        responder=responder,
    )
    client = await aiohttp_client(app)
    leaf, _ = issue(CA, serial=0x4242)
    good = ocsp.OCSPRequestBuilder().add_certificate(leaf, CA.cert, hashes.SHA1()).build()
    real = good.public_bytes(serialization.Encoding.DER)
    rng = random.Random(9654)
    statuses: dict[int, int] = {}
    for i in range(10_000):
        kind = i % 4
        if kind == 0:
            body = bytearray(real)
            for _ in range(rng.randint(1, 4)):
                body[rng.randrange(len(body))] = rng.randrange(256)
            data = bytes(body)
        elif kind == 1:
            data = real[: rng.randrange(len(real))]
        elif kind == 2:
            data = rng.randbytes(rng.randint(0, 300))
        else:
            data = real + rng.randbytes(rng.randint(1, 20))
        if i % 2:
            response = await client.post("/ocsp", data=data, headers={"Content-Type": "text/plain"})
        else:
            text = (
                base64.b64encode(data).decode()
                if rng.random() < 0.8
                else rng.choice(["%%%", "*", "//a"])
            )
            response = await client.get("/ocsp/" + text)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        assert response.status < 500
        await response.read()
    assert set(statuses) <= {200, 304, 404}
    answer = await client.post("/ocsp", data=real)
    parsed = ocsp.load_der_ocsp_response(await answer.read())
    assert parsed.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
