"""Whatever a client sends, revocd answers with JSON and never with a 5xx.

Unknown routes and wrong methods get the documented error object; a few hundred random
paths and bodies (seeded, so a failure replays) must all be 4xx or 200, JSON, and what
openapi.json promises. Only revocd's own bug is a 500: JSON too, and logged as an error.
"""

from __future__ import annotations

import base64
import io
import json
import random
import string
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from revocd.metrics import Metrics
from revocd.status.board import SourceBoard
from revocd.web.app import make_app
from tests.web.conftest import ClientFactory, build_world
from tests.web.openapi import call, validate_ref

Client = TestClient[Any, Any]
ANSWER = "#/components/schemas/Answer"
ERROR = "#/components/schemas/Error"
BATCH = "/v1/status"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/status/acme-issuing/1001"),
        ("GET", "/v1/status/acme-issuing"),
        ("GET", "/v1/status/acme-issuing/1001/extra"),
        ("GET", "/v1/partners/acme"),
        ("GET", "/favicon.ico"),
        ("POST", "/v1/status/acme-issuing/1001/x"),
    ],
    ids=["unknown-version", "no-serial", "extra-segment", "partner-subpath", "favicon", "post"],
)
async def test_unknown_route_is_json_404(client: Client, method: str, path: str) -> None:
    code, body = await call(client, method, path, None)
    assert (code, body["error"]) == (404, "not_found")
    assert path in body["message"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/status", "POST"),
        ("PUT", "/v1/status", "POST"),
        ("POST", "/v1/partners", "GET"),
        ("DELETE", "/v1/status/acme-issuing/1001", "GET"),
        ("POST", "/healthz", "GET"),
        ("PATCH", "/openapi.json", "GET"),
    ],
    ids=["get-batch", "put-batch", "post-partners", "delete-status", "post-healthz", "patch-doc"],
)
async def test_wrong_method_is_json_405(client: Client, method: str, path: str, allow: str) -> None:
    response = await client.request(method, path)
    assert allow in response.headers["Allow"]
    code, body = await call(client, method, path, None)
    assert (code, body["error"]) == (405, "method_not_allowed")
    assert method in body["message"]


async def test_deeply_nested_json_is_a_400(client: Client) -> None:
    depth = 200_000
    body = b"[" * depth + b"]" * depth
    code, answer = await call(
        client, "POST", BATCH, BATCH, data=body, headers={"Content-Type": "application/json"}
    )
    assert (code, answer["error"]) == (400, "malformed_json")


async def test_a_body_exactly_at_the_cap_is_read(client: Client) -> None:
    payload = json.dumps({"queries": [{"issuer": "acme-issuing", "serial": "1001"}]}).encode()
    body = payload + b" " * (2 * 1024 * 1024 - len(payload))
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    code, answer = await call(client, "POST", BATCH, BATCH, data=io.BytesIO(body), headers=headers)
    assert (code, answer["results"][0]["status"]) == (200, "revoked")


# Characters that stress routing and decoding: separators, escapes, dots, non-ASCII.
PATH_ALPHABET = string.ascii_letters + string.digits + "-:%/._~!$&'()*+,;=@" + "é€\u0000😀"


def random_segment(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return "".join(rng.choice(PATH_ALPHABET) for _ in range(rng.randint(0, 30)))
    if kind == 1:
        octets = rng.randbytes(rng.randint(1, 20))
        return octets.hex(":") if rng.random() < 0.5 else octets.hex()
    if kind == 2:
        return "%" + "".join(rng.choice("0123456789abcdefXYZ%") for _ in range(rng.randint(0, 6)))
    if kind == 3:
        return rng.choice(["..", ".", "", "acme-issuing", "-", "0x", "-0", "ff" * 200])
    return "a" * rng.randint(1, 3000)


def random_path(rng: random.Random) -> str:
    prefix = rng.choice(["/v1/status/", "/v1/status/acme-issuing/", "/v1/", "/", "/v1/partners/"])
    segments = [random_segment(rng) for _ in range(rng.randint(0, 3))]
    path = "/" + (prefix + "/".join(segments)).lstrip("/")  # "//x" would name a host
    return path if path != "/" else "/index.html"  # GET / is the HTML page


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False, 0, -1, 10**30, 1.5e300, float("-0")])
    if kind == 2:
        return "".join(rng.choice(PATH_ALPHABET) for _ in range(rng.randint(0, 20)))
    if kind == 3:
        return rng.choice(["acme-issuing", "globex-bridge", "1001", "-1", "0A:1B", ""])
    if kind == 4:
        garbage = base64.encodebytes(rng.randbytes(rng.randint(0, 300))).decode()
        return f"-----BEGIN CERTIFICATE-----\n{garbage}-----END CERTIFICATE-----\n"
    if kind == 5:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    if kind == 6:
        return {"issuer": random_json(rng, depth + 1), "serial": random_json(rng, depth + 1)}
    keys = ["queries", "certificates", "issuer", "serial", ""]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def random_body(rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randbytes(rng.randint(0, 300))
    if kind == 1:
        return json.dumps(random_json(rng)).encode()
    if kind == 2:
        key = rng.choice(["queries", "certificates"])
        items = [random_json(rng, 1) for _ in range(rng.randint(0, 20))]
        return json.dumps({key: items}).encode()
    text = json.dumps(random_json(rng)).encode()
    cut = rng.randint(0, len(text))
    return text[:cut] + rng.randbytes(rng.randint(0, 3))


@pytest.mark.parametrize("seed", range(4))
async def test_random_paths_never_5xx(client: Client, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(80):
        path = random_path(rng)
        method = rng.choice(["GET", "GET", "GET", "POST", "PUT", "DELETE"])
        response = await client.request(method, path)
        assert response.status < 500, (method, path)
        assert response.content_type == "application/json", (method, path)
        body = await response.json()
        validate_ref(ANSWER if response.status == 200 and "status" in body else ERROR, body)


@pytest.mark.parametrize("seed", range(4))
async def test_random_batches_never_5xx(client: Client, seed: int) -> None:
    rng = random.Random(1000 + seed)
    for _ in range(80):
        body = random_body(rng)
        content_type = rng.choice(["application/json"] * 4 + ["text/plain", "", "application/x"])
        headers = {"Content-Type": content_type} if content_type else {}
        code, answer = await call(client, "POST", BATCH, BATCH, data=body, headers=headers)
        assert code in (200, 400, 415), (code, body)
        if code == 200:
            assert isinstance(answer["results"], list)


async def test_our_own_bug_is_a_json_500_and_an_error_log(aiohttp_client: ClientFactory) -> None:
    """A board that misses a configured source is a wiring bug in revocd, not the client's
    fault: the client gets the documented error object, the log gets the traceback."""
    world = build_world()
    app = make_app(
        cache=world.cache,
        board=SourceBoard(()),
        clock=world.clock,
        partners=world.partners,
        metrics=Metrics(),
    )
    client: Client = await aiohttp_client(app)
    with capture_logs() as logs:
        code, body = await call(client, "GET", "/v1/partners", "/v1/partners")
    assert (code, body["error"]) == (500, "internal_error")
    assert "KeyError" not in body["message"]  # no internals to the client
    (event,) = [e for e in logs if e["event"] == "internal_error"]
    assert (event["log_level"], event["path"], event["method"]) == ("error", "/v1/partners", "GET")
    assert event["exc_info"] is True
