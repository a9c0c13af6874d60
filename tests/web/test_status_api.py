"""GET /v1/status/{issuer}/{serial} and POST /v1/status: every answer state, every way to
name an issuer and a serial, batches, and every error a client can provoke."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from revocd.model import IssuerKey
from revocd.status.answer import IssuerEvidence
from tests.support.pki import T0, issue, make_ca
from tests.web.conftest import (
    ACME_URL,
    CRL_NUMBER,
    GRACE,
    NEXT_UPDATE,
    REVOKED_AT,
    STICKY_AT,
    World,
    acme_meta,
    pem,
)
from tests.web.openapi import call

ONE = "/v1/status/{issuer}/{serial}"
BATCH = "/v1/status"
Client = TestClient[Any, Any]


def iso(when: Any) -> str:
    return when.isoformat().replace("+00:00", "Z")


async def status(client: Client, issuer: str, serial: str) -> tuple[int, dict[str, Any]]:
    return await call(client, "GET", f"/v1/status/{issuer}/{serial}", ONE)


@pytest.mark.parametrize(
    ("serial", "at", "expected"),
    [
        (
            "2002",
            timedelta(hours=2),
            {"status": "good", "freshness": "fresh", "unknown_reason": None},
        ),
        (
            "2002",
            timedelta(days=1, minutes=30),
            {"status": "good", "freshness": "stale", "unknown_reason": None},
        ),
        (
            "2002",
            timedelta(days=1, hours=1),
            {"status": "unknown", "freshness": "expired", "unknown_reason": "source_expired"},
        ),
        (
            "1001",
            timedelta(hours=2),
            {"status": "revoked", "reason": "keyCompromise", "revoked_at": iso(REVOKED_AT)},
        ),
        ("1002", timedelta(hours=2), {"status": "revoked", "reason": None}),
        ("a1b", timedelta(hours=2), {"status": "revoked", "reason": "certificateHold"}),
        (
            "1001",
            timedelta(days=30),
            {"status": "revoked", "freshness": "expired", "unknown_reason": None},
        ),
        (
            "77",
            timedelta(hours=2),
            {
                "status": "revoked",
                "reason": "cACompromise",
                "revoked_at": iso(STICKY_AT),
                "source": {"type": "crl", "url": ACME_URL, "crl_number": CRL_NUMBER - 1},
            },
        ),
        ("77", timedelta(days=30), {"status": "revoked", "freshness": "expired"}),
    ],
    ids=[
        "good-fresh",
        "good-stale-within-grace",
        "unknown-source-expired-at-grace-end",
        "revoked-with-reason-and-time",
        "revoked-without-reason",
        "revoked-on-hold",
        "revoked-survives-expiry",
        "revoked-sticky-names-its-crl",
        "sticky-survives-expiry",
    ],
)
async def test_answer_states(
    client: Client, world: World, serial: str, at: timedelta, expected: dict[str, Any]
) -> None:
    world.clock.set(T0 + at)
    code, body = await status(client, "acme-issuing", serial)
    assert code == 200
    assert {k: body[k] for k in expected} == expected
    assert (body["issuer"], body["partner"], body["serial"]) == ("acme-issuing", "acme", serial)
    assert body["checked_at"] == iso(world.clock.now())


async def test_a_good_answer_carries_its_evidence(client: Client) -> None:
    _, body = await status(client, "acme-issuing", "2002")
    assert body == {
        "status": "good",
        "issuer": "acme-issuing",
        "partner": "acme",
        "serial": "2002",
        "revoked_at": None,
        "reason": None,
        "this_update": "2026-01-01T00:00:00Z",
        "next_update": iso(NEXT_UPDATE),
        "freshness": "fresh",
        "unknown_reason": None,
        "source": {"type": "crl", "url": ACME_URL, "crl_number": CRL_NUMBER},
        "checked_at": "2026-01-01T02:00:00Z",
    }


async def test_unknown_without_evidence(client: Client) -> None:
    code, body = await status(client, "globex-bridge", "1001")
    assert code == 200
    assert (body["status"], body["freshness"], body["unknown_reason"]) == (
        "unknown",
        "none",
        "no_evidence",
    )
    assert (body["source"], body["this_update"], body["next_update"]) == (None, None, None)


async def test_new_evidence_is_answered_at_once(client: Client, world: World) -> None:
    world.clock.advance(days=2)
    assert (await status(client, "acme-issuing", "2002"))[1]["status"] == "unknown"
    newer = replace(
        acme_meta(),
        crl_number=CRL_NUMBER + 1,
        this_update=T0 + timedelta(days=2),
        next_update=T0 + timedelta(days=3),
        entry_count=0,
    )
    world.cache.install(IssuerEvidence("acme-issuing", GRACE, newer))
    _, body = await status(client, "acme-issuing", "2002")
    assert (body["status"], body["source"]["crl_number"]) == ("good", CRL_NUMBER + 1)


@pytest.mark.parametrize(
    "ref",
    ["acme-issuing", "sha1", "sha256", "SHA256-UPPER", "sha1-colons"],
    ids=["name", "key-sha1", "key-sha256", "key-sha256-upper-case", "key-sha1-with-colons"],
)
async def test_issuer_by_name_or_key_hash(client: Client, world: World, ref: str) -> None:
    key = world.key("acme-issuing")
    spelled = {
        "sha1": key.key_sha1.hex(),
        "sha256": key.key_sha256.hex(),
        "SHA256-UPPER": key.key_sha256.hex().upper(),
        "sha1-colons": ":".join(f"{b:02X}" for b in key.key_sha1),
    }.get(ref, ref)
    code, body = await status(client, spelled, "1001")
    assert (code, body["issuer"], body["status"]) == (200, "acme-issuing", "revoked")


async def test_cross_certified_issuer_by_its_key_hash(client: Client, world: World) -> None:
    """The bridge is configured with a cross-certificate; its key is Globex CA's key."""
    own = IssuerKey.from_certificate(world.globex.cert)
    _, body = await status(client, own.key_sha256.hex(), "1")
    assert (body["issuer"], body["partner"]) == ("globex-bridge", "globex")


