"""POST /v1/status with the bodies real clients send: bodies that arrive in many segments,
certificates with serials cryptography's builder refuses (-1, 0), and damaged certificates.

A damaged item is that item's error, named by its place; the rest of the batch is answered.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import warnings
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.utils import CryptographyDeprecationWarning

from revocd.der import encode_length, read_tlv
from revocd.serials import content_from_int
from tests.support.pki import CA, issue
from tests.web.conftest import World, pem
from tests.web.openapi import call

Client = TestClient[Any, Any]
BATCH = "/v1/status"
CAP = 2 * 1024 * 1024
JSON = {"Content-Type": "application/json"}


def tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + encode_length(len(content)) + content


def certificate_with_serial(ca: CA, serial: bytes) -> x509.Certificate:
    """A leaf signed by `ca` whose serial is any DER INTEGER content (`ff` is -1)."""
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey)
    template, _ = issue(ca)
    tbs = template.tbs_certificate_bytes
    # TBSCertificate ::= SEQUENCE { [0] version, serialNumber INTEGER, signature, ... }
    outer = read_tlv(tbs, 0)
    version = read_tlv(tbs, outer.content_start)
    old = read_tlv(tbs, version.end)
    new_tbs = tlv(0x30, tbs[outer.content_start : old.start] + tlv(0x02, serial) + tbs[old.end :])
    der = template.public_bytes(serialization.Encoding.DER)
    cert = read_tlv(der, 0)
    algorithm = read_tlv(der, read_tlv(der, cert.content_start).end)
    signature = ca.key.sign(new_tbs, ec.ECDSA(hashes.SHA256()))
    rebuilt = tlv(
        0x30, new_tbs + der[algorithm.start : algorithm.end] + tlv(0x03, b"\0" + signature)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_der_x509_certificate(rebuilt)


def pem_of_der(der: bytes) -> str:
    armored = base64.encodebytes(der).decode()
    return f"-----BEGIN CERTIFICATE-----\n{armored}-----END CERTIFICATE-----\n"


async def segments(body: bytes, size: int) -> AsyncIterator[bytes]:
    """The body in `size`-byte pieces, letting the server run between them, as a slow
    network would deliver it (the server must not parse the first piece alone)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]
        for _ in range(3):
            await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("items", "size"),
    [(1, 7), (500, 1000), (1000, 64 * 1024)],
    ids=["one-query-in-7-byte-pieces", "500-queries-in-1k-pieces", "1000-queries-in-64k-pieces"],
)
async def test_a_body_in_many_segments_is_read_whole(client: Client, items: int, size: int) -> None:
    body = json.dumps({"queries": [{"issuer": "acme-issuing", "serial": "1001"}] * items})
    code, answer = await call(
        client, "POST", BATCH, BATCH, data=segments(body.encode(), size), headers=JSON
    )
    assert (code, len(answer["results"])) == (200, items)
    assert {result["status"] for result in answer["results"]} == {"revoked"}


async def test_a_segmented_body_over_the_cap_is_413(client: Client) -> None:
    body = b"[" + b" " * CAP + b"]"
    code, answer = await call(
        client, "POST", BATCH, BATCH, data=segments(body, 256 * 1024), headers=JSON
    )
    assert (code, answer["error"]) == (413, "payload_too_large")
    assert str(CAP) in answer["message"]


@pytest.mark.parametrize(
    ("serial", "status", "shown"),
    [
        (b"\xff", "revoked", "-1"),  # conftest: -1 is revoked (superseded)
        (b"\x00\xff", "good", "ff"),  # 255 is another serial
        (b"\x00", "good", "0"),
        (content_from_int(0x1001), "revoked", "1001"),
    ],
    ids=["der-ff-is-minus-1", "der-00ff-is-255", "zero", "positive-control"],
)
async def test_certificates_with_any_der_serial(
    client: Client, world: World, serial: bytes, status: str, shown: str
) -> None:
    cert = certificate_with_serial(world.acme, serial)
    code, body = await call(client, "POST", BATCH, BATCH, json={"certificates": [pem(cert)]})
    assert code == 200
    (result,) = body["results"]
    assert (result["issuer"], result["serial"], result["status"]) == ("acme-issuing", shown, status)


async def test_item_errors_name_their_place(client: Client) -> None:
    queries = [{"issuer": "acme-issuing", "serial": "1001"}, {"issuer": "nobody", "serial": "1"}]
    _, body = await call(client, "POST", BATCH, BATCH, json={"queries": queries})
    assert body["results"][1]["message"].startswith("queries[1]: issuer 'nobody'")
    _, body = await call(client, "POST", BATCH, BATCH, json={"certificates": ["x", 1]})
    messages = [result["message"] for result in body["results"]]
    assert messages[0].startswith("certificates[0]: not a PEM X.509 certificate")
    assert messages[1].startswith("certificates[1]: each certificate is a PEM string")


def damaged(der: bytes, rng: random.Random) -> bytes:
    out = bytearray(der)
    for _ in range(rng.randint(1, 4)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


@pytest.mark.parametrize("seed", range(3))
async def test_damaged_certificates_are_item_errors(
    client: Client, world: World, seed: int
) -> None:
    """Bytes flipped anywhere in a real certificate (names included, which cryptography
    parses lazily) give an answer or an item error, never a 500 for the batch."""
    rng = random.Random(seed)
    leaf, _ = issue(world.acme, serial=0x1001)
    der = leaf.public_bytes(serialization.Encoding.DER)
    items = [pem_of_der(damaged(der, rng)) for _ in range(150)] + [pem(leaf)]
    code, body = await call(client, "POST", BATCH, BATCH, json={"certificates": items})
    assert code == 200
    outcomes = {result.get("error", result.get("status")) for result in body["results"]}
    assert outcomes <= {"bad_certificate", "unknown_issuer", "revoked", "good"}
    assert "bad_certificate" in outcomes
    assert body["results"][-1]["status"] == "revoked"


async def longest_stall(work: Awaitable[Any]) -> tuple[Any, float]:
    """Run `work`; return its result and the longest the event loop went without a turn."""
    loop = asyncio.get_running_loop()
    longest, last = 0.0, loop.time()
    done = False

    def tick() -> None:
        nonlocal longest, last
        now = loop.time()
        longest, last = max(longest, now - last), now
        if not done:
            loop.call_soon(tick)

    loop.call_soon(tick)
    try:
        return await work, longest
    finally:
        done = True


async def test_a_full_batch_of_certificates_lets_other_requests_through(
    client: Client, world: World
) -> None:
    """1,000 signature checks take ~0.2 s: the batch must not hold the event loop that long
    (OCSP answers share it)."""
    items = [pem(issue(world.acme)[0]) for _ in range(1000)]
    (code, body), stall = await longest_stall(
        call(client, "POST", BATCH, BATCH, json={"certificates": items})
    )
    assert (code, len(body["results"])) == (200, 1000)
    assert stall < 0.1, f"the event loop stalled {stall * 1000:.0f} ms"
