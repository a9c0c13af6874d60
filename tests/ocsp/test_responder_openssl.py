"""The OCSP responder against the real `openssl ocsp` client: POST and GET, trusted and
delegated signing, several CertIDs, SHA-256 CertIDs, nonces, unknown issuers."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509 import ocsp

from revocd.clock import ManualClock
from revocd.evidence import CrlMeta
from revocd.metrics import Metrics
from revocd.model import Issuer, IssuerKey, Partner, Policy, SigningMode
from revocd.ocsp.responder import Responder, ResponderPolicy
from revocd.ocsp.signing import Signer
from revocd.revoked import RevokedIndex, epoch_seconds
from revocd.serials import content_from_int
from revocd.status.answer import IssuerEvidence
from revocd.status.board import SourceBoard
from revocd.status.cache import StatusCache
from revocd.web.app import make_app
from tests.support.peers import need_binary
from tests.support.pki import issue, make_ca, new_key

pytestmark = pytest.mark.peer

NOW = datetime.now(UTC).replace(microsecond=0)
POLICY = Policy(
    timedelta(minutes=5), timedelta(hours=1), timedelta(seconds=5), 10**6, timedelta(minutes=5)
)


@pytest.fixture
async def rig(aiohttp_client, tmp_path):
    ca = make_ca("Acme Issuing CA")
    stranger = make_ca("Not Served CA")
    trusted = make_ca("revocd responder")  # self-signed identity relying parties pin
    delegated_cert, delegated_key = issue(ca, "revocd ocsp for acme", ocsp_signing=True)
    mode = SigningMode.TRUSTED
    issuer = Issuer(
        "acme-issuing",
        "acme",
        Path("x"),
        ca.cert,
        IssuerKey.from_certificate(ca.cert),
        ("http://a/x.crl",),
        (),
        mode,
        None,
        None,
    )
    partners = (Partner("acme", POLICY, (issuer,)),)
    cache = StatusCache(partners)
    meta = CrlMeta(
        "http://a/x.crl",
        3,
        NOW - timedelta(hours=1),
        NOW + timedelta(hours=6),
        b"d" * 32,
        b"t" * 32,
        1,
        NOW,
    )
    index = RevokedIndex.from_entries(
        [(content_from_int(0x1001), epoch_seconds(NOW - timedelta(days=1)), 1)]
    )
    cache.install(IssuerEvidence("acme-issuing", POLICY.grace, meta, index, {}))
    cache.ready = True
    for name, obj in {"ca": ca, "stranger": stranger, "trusted": trusted}.items():
        (tmp_path / f"{name}.pem").write_bytes(obj.pem())

    async def client_for(signer: Signer, nonce: str = "echo"):
        responder = Responder(
            cache,
            {"acme-issuing": signer},
            {"acme-issuing": POLICY.grace},
            ResponderPolicy(timedelta(hours=1), nonce),
        )
        app = make_app(
            cache=cache,
            board=SourceBoard([]),
            clock=ManualClock(NOW),
            partners=partners,
            metrics=Metrics(),
            responder=responder,
        )
        return await aiohttp_client(app)

    signers = {
        "trusted": Signer(trusted.cert, trusted.key, embed=False),
        "delegated": Signer(delegated_cert, delegated_key, embed=True),
    }
    return client_for, signers, tmp_path, ca


async def openssl_ocsp(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        need_binary("openssl"),
        "ocsp",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return out.decode()


@pytest.mark.parametrize("mode", ["trusted", "delegated"])
async def test_openssl_verifies_good_and_revoked_over_post(rig, mode):
    client_for, signers, tmp, _ = rig
    client = await client_for(signers[mode])
    url = str(client.make_url("/ocsp"))
    trust = (
        ["-VAfile", str(tmp / "trusted.pem")]
        if mode == "trusted"
        else ["-CAfile", str(tmp / "ca.pem")]
    )
    out = await openssl_ocsp(
        "-issuer",
        str(tmp / "ca.pem"),
        "-serial",
        "0x1001",
        "-serial",
        "0x2002",
        "-url",
        url,
        *trust,
    )
    assert "Response verify OK" in out, out
    assert "0x1001: revoked" in out
    assert "Reason: keyCompromise" in out
    assert "0x2002: good" in out
    assert out.index("0x1001") < out.index("0x2002")


async def test_sha256_certids_and_no_nonce(rig):
    client_for, signers, tmp, _ = rig
    client = await client_for(signers["trusted"])
    out = await openssl_ocsp(
        "-issuer",
        str(tmp / "ca.pem"),
        "-sha256",
        "-serial",
        "0x2002",
        "-no_nonce",
        "-url",
        str(client.make_url("/")),
        "-VAfile",
        str(tmp / "trusted.pem"),
    )
    assert "Response verify OK" in out, out
    assert "0x2002: good" in out


async def test_unknown_issuer_is_unauthorized(rig):
    client_for, signers, tmp, _ = rig
    client = await client_for(signers["trusted"])
    out = await openssl_ocsp(
        "-issuer",
        str(tmp / "stranger.pem"),
        "-serial",
        "0x1",
        "-url",
        str(client.make_url("/ocsp")),
        "-VAfile",
        str(tmp / "trusted.pem"),
    )
    assert "unauthorized" in out.lower(), out


async def test_get_form_with_caching_headers(rig):
    client_for, signers, _tmp, ca = rig
    client = await client_for(signers["delegated"], nonce="ignore")
    leaf, _ = issue(ca, serial=0x2002)
    der = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, ca.cert, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    encoded = base64.b64encode(der).decode().replace("/", "%2F").replace("+", "%2B").rstrip("=")
    response = await client.get(f"/ocsp/{encoded}")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/ocsp-response"
    assert "max-age=" in response.headers["Cache-Control"]
    assert response.headers["ETag"]
    parsed = ocsp.load_der_ocsp_response(await response.read())
    assert parsed.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert parsed.next_update_utc == NOW + timedelta(hours=6)
    assert len(parsed.certificates) == 1
    again = await client.get(
        f"/ocsp/{encoded}", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status == 304


@pytest.mark.parametrize(
    "body",
    [b"", b"garbage", b"\x30\x03\x02\x01\x01", b"A" * 20000],
    ids=["empty", "garbage", "wrong-der", "huge"],
)
async def test_malformed_posts_get_malformed_request_not_5xx(rig, body):
    client_for, signers, _, _ = rig
    client = await client_for(signers["trusted"])
    response = await client.post(
        "/ocsp", data=body, headers={"Content-Type": "application/ocsp-request"}
    )
    assert response.status == 200
    assert await response.read() == b"\x30\x03\x0a\x01\x01"


async def test_a_new_crl_invalidates_presigned_responses(rig):
    client_for, signers, _, ca = rig
    client = await client_for(signers["trusted"], nonce="ignore")
    cache = client.app[__import__("revocd.web.keys", fromlist=["CACHE"]).CACHE]
    leaf, _ = issue(ca, serial=0x2002)
    der = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, ca.cert, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    first = await (await client.post("/ocsp", data=der)).read()
    assert await (await client.post("/ocsp", data=der)).read() == first  # reused, not re-signed
    old = cache.evidence("acme-issuing")
    revoked = RevokedIndex.from_entries([(content_from_int(0x2002), epoch_seconds(NOW), 1)])
    cache.install(IssuerEvidence("acme-issuing", old.grace, old.crl, revoked, {}))
    after = ocsp.load_der_ocsp_response(await (await client.post("/ocsp", data=der)).read())
    assert after.certificate_status == ocsp.OCSPCertStatus.REVOKED


@pytest.mark.parametrize("algorithm", [hashes.SHA384(), hashes.SHA512()], ids=lambda a: a.name)
async def test_sha384_and_sha512_certids_are_answered(rig, algorithm):
    client_for, signers, _, ca = rig
    client = await client_for(signers["trusted"])
    leaf, _ = issue(ca, serial=0x1001)
    der = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, ca.cert, algorithm)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    parsed = ocsp.load_der_ocsp_response(await (await client.post("/ocsp", data=der)).read())
    assert parsed.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert parsed.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert parsed.hash_algorithm.name == algorithm.name


def _request_for(ca, serial: int) -> bytes:
    leaf, _ = issue(ca, serial=serial)
    return (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, ca.cert, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )


async def test_rsa_signing_is_shared_by_concurrent_requests_and_counted(rig):
    """50 clients asking at once for one uncached answer cost one RSA signature (made off
    the event loop); /metrics shows 1 miss, 49 hits and the request outcomes."""
    client_for, _, _, ca = rig
    rsa_identity = make_ca("revocd responder rsa", key=new_key("rsa"))
    client = await client_for(Signer(rsa_identity.cert, rsa_identity.key, embed=False), "ignore")
    der = _request_for(ca, 0x3003)
    bodies = await asyncio.gather(
        *(client.post("/ocsp", data=der) for _ in range(50)),
    )
    replies = {await b.read() for b in bodies}
    assert len(replies) == 1
    parsed = ocsp.load_der_ocsp_response(replies.pop())
    rsa_identity.cert.public_key().verify(
        parsed.signature,
        parsed.tbs_response_bytes,
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    await client.post("/ocsp", data=b"junk")
    text = await (await client.get("/metrics")).text()
    assert 'revocd_ocsp_presigned_total{result="miss"} 1.0' in text
    assert 'revocd_ocsp_presigned_total{result="hit"} 49.0' in text
    assert 'revocd_ocsp_requests_total{method="POST",status="successful"} 50.0' in text
    assert 'revocd_ocsp_requests_total{method="POST",status="malformedRequest"} 1.0' in text
    assert 'revocd_request_duration_seconds_count{api="ocsp"} 51.0' in text


async def test_absolute_form_request_urls_are_answered(rig):
    """HAProxy may use revocd as an HTTP proxy: `GET http://host/ocsp/... HTTP/1.1`."""
    client_for, signers, _, ca = rig
    client = await client_for(signers["trusted"], "ignore")
    encoded = base64.b64encode(_request_for(ca, 0x1001)).decode()
    host, port = client.server.host, client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET http://{host}:{port}/ocsp/{encoded} HTTP/1.1\r\nHost: {host}\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"application/ocsp-response" in head
    assert ocsp.load_der_ocsp_response(body).certificate_status == ocsp.OCSPCertStatus.REVOKED
