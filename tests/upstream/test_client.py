"""The request revocd sends upstream (CertID, nonce; GET when small, else POST) and the
bounds on what it reads back."""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import unquote

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.x509 import ocsp

from revocd.errors import FetchError
from revocd.model import ocsp_hashes
from revocd.ocsp.asn1 import OcspRequest, parse_request
from revocd.upstream.client import OcspClient, build_request, get_url
from tests.support.localserver import serve_local
from tests.upstream.conftest import Pki, Rig, serial

TIMEOUT = timedelta(seconds=2)


def test_request_has_one_certid_and_a_nonce(pki: Pki) -> None:
    nonce = b"\x01" * 32
    request = build_request(pki.ca.cert, serial(0x1001), nonce=nonce)
    parsed = parse_request(request.der)
    (cert_id,) = parsed.cert_ids
    assert cert_id.hash_algorithm == "sha1"
    assert (cert_id.name_hash, cert_id.key_hash) == ocsp_hashes(pki.ca.cert, "sha1")
    assert cert_id.serial == serial(0x1001)
    assert parsed.nonce == nonce
    assert request.asked.nonce == nonce
    # and cryptography reads it the same way
    theirs = ocsp.load_der_ocsp_request(request.der)
    assert theirs.serial_number == 0x1001
    assert theirs.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce


def test_request_without_nonce_and_with_sha256(pki: Pki) -> None:
    request = build_request(pki.ca.cert, serial(-5), nonce=None, hash_algorithm="sha256")
    parsed = parse_request(request.der)
    assert parsed.nonce is None
    assert parsed.cert_ids[0].hash_algorithm == "sha256"
    assert parsed.cert_ids[0].serial == serial(-5)


def test_get_url_only_below_255_encoded_bytes(pki: Pki) -> None:
    small = build_request(pki.ca.cert, serial(0x1001), nonce=b"\xfb" * 32).der
    url = get_url("http://ocsp.example/", small)
    assert url is not None
    path = url.removeprefix("http://ocsp.example/")
    assert "/" not in path
    assert "+" not in path
    assert len(path) < 255
    assert base64.b64decode(unquote(path)) == small
    big = build_request(pki.ca.cert, serial(0x1001), nonce=b"\xfb" * 128).der
    assert get_url("http://ocsp.example", big) is None


async def _echo(request: OcspRequest) -> bytes:
    return b"\x30\x03\x0a\x01\x03"  # tryLater: bytes are bytes to the client


async def test_small_requests_use_get_and_big_ones_post(rig: Rig) -> None:
    server = await rig.serve(_echo)
    client = OcspClient(rig.upstream._client._session)
    small = build_request(rig.pki.ca.cert, serial(1), nonce=b"n" * 32).der
    big = build_request(rig.pki.ca.cert, serial(1), nonce=b"n" * 128).der
    assert await client.send(server.url, small, timeout=TIMEOUT, max_bytes=1024) == (
        b"\x30\x03\x0a\x01\x03"
    )
    await client.send(server.url, big, timeout=TIMEOUT, max_bytes=1024)
    await client.send(server.url, small, timeout=TIMEOUT, max_bytes=1024, use_get=False)
    assert server.methods == ["GET", "POST", "POST"]  # the scripted server checks Content-Type
    assert [r.nonce for r in server.seen] == [b"n" * 32, b"n" * 128, b"n" * 32]


async def test_a_streamed_body_is_cut_at_the_cap(rig: Rig) -> None:
    async def chunked(request: OcspRequest) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request_holder[0])
        for _ in range(64):
            await response.write(b"\x00" * 1024)
        return response

    request_holder: list[web.Request] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        request_holder.append(request)
        return await chunked(parse_request(base64.b64decode(unquote(request.path[6:]))))

    app = web.Application()
    app.router.add_get("/ocsp/{tail:.*}", handler)
    runner, base = await serve_local(app)
    try:
        url = base + "/ocsp"
        der = build_request(rig.pki.ca.cert, serial(1), nonce=None).der
        async with aiohttp.ClientSession() as session:
            with pytest.raises(FetchError) as caught:
                await OcspClient(session).send(url, der, timeout=TIMEOUT, max_bytes=4096)
        assert caught.value.kind == "oversize"
        assert "max_ocsp_bytes 4 KiB" in caught.value.detail
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ldap://ocsp.example/", "not a url"], ids=str
)
async def test_only_http_urls(rig: Rig, url: str) -> None:
    client = OcspClient(rig.upstream._client._session)
    with pytest.raises(FetchError) as caught:
        await client.send(url, b"\x30\x00", timeout=TIMEOUT, max_bytes=1024)
    assert caught.value.kind == "bad_url"
