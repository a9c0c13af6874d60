"""revocd's responder for one partner CA, as real relying-party clients (nginx, Apache,
the JDK, Go's x/crypto/ocsp) meet it: real time, the revoked serials (keyCompromise), CRL
evidence fresh for six hours."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from revocd.clock import SystemClock
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
from tests.support.pki import CA

NOW = datetime.now(UTC).replace(microsecond=0)
POLICY = Policy(
    timedelta(minutes=5), timedelta(hours=1), timedelta(seconds=5), 10**6, timedelta(minutes=5)
)
KEY_COMPROMISE = 1


def pem(path: Path, cert: x509.Certificate) -> str:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def app_for(ca: CA, signer: Signer, revoked: Sequence[int], nonce: str = "echo") -> web.Application:
    """`nonce`: the responder's `nonce` policy (echo | ignore)."""
    issuer = Issuer(
        "partner", "partner", Path("x"), ca.cert, IssuerKey.from_certificate(ca.cert),
        ("http://a/x.crl",), (), SigningMode.DELEGATED if signer.embed else SigningMode.TRUSTED,
        None, None,
    )  # fmt: skip
    partners = (Partner("partner", POLICY, (issuer,)),)
    cache = StatusCache(partners)
    meta = CrlMeta(
        "http://a/x.crl", 1, NOW - timedelta(minutes=5), NOW + timedelta(hours=6),
        b"d" * 32, b"t" * 32, len(revoked), NOW,
    )  # fmt: skip
    index = RevokedIndex.from_entries(
        [
            (content_from_int(s), epoch_seconds(NOW - timedelta(days=1)), KEY_COMPROMISE)
            for s in revoked
        ]
    )
    cache.install(IssuerEvidence("partner", POLICY.grace, meta, index, {}))
    cache.ready = True
    responder = Responder(
        cache, {"partner": signer}, {"partner": POLICY.grace},
        ResponderPolicy(timedelta(hours=1), nonce),
    )  # fmt: skip
    return make_app(
        cache=cache, board=SourceBoard([]), clock=SystemClock(), partners=partners,
        metrics=Metrics(), responder=responder,
    )  # fmt: skip
