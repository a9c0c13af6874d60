"""Upstream OCSP test rig: a partner PKI, a response forger with full control over every
field (producedAt included, which cryptography's builder does not offer), and a scripted
aiohttp upstream on 127.0.0.1 that parses what revocd sends and answers as told."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from aiohttp import web
from cryptography import x509

from revocd.clock import ManualClock
from revocd.der import encode_tlv
from revocd.model import Issuer, IssuerKey, OcspPolicy, Policy, SigningMode
from revocd.ocsp.asn1 import OID_NONCE, OcspRequest, parse_request
from revocd.ocsp.encode import ResponseStatus, error_response, generalized_time, ocsp_response
from revocd.ocsp.signing import Signer
from revocd.serials import content_from_int
from revocd.upstream.cache import UpstreamCache
from revocd.upstream.client import OcspClient
from revocd.upstream.health import HealthBoard
from revocd.upstream.outcome import UpstreamEvent
from revocd.upstream.query import Upstream
from tests.support.localserver import serve_local
from tests.support.pki import CA, PrivateKey, issue, make_ca

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(hours=1)
OCSP = OcspPolicy(timeout=timedelta(seconds=2), concurrency=8)
POLICY = Policy(
    timedelta(minutes=5), GRACE, timedelta(seconds=5), 10**6, timedelta(minutes=5), OCSP
)


@dataclass(frozen=True)
class Pki:
    ca: CA
    stranger: CA  # another CA: "signed by the wrong key"
    delegated: tuple[x509.Certificate, PrivateKey]  # issued by ca, with id-kp-OCSPSigning
    no_eku: tuple[x509.Certificate, PrivateKey]
    expired: tuple[x509.Certificate, PrivateKey]  # with the EKU, expired before NOW
    foreign: tuple[x509.Certificate, PrivateKey]  # with the EKU, issued by stranger


@pytest.fixture(scope="session")
def pki() -> Pki:
    ca = make_ca("Partner Issuing CA")
    stranger = make_ca("Stranger CA")
    return Pki(
        ca=ca,
        stranger=stranger,
        delegated=issue(ca, "partner ocsp", ocsp_signing=True),
        no_eku=issue(ca, "partner ocsp without eku"),
        expired=issue(
            ca,
            "partner ocsp expired",
            ocsp_signing=True,
            not_before=NOW - timedelta(days=60),
            not_after=NOW - timedelta(days=1),
        ),
        foreign=issue(stranger, "stranger ocsp", ocsp_signing=True),
    )


def make_issuer(ca: CA, urls: tuple[str, ...], name: str = "partner-issuing") -> Issuer:
    return Issuer(
        name,
        "partner",
        Path("partner.pem"),
        ca.cert,
        IssuerKey.from_certificate(ca.cert),
        (),
        urls,
        SigningMode.TRUSTED,
        None,
        None,
    )


# --- forging responses --------------------------------------------------------------


@dataclass(frozen=True)
class Single:
    status: str = "good"  # good | revoked | unknown
    this_update: datetime = NOW - timedelta(hours=1)
    next_update: datetime | None = NOW + timedelta(days=1)
    revoked_at: datetime | None = None
    reason: int | None = None
    cert_id: bytes | None = None  # None: echo the request's


def single_der(single: Single, cert_id: bytes) -> bytes:
    if single.status == "good":
        status = b"\x80\x00"
    elif single.status == "unknown":
        status = b"\x82\x00"
    else:
        info = generalized_time(single.revoked_at or NOW - timedelta(days=2))
        if single.reason is not None:
            info += encode_tlv(0xA0, encode_tlv(0x0A, bytes((single.reason,))))
        status = encode_tlv(0xA1, info)
    body = cert_id + status + generalized_time(single.this_update)
    if single.next_update is not None:
        body += encode_tlv(0xA0, generalized_time(single.next_update))
    return encode_tlv(0x30, body)


def nonce_extension(nonce: bytes) -> bytes:
    return encode_tlv(0x30, encode_tlv(0x06, OID_NONCE) + encode_tlv(0x04, encode_tlv(0x04, nonce)))


def forge(
    signer: Signer,
    singles: list[tuple[Single, bytes]],
    *,
    produced_at: datetime = NOW - timedelta(hours=1),
    nonce: bytes | None = None,
    responder_key_hash: bytes | None = None,
    extra_certs: list[bytes] | None = None,
    extensions: bytes = b"",
) -> bytes:
    """A BasicOCSPResponse signed by `signer` (its certificate embedded when signer.embed)."""
    body = (
        encode_tlv(0xA2, encode_tlv(0x04, responder_key_hash or signer.key_hash))
        + generalized_time(produced_at)
        + encode_tlv(0x30, b"".join(single_der(s, c) for s, c in singles))
    )
    exts = (nonce_extension(nonce) if nonce is not None else b"") + extensions
    if exts:
        body += encode_tlv(0xA1, encode_tlv(0x30, exts))
    tbs = encode_tlv(0x30, body)
    return ocsp_response(
        tbs, signer.algorithm, signer.sign(tbs), signer.certs() + (extra_certs or [])
    )


def cert_id_der(name_hash: bytes, key_hash: bytes, serial: bytes) -> bytes:
    sha1 = encode_tlv(0x30, encode_tlv(0x06, bytes.fromhex("2b0e03021a")) + b"\x05\x00")
    return encode_tlv(
        0x30,
        sha1 + encode_tlv(0x04, name_hash) + encode_tlv(0x04, key_hash) + encode_tlv(0x02, serial),
    )


def unsuccessful(status: ResponseStatus) -> bytes:
    return error_response(status)


# --- the scripted upstream ----------------------------------------------------------

Behaviour = Callable[[OcspRequest], Awaitable[bytes | web.StreamResponse]]


@dataclass
class ScriptedUpstream:
    """Answers each OCSP request with `behave(request)`; counts what it saw."""

    behave: Behaviour
    requests: int = 0
    methods: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    seen: list[OcspRequest] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> ScriptedUpstream:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner, base = await serve_local(app, shutdown_timeout=0.1)
        self.url = base + "/ocsp"
        return self

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        self.methods.append(request.method)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if request.method == "POST":
                assert request.content_type == "application/ocsp-request"
                der = await request.read()
            else:
                encoded = unquote(request.raw_path.split("/", 2)[2])
                der = base64.b64decode(encoded)
            parsed = parse_request(der)
            self.seen.append(parsed)
            result = await self.behave(parsed)
        finally:
            self.in_flight -= 1
        if isinstance(result, bytes):
            return web.Response(body=result, content_type="application/ocsp-response")
        return result

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@dataclass
class Rig:
    pki: Pki
    clock: ManualClock
    upstream: Upstream
    cache: UpstreamCache
    events: list[UpstreamEvent]
    servers: list[ScriptedUpstream]

    async def serve(self, behave: Behaviour) -> ScriptedUpstream:
        server = await ScriptedUpstream(behave).start()
        self.servers.append(server)
        return server

    def issuer(self, *urls: str) -> Issuer:
        return make_issuer(self.pki.ca, urls)


@pytest.fixture
async def rig(pki: Pki):
    import aiohttp

    clock = ManualClock(NOW)
    session = aiohttp.ClientSession(trust_env=False)
    health = HealthBoard()
    upstream = Upstream(OcspClient(session), health, clock)
    events: list[UpstreamEvent] = []
    upstream.listeners.append(events.append)
    cache = UpstreamCache(upstream, clock)
    rig = Rig(pki, clock, upstream, cache, events, [])
    yield rig
    await cache.close()
    await session.close()
    for server in rig.servers:
        await server.close()
    await asyncio.sleep(0)


def serial(value: int) -> bytes:
    return content_from_int(value)


def answering(
    signer: Signer,
    single: Single = Single(),
    *,
    echo_nonce: bool = True,
    **options: object,
) -> Behaviour:
    """A well-behaved upstream (unless `options` say otherwise): echo CertID and nonce."""

    async def behave(request: OcspRequest) -> bytes:
        cert_id = single.cert_id or request.cert_ids[0].der
        nonce = request.nonce if echo_nonce else None
        return forge(signer, [(single, cert_id)], nonce=nonce, **options)  # type: ignore[arg-type]

    return behave