@pytest.mark.parametrize(
    ("typed", "serial", "answer"),
    [
        ("0A:1B", "a1b", "revoked"),
        ("0x0a1b", "a1b", "revoked"),
        ("0X0A1B", "a1b", "revoked"),
        ("A1B", "a1b", "revoked"),
        ("00000a1b", "a1b", "revoked"),
        ("10:01", "1001", "revoked"),
        ("-1", "-1", "revoked"),
        ("ff", "ff", "good"),
        ("00ff", "ff", "good"),
        ("FF", "ff", "good"),
    ],
    ids=[
        "colons-upper",
        "0x-prefix",
        "0X-prefix-upper",
        "upper-case",
        "leading-zeros",
        "colons",
        "minus-one-is-der-ff",
        "ff-is-255-not-minus-one",
        "00ff-is-255",
        "FF-upper",
    ],
)
async def test_serial_spellings(client: Client, typed: str, serial: str, answer: str) -> None:
    code, body = await status(client, "acme-issuing", typed)
    assert (code, body["serial"], body["status"]) == (200, serial, answer)


@pytest.mark.parametrize(
    ("issuer", "serial", "code", "error"),
    [
        ("acme-issuing", "xyz", 400, "bad_serial"),
        ("acme-issuing", "0x", 400, "bad_serial"),
        ("acme-issuing", "--1", 400, "bad_serial"),
        ("acme-issuing", "a" * 300, 400, "bad_serial"),
        ("nobody", "1001", 404, "unknown_issuer"),
        ("00" * 20, "1001", 404, "unknown_issuer"),
    ],
    ids=[
        "not-hex",
        "bare-0x",
        "double-minus",
        "too-long",
        "unknown-name",
        "unknown-key-hash",
    ],
)
async def test_bad_lookups(client: Client, issuer: str, serial: str, code: int, error: str) -> None:
    got, body = await status(client, issuer, serial)
    assert (got, body["error"]) == (code, error)
    assert issuer[:20] in body["message"] or serial[:20] in body["message"]


async def test_not_ready_is_503_with_retry_after(loading_client: Client) -> None:
    response = await loading_client.get("/v1/status/acme-issuing/1001")
    assert (response.status, response.headers["Retry-After"]) == (503, "1")
    code, body = await call(loading_client, "GET", "/v1/status/acme-issuing/1001", ONE)
    assert (code, body["error"]) == (503, "not_ready")
    code, body = await call(loading_client, "POST", "/v1/status", BATCH, json={"queries": []})
    assert (code, body["error"]) == (503, "not_ready")


