"""Operations routes: liveness, readiness, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator, ValidationError
from prometheus_client.parser import text_string_to_metric_families

from tests.support.pki import T0
from tests.web.conftest import ACME_MIRROR, ACME_URL, CRL_NUMBER, GLOBEX_URL, GRACE, World
from tests.web.openapi import call, document, validate

Client = TestClient[Any, Any]
STATUS = "/v1/status/{issuer}/{serial}"
JSON_ROUTES = {
    ("/v1/status/{issuer}/{serial}", "get"),
    ("/v1/status", "post"),
    ("/v1/partners", "get"),
    ("/healthz", "get"),
    ("/readyz", "get"),
    ("/openapi.json", "get"),
}

# The parser names a counter's family without its `_total` suffix.
DECLARED = {
    "revocd_crl_fetch": "counter",
    "revocd_crl_rejected": "counter",
    "revocd_status_requests": "counter",
    "revocd_source_freshness": "gauge",
    "revocd_source_failing": "gauge",
    "revocd_source_last_success_timestamp_seconds": "gauge",
    "revocd_crl_next_update_timestamp_seconds": "gauge",
    "revocd_crl_number": "gauge",
    "revocd_crl_entries": "gauge",
    "revocd_crl_grace_end_timestamp_seconds": "gauge",
    "revocd_crl_fetch_duration_seconds": "histogram",
    "revocd_issuer_revoked_entries": "gauge",
}


async def test_healthz_answers_while_loading(loading_client: Client) -> None:
    assert await call(loading_client, "GET", "/healthz", "/healthz") == (200, {"status": "ok"})


async def test_readyz_follows_the_store(loading_client: Client, world: World) -> None:
    response = await loading_client.get("/readyz")
    assert (response.status, response.headers["Retry-After"]) == (503, "1")
    code, body = await call(loading_client, "GET", "/readyz", "/readyz")
    assert (code, body["status"]) == (503, "loading")
    world.cache.ready = True
    assert await call(loading_client, "GET", "/readyz", "/readyz") == (200, {"status": "ready"})


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labels(url: str, issuer: str = "acme-issuing", partner: str = "acme", **more: str) -> Any:
    return frozenset({"partner": partner, "issuer": issuer, "source": url, **more}.items())


async def test_metrics_parse_and_follow_the_clock(client: Client, world: World) -> None:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    got = samples(await response.text())
    freshness = "revocd_source_freshness"
    assert got[(freshness, labels(ACME_URL, state="fresh"))] == 1
    assert got[(freshness, labels(ACME_URL, state="stale"))] == 0
    assert got[(freshness, labels(ACME_MIRROR, state="none"))] == 1
    assert got[(freshness, labels(GLOBEX_URL, "globex-bridge", "globex", state="none"))] == 1
    assert got[("revocd_crl_number", labels(ACME_URL))] == CRL_NUMBER
    assert got[("revocd_crl_entries", labels(ACME_URL))] == 4
    assert got[("revocd_source_failing", labels(ACME_URL))] == 0
    assert got[("revocd_crl_next_update_timestamp_seconds", labels(ACME_URL))] == (
        (T0 + timedelta(days=1)).timestamp()
    )
    assert got[("revocd_crl_grace_end_timestamp_seconds", labels(ACME_URL))] == (
        (T0 + timedelta(days=1) + GRACE).timestamp()
    )
    # 4 entries in the CRL in force and one revocation kept from an earlier CRL
    revoked = ("revocd_issuer_revoked_entries", frozenset({"partner": "acme"}.items()))
    assert got[(revoked[0], revoked[1] | {("issuer", "acme-issuing")})] == 5
    world.clock.set(T0 + timedelta(days=1, minutes=10))
    got = samples(await (await client.get("/metrics")).text())
    assert got[(freshness, labels(ACME_URL, state="stale"))] == 1
    assert got[(freshness, labels(ACME_URL, state="fresh"))] == 0


async def test_every_metric_is_declared(client: Client) -> None:
    """Counters the poller has not touched yet still show up, so alert rules can find them."""
    response = await client.get("/metrics")
    families = {f.name: f.type for f in text_string_to_metric_families(await response.text())}
    assert families == {**families, **DECLARED}


async def test_status_answers_are_counted(client: Client) -> None:
    await client.get("/v1/status/acme-issuing/1001")
    await client.get("/v1/status/acme-issuing/2002")
    await client.get("/v1/status/acme-issuing/zz")
    await client.get("/v1/status/globex-bridge/1")
    await client.post("/v1/status", json={"queries": [{"issuer": "x", "serial": "1"}]})
    got = samples(await (await client.get("/metrics")).text())
    counted = {
        dict(key)["status"]: value
        for (name, key), value in got.items()
        if name == "revocd_status_requests_total"
    }
    assert counted == {"revoked": 1, "good": 1, "unknown": 1, "error": 2}
    # every JSON request's latency is observed, errors included
    assert got[("revocd_request_duration_seconds_count", frozenset({("api", "json")}))] == 5


async def test_openapi_document(client: Client) -> None:
    code, served = await call(client, "GET", "/openapi.json", "/openapi.json")
    assert code == 200
    assert served == document()
    assert served["openapi"].startswith("3.1.")
    operations = {(p, m) for p, ops in served["paths"].items() for m in ops}
    assert operations == JSON_ROUTES
    for path, method in operations:
        responses = served["paths"][path][method]["responses"]
        assert "200" in responses, (path, method)
        assert "default" in responses, (path, method)
    # Every schema in the document is itself a valid Draft 2020-12 schema.
    for schema in served["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(v) for v in node))
    return set()


def test_every_reference_resolves() -> None:
    doc = document()
    for ref in refs(doc):
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        assert isinstance(node, dict), ref


@pytest.mark.parametrize(
    "change",
    [
        {"extra": 1},
        {"status": "valid"},
        {"freshness": "ancient"},
        {"checked_at": "2026-01-01 02:00:00"},
        {"checked_at": "2026-01-01T02:00:00+02:00"},
        {"this_update": "yesterday"},
        {"serial": "0A1B"},
        {"reason": "compromised"},
        {"unknown_reason": "no_evidence"},
        {"source": {"type": "crl", "url": "http://x", "crl_number": 1, "extra": 1}},
        {"status": "revoked", "revoked_at": None},
        {"status": "unknown", "unknown_reason": None, "freshness": "expired"},
    ],
    ids=[
        "extra-field",
        "status-enum",
        "freshness-enum",
        "not-rfc3339",
        "not-utc",
        "bad-date",
        "upper-case-serial",
        "reason-enum",
        "unknown-reason-on-good",
        "extra-source-field",
        "revoked-without-time",
        "unknown-without-reason",
    ],
)
async def test_the_contract_is_strict(client: Client, change: dict[str, Any]) -> None:
    """A drifting answer fails validation: the other tests' checks are not vacuous."""
    _, body = await call(client, "GET", "/v1/status/acme-issuing/2002", STATUS)
    with pytest.raises(ValidationError):
        validate(STATUS, "get", 200, {**body, **change})
    with pytest.raises(ValidationError):
        validate("/v1/status", "post", 200, {"results": [{**body, **change}]})
    with pytest.raises(ValidationError):
        validate(STATUS, "get", 404, {"error": "unknown_issuer"})
