"""Every JSON route answers what openapi.json promises, in every answer state."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization

from revocd.clock import ManualClock
from revocd.evidence import CrlMeta
from revocd.metrics import Metrics
from revocd.model import Issuer, IssuerKey, Partner, Policy, SigningMode
from revocd.revoked import Revocation, RevokedIndex, epoch_seconds
from revocd.serials import content_from_int
from revocd.status.answer import IssuerEvidence, StickyRevocation
from revocd.status.board import SourceBoard
from revocd.status.cache import StatusCache
from revocd.web.app import make_app
from tests.support.pki import T0, issue, make_ca
from tests.web.contract import validate

POLICY = Policy(
    timedelta(minutes=5), timedelta(hours=1), timedelta(seconds=10), 10**6, timedelta(minutes=5)
)
URL = "http://pki.example/acme.crl"


def issuer_of(name, partner, ca, urls=(URL,)):
    return Issuer(
        name,
        partner,
        None,
        ca.cert,
        IssuerKey.from_certificate(ca.cert),
        urls,
        (),
        SigningMode.TRUSTED,
        None,
        None,
    )


@pytest.fixture
def world():
    acme, globex = make_ca("Acme CA"), make_ca("Globex CA")
    partners = (
        Partner("acme", POLICY, (issuer_of("acme-issuing", "acme", acme),)),
        Partner("globex", POLICY, (issuer_of("globex-issuing", "globex", globex, ()),)),
    )
    cache = StatusCache(partners)
    meta = CrlMeta(URL, 42, T0, T0 + timedelta(days=1), b"d" * 32, b"t" * 32, 2, T0)
    index = RevokedIndex.from_entries(
        [(content_from_int(0x1001), epoch_seconds(T0 - timedelta(days=1)), 1), (b"\xff", 0, 255)]
    )
    sticky = {
        content_from_int(0x77): StickyRevocation(Revocation(content_from_int(0x77), T0, 4), URL, 41)
    }
    cache.install(IssuerEvidence("acme-issuing", POLICY.grace, meta, index, sticky))
    board = SourceBoard(s for p in partners for i in p.issuers for s in i.sources)
    source = partners[0].issuers[0].sources[0]
    board.update(
        source,
        meta=meta,
        last_success=T0,
        failing=True,
        last_error="HTTP 500",
        last_error_at=T0 + timedelta(hours=1),
        last_reject_reason="http_status",
    )
    clock = ManualClock(T0 + timedelta(hours=2))
    app = make_app(cache=cache, board=board, clock=clock, partners=partners, metrics=Metrics())
    return app, cache, clock, acme


STATUS = "/v1/status/{issuer}/{serial}"


@pytest.mark.parametrize(
    ("issuer", "serial", "now", "status", "freshness"),
    [
        ("acme-issuing", "1001", timedelta(hours=2), "revoked", "fresh"),
        ("acme-issuing", "10:01", timedelta(hours=2), "revoked", "fresh"),
        ("acme-issuing", "-1", timedelta(hours=2), "revoked", "fresh"),
        ("acme-issuing", "ff", timedelta(hours=2), "good", "fresh"),
        ("acme-issuing", "77", timedelta(hours=2), "revoked", "fresh"),
        ("acme-issuing", "2002", timedelta(days=1, minutes=30), "good", "stale"),
        ("acme-issuing", "2002", timedelta(days=1, hours=1), "unknown", "expired"),
        ("acme-issuing", "1001", timedelta(days=9), "revoked", "expired"),
        ("globex-issuing", "2002", timedelta(hours=2), "unknown", "none"),
    ],
    ids=[
        "revoked",
        "colon-hex",
        "der-ff-is-minus-1",
        "255-is-not-minus-1",
        "sticky",
        "good-stale",
        "unknown-expired",
        "revoked-survives-expiry",
        "no-evidence",
    ],
)
async def test_status_answers_match_the_contract(
    aiohttp_client, world, issuer, serial, now, status, freshness
):
    app, cache, clock, _ = world
    cache.ready = True
    clock.set(T0 + now)
    client = await aiohttp_client(app)
    response = await client.get(f"/v1/status/{issuer}/{serial}")
    body = await response.json()
    assert response.status == 200
    validate(STATUS, "get", 200, body)
    assert (body["status"], body["freshness"]) == (status, freshness)


async def test_issuer_by_key_hash_and_errors(aiohttp_client, world):
    app, cache, _, acme = world
    client = await aiohttp_client(app)
    response = await client.get("/v1/status/acme-issuing/1001")
    assert response.status == 503
    validate(STATUS, "get", 503, await response.json())
    cache.ready = True
    key = IssuerKey.from_certificate(acme.cert)
    for ref in (key.key_sha1.hex(), key.key_sha256.hex().upper()):
        response = await client.get(f"/v1/status/{ref}/1001")
        assert (await response.json())["issuer"] == "acme-issuing"
    for path, code, error in [
        ("/v1/status/nobody/1001", 404, "unknown_issuer"),
        ("/v1/status/acme-issuing/xyz", 400, "bad_serial"),
    ]:
        response = await client.get(path)
        body = await response.json()
        assert (response.status, body["error"]) == (code, error)
        validate(STATUS, "get", code, body)


async def test_batch_of_queries_and_certificates(aiohttp_client, world):
    app, cache, _, acme = world
    cache.ready = True
    client = await aiohttp_client(app)
    leaf, _ = issue(acme, serial=0x1001)
    pem = leaf.public_bytes(serialization.Encoding.PEM).decode()
    response = await client.post(
        "/v1/status",
        json={
            "queries": [
                {"issuer": "acme-issuing", "serial": "1001"},
                {"issuer": "nobody", "serial": "1"},
            ]
        },
    )
    body = await response.json()
    validate("/v1/status", "post", 200, body)
    assert [r.get("status", r.get("error")) for r in body["results"]] == [
        "revoked",
        "unknown_issuer",
    ]
    response = await client.post("/v1/status", json={"certificates": [pem, "not a pem"]})
    body = await response.json()
    validate("/v1/status", "post", 200, body)
    assert [r.get("status", r.get("error")) for r in body["results"]] == [
        "revoked",
        "bad_certificate",
    ]


@pytest.mark.parametrize(
    ("kwargs", "code", "error"),
    [
        ({"data": b"{", "headers": {"Content-Type": "application/json"}}, 400, "malformed_json"),
        ({"data": b"{}", "headers": {"Content-Type": "text/plain"}}, 415, "unsupported_media_type"),
        ({"json": {"queries": [{"issuer": "a", "serial": "1"}] * 1001}}, 400, "too_many_items"),
        ({"json": {"both": []}}, 400, "bad_request"),
        (
            {
                "data": io.BytesIO(b" " * (3 * 1024 * 1024)),
                "headers": {"Content-Type": "application/json"},
            },
            413,
            "payload_too_large",
        ),
    ],
    ids=["malformed-json", "wrong-content-type", "1001-items", "wrong-shape", "oversized"],
)
async def test_bad_batches_are_4xx_json(aiohttp_client, world, kwargs, code, error):
    app, cache, _, _ = world
    cache.ready = True
    client = await aiohttp_client(app)
    response = await client.post("/v1/status", **kwargs)
    body = await response.json()
    assert (response.status, body["error"]) == (code, error)
    validate("/v1/status", "post", code, body)


async def test_partners_health_and_openapi(aiohttp_client, world):
    app, cache, _, _ = world
    client = await aiohttp_client(app)
    response = await client.get("/readyz")
    validate("/readyz", "get", 503, await response.json())
    cache.ready = True
    validate("/readyz", "get", 200, await (await client.get("/readyz")).json())
    validate("/healthz", "get", 200, await (await client.get("/healthz")).json())
    body = await (await client.get("/v1/partners")).json()
    validate("/v1/partners", "get", 200, body)
    source = body["partners"][0]["issuers"][0]["sources"][0]
    assert (source["freshness"], source["failing"], source["crl_number"]) == ("fresh", True, 42)
    assert body["partners"][0]["issuers"][0]["sticky_count"] == 1
    assert (await (await client.get("/openapi.json")).json())["openapi"] == "3.1.0"
    metrics = await (await client.get("/metrics")).text()
    assert 'revocd_source_freshness{issuer="acme-issuing"' in metrics
    page = await (await client.get("/")).text()
    assert "acme-issuing" in page
    assert "HTTP 500" in page


@pytest.mark.parametrize("seed", range(3))
async def test_garbage_never_gets_a_5xx(aiohttp_client, world, seed):
    import random

    app, cache, _, _ = world
    cache.ready = True
    client = await aiohttp_client(app)
    rng = random.Random(seed)
    alphabet = "abcdef0123456789-:%/._~xyz?#&="
    for _ in range(100):
        junk = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        response = await client.get(f"/v1/status/{junk}")
        assert response.status < 500, junk
        body = rng.randbytes(rng.randint(0, 200))
        response = await client.post(
            "/v1/status", data=body, headers={"Content-Type": "application/json"}
        )
        assert response.status < 500, body
        assert "error" in await response.json()
