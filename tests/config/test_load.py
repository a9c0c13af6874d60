"""load_config turns a valid file into the dataclasses the daemon runs on (more cases,
against the shipped example too, in test_config.py)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from revocd.config import DEFAULT_POLICY, Config, load_config
from revocd.model import IssuerKey, Policy, SigningMode
from tests.config.conftest import ACME, Workdir

REPO = Path(__file__).resolve().parents[2]


def test_a_minimal_file_gets_the_builtin_defaults(work: Workdir) -> None:
    config = load_config(work.write(ACME))
    assert config.server.listen == "127.0.0.1:8080"
    assert (config.server.host, config.server.port) == ("127.0.0.1", 8080)
    assert config.store.backend == "sqlite"
    assert config.store.path == work.root / "revocd.db"
    assert config.store.dsn is None
    assert config.responder is None
    assert (config.logging.format, config.logging.level) == ("json", "info")
    assert config.defaults == Policy(
        poll_interval=timedelta(minutes=5),
        grace=timedelta(hours=1),
        timeout=timedelta(seconds=10),
        max_crl_bytes=200 * 1024 * 1024,
        clock_skew=timedelta(minutes=5),
    )
    assert config.partners[0].policy == DEFAULT_POLICY


def test_issuer_is_the_loaded_certificate_with_its_ocsp_key(work: Workdir) -> None:
    config = load_config(work.write(ACME.replace("pki/acme.pem", "pki/acme.der")))
    issuer = config.issuers()[0]
    assert issuer.cert == work.acme.cert  # DER is accepted as well as PEM
    assert issuer.key == IssuerKey.from_certificate(work.acme.cert)
    assert issuer.partner == "acme"
    assert issuer.signing is SigningMode.TRUSTED  # the default


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [
        ("127.0.0.1:8080", "127.0.0.1", 8080),
        ("0.0.0.0:443", "0.0.0.0", 443),
        ("localhost:9000", "localhost", 9000),
        ("[::1]:8080", "::1", 8080),
        ("[::]:80", "::", 80),
        ("127.0.0.1:0", "127.0.0.1", 0),
    ],
    ids=["ipv4", "any-ipv4", "hostname", "ipv6-loopback", "any-ipv6", "port-0-any-free"],
)
def test_listen_addresses(work: Workdir, listen: str, host: str, port: int) -> None:
    config = load_config(work.write(f'[server]\nlisten = "{listen}"\n' + ACME))
    assert (config.server.listen, config.server.host, config.server.port) == (listen, host, port)


def test_every_section_spelt_out(work: Workdir) -> None:
    config = load_config(
        work.write(
            """
[server]
listen = "0.0.0.0:8443"
[store]
backend = "postgres"
dsn = "postgresql://revocd@db.example/revocd"
[responder]
cert = "pki/leaf.pem"
key = "pki/leaf.key"
max_age = "30m"
nonce = "ignore"
[logging]
format = "console"
level = "WARNING"
[[partner]]
name = "acme"
timeout = "3s"
clock_skew = "90s"
grace = "0s"
  [[partner.issuer]]
  name = "acme-issuing"
  cert = "pki/acme.pem"
  ocsp = ["http://ocsp.acme.example/"]
  signing = "delegated"
  responder_cert = "pki/acme_ocsp.pem"
  responder_key = "pki/acme_ocsp.key"
"""
        )
    )
    assert config.store == dataclasses.replace(
        config.store, backend="postgres", path=None, dsn="postgresql://revocd@db.example/revocd"
    )
    assert config.responder is not None
    assert config.responder.max_age == timedelta(minutes=30)
    assert config.responder.nonce == "ignore"
    assert (config.logging.format, config.logging.level) == ("console", "warning")
    policy = config.partners[0].policy
    assert (policy.timeout, policy.clock_skew, policy.grace) == (
        timedelta(seconds=3),
        timedelta(seconds=90),
        timedelta(0),
    )
    issuer = config.issuers()[0]
    assert issuer.responder_key == work.root / "pki" / "acme_ocsp.key"


def test_config_is_frozen(work: Workdir) -> None:
    config = load_config(work.write(ACME))
    assert isinstance(config, Config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.partners = ()  # type: ignore[misc]