async def test_batch_of_queries(client: Client, world: World) -> None:
    sha1 = world.key("acme-issuing").key_sha1.hex()
    queries = [
        {"issuer": "acme-issuing", "serial": "1001"},
        {"issuer": "nobody", "serial": "1"},
        {"issuer": sha1, "serial": "0A:1B"},
        {"issuer": "acme-issuing", "serial": "zz"},
        {"issuer": "globex-bridge", "serial": "5"},
        {"issuer": "acme-issuing"},
        "not an object",
        {"issuer": "acme-issuing", "serial": "2002"},
    ]
    code, body = await call(client, "POST", "/v1/status", BATCH, json={"queries": queries})
    assert code == 200
    assert [r.get("status", r.get("error")) for r in body["results"]] == [
        "revoked",
        "unknown_issuer",
        "revoked",
        "bad_serial",
        "unknown",
        "bad_query",
        "bad_query",
        "good",
    ]
    assert body["results"][2]["serial"] == "a1b"


async def test_batch_of_certificates(client: Client, world: World) -> None:
    revoked, _ = issue(world.acme, serial=0x1001)
    good, _ = issue(world.acme, serial=0x5555)
    bridged, _ = issue(world.globex, serial=0x42)  # Globex CA's key: the cross-certified issuer
    stranger, _ = issue(make_ca("Stranger CA"))
    certificates = [pem(revoked), pem(stranger), pem(good), pem(bridged), "not a PEM", 7]
    code, body = await call(
        client, "POST", "/v1/status", BATCH, json={"certificates": certificates}
    )
    assert code == 200
    results = body["results"]
    assert [r.get("status", r.get("error")) for r in results] == [
        "revoked",
        "unknown_issuer",
        "good",
        "unknown",
        "bad_certificate",
        "bad_certificate",
    ]
    assert (results[0]["serial"], results[0]["reason"]) == ("1001", "keyCompromise")
    assert (results[3]["issuer"], results[3]["partner"], results[3]["serial"]) == (
        "globex-bridge",
        "globex",
        "42",
    )
    assert "Stranger CA" in results[1]["message"]


async def test_a_full_batch_of_1000_is_answered(client: Client) -> None:
    queries = [{"issuer": "acme-issuing", "serial": f"{n:x}"} for n in range(1000)]
    code, body = await call(client, "POST", "/v1/status", BATCH, json={"queries": queries})
    assert (code, len(body["results"])) == (200, 1000)
    assert body["results"][0x77]["status"] == "revoked"


@pytest.mark.parametrize(
    ("kwargs", "code", "error"),
    [
        ({"data": b"{", "headers": {"Content-Type": "application/json"}}, 400, "malformed_json"),
        (
            {"data": b"\xff\xfe{}", "headers": {"Content-Type": "application/json"}},
            400,
            "malformed_json",
        ),
        ({"data": b"", "headers": {"Content-Type": "application/json"}}, 400, "malformed_json"),
        ({"data": b"{}", "headers": {"Content-Type": "text/plain"}}, 415, "unsupported_media_type"),
        ({"data": b"queries=1"}, 415, "unsupported_media_type"),
        (
            {"json": {"queries": [{"issuer": "acme-issuing", "serial": "1"}] * 1001}},
            400,
            "too_many_items",
        ),
        ({"json": {"certificates": ["x"] * 1001}}, 400, "too_many_items"),
        ({"json": {"queries": [], "certificates": []}}, 400, "bad_request"),
        ({"json": {"serials": []}}, 400, "bad_request"),
        ({"json": []}, 400, "bad_request"),
        ({"json": {"queries": "1001"}}, 400, "bad_request"),
        (
            {
                "data": io.BytesIO(b" " * (3 * 1024 * 1024)),
                "headers": {"Content-Type": "application/json"},
            },
            413,
            "payload_too_large",
        ),
        (
            {
                "data": io.BytesIO(b" " * (2 * 1024 * 1024 + 1)),
                "headers": {
                    "Content-Type": "application/json",
                    "Content-Length": str(2 * 1024 * 1024 + 1),
                },
            },
            413,
            "payload_too_large",
        ),
    ],
    ids=[
        "malformed-json",
        "not-utf8",
        "empty-body",
        "text-plain",
        "form-encoded",
        "1001-queries",
        "1001-certificates",
        "both-kinds",
        "unknown-key",
        "a-list",
        "queries-not-a-list",
        "oversized-chunked",
        "oversized-by-one-byte",
    ],
)
async def test_bad_batches(client: Client, kwargs: dict[str, Any], code: int, error: str) -> None:
    got, body = await call(client, "POST", "/v1/status", BATCH, **kwargs)
    assert (got, body["error"]) == (code, error)
