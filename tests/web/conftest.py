"""A small federation behind the real app: two partners, real CAs, installed evidence.

acme    one issuer, `acme-issuing` (self-signed "Acme CA"), with an accepted CRL:
        0x1001 keyCompromise, 0x1002 without a reason, DER `ff` (-1) superseded,
        0x0a1b certificateHold, and 0x77 sticky (a CRL before the current one listed it).
globex  one issuer, `globex-bridge`, configured with the cross-certificate that Acme CA
        issued for "Globex CA": same subject and key as Globex's own CA certificate, so
        certificates Globex CA signs resolve to it. No CRL accepted yet.

The clock starts at T0 + 2 h: acme's CRL (T0 .. T0 + 1 day, grace 1 h) is fresh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from revocd.clock import ManualClock
from revocd.evidence import CrlMeta, RevocationReason
from revocd.metrics import Metrics
from revocd.model import Issuer, IssuerKey, Partner, Policy, SigningMode, Source
from revocd.revoked import NO_REASON, Revocation, RevokedIndex, epoch_seconds
from revocd.serials import content_from_int
from revocd.status.answer import IssuerEvidence, StickyRevocation
from revocd.status.board import SourceBoard
from revocd.status.cache import StatusCache
from revocd.web.app import make_app
from tests.support.pki import CA, T0, cross_certify, make_ca

GRACE = timedelta(hours=1)
POLICY = Policy(
    poll_interval=timedelta(minutes=5),
    grace=GRACE,
    timeout=timedelta(seconds=10),
    max_crl_bytes=10**6,
    clock_skew=timedelta(minutes=5),
)
ACME_URL = "http://pki.acme.example/issuing.crl"
ACME_MIRROR = "http://mirror.acme.example/issuing.crl"
GLOBEX_URL = "http://pki.globex.example/bridge.crl"
THIS_UPDATE = T0
NEXT_UPDATE = T0 + timedelta(days=1)
REVOKED_AT = T0 - timedelta(days=1)
STICKY_AT = T0 - timedelta(days=10)
START = T0 + timedelta(hours=2)
CRL_NUMBER = 42


def configured_issuer(
    name: str, partner: str, cert: x509.Certificate, urls: tuple[str, ...]
) -> Issuer:
    return Issuer(
        name=name,
        partner=partner,
        cert_path=Path(f"/etc/revocd/{name}.pem"),
        cert=cert,
        key=IssuerKey.from_certificate(cert),
        crl_urls=urls,
        ocsp_urls=(),
        signing=SigningMode.TRUSTED,
        responder_cert=None,
        responder_key=None,
    )


def acme_meta() -> CrlMeta:
    return CrlMeta(ACME_URL, CRL_NUMBER, THIS_UPDATE, NEXT_UPDATE, b"d" * 32, b"t" * 32, 4, T0)


def acme_evidence() -> IssuerEvidence:
    at = epoch_seconds(REVOKED_AT)
    index = RevokedIndex.from_entries(
        [
            (content_from_int(0x1001), at, RevocationReason.KEY_COMPROMISE),
            (content_from_int(0x1002), at, NO_REASON),
            (content_from_int(-1), at, RevocationReason.SUPERSEDED),
            (content_from_int(0x0A1B), at, RevocationReason.CERTIFICATE_HOLD),
        ]
    )
    sticky_serial = content_from_int(0x77)
    sticky = {
        sticky_serial: StickyRevocation(
            Revocation(sticky_serial, STICKY_AT, RevocationReason.CA_COMPROMISE),
            ACME_URL,
            CRL_NUMBER - 1,
        )
    }
    return IssuerEvidence("acme-issuing", GRACE, acme_meta(), index, sticky)


@dataclass
class World:
    app: web.Application
    cache: StatusCache
    board: SourceBoard
    clock: ManualClock
    partners: tuple[Partner, ...]
    acme: CA
    globex: CA

    def source(self, issuer: str, url: str) -> Source:
        for partner in self.partners:
            for candidate in partner.issuers:
                for source in candidate.sources:
                    if (source.issuer, source.url) == (issuer, url):
                        return source
        raise KeyError((issuer, url))

    def key(self, issuer: str) -> IssuerKey:
        return self.cache.find_issuer(issuer).key


def build_world(acme_name: str = "acme", globex_name: str = "globex") -> World:
    acme, globex = make_ca("Acme CA"), make_ca("Globex CA")
    partners = (
        Partner(
            acme_name,
            POLICY,
            (configured_issuer("acme-issuing", acme_name, acme.cert, (ACME_URL, ACME_MIRROR)),),
        ),
        Partner(
            globex_name,
            POLICY,
            (
                configured_issuer(
                    "globex-bridge", globex_name, cross_certify(globex, by=acme), (GLOBEX_URL,)
                ),
            ),
        ),
    )
    cache = StatusCache(partners)
    cache.install(acme_evidence())
    board = SourceBoard(s for p in partners for i in p.issuers for s in i.sources)
    clock = ManualClock(START)
    app = make_app(cache=cache, board=board, clock=clock, partners=partners, metrics=Metrics())
    world = World(app, cache, board, clock, partners, acme, globex)
    board.update(world.source("acme-issuing", ACME_URL), meta=acme_meta(), last_success=T0)
    return world


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


ClientFactory = Callable[..., Any]


@pytest.fixture
def world() -> World:
    return build_world()


@pytest.fixture
async def client(aiohttp_client: ClientFactory, world: World) -> TestClient[Any, Any]:
    """A client of the app with the store loaded (`cache.ready`)."""
    world.cache.ready = True
    test_client: TestClient[Any, Any] = await aiohttp_client(world.app)
    return test_client


@pytest.fixture
async def loading_client(aiohttp_client: ClientFactory, world: World) -> TestClient[Any, Any]:
    """A client of the app whose store has not finished loading."""
    test_client: TestClient[Any, Any] = await aiohttp_client(world.app)
    return test_client
