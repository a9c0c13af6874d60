from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.httpd import StaticPartner
from tests.support.pki import CA, make_ca


@pytest.fixture
def partner() -> Iterator[StaticPartner]:
    with StaticPartner() as server:
        yield server


@pytest.fixture
def ca() -> CA:
    return make_ca("E2E Issuing CA")


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def write_config(
    directory: Path,
    ca: CA,
    crl_urls: list[str],
    *,
    poll: str = "1s",
    workers: int | None = None,
    listen: str = "127.0.0.1:0",
    responder: bool = False,
) -> Path:
    """`responder`: with a `[responder]` key, so the issuer's OCSP answers are signed."""
    ca.write(directory / "pki", "issuing")
    urls = ", ".join(f'"{u}"' for u in crl_urls)
    config = directory / "revocd.toml"
    workers_line = f"workers = {workers}" if workers is not None else ""
    responder_section = ""
    if responder:
        make_ca("revocd e2e responder").write(directory / "pki", "responder")
        responder_section = '[responder]\ncert = "pki/responder.pem"\nkey = "pki/responder.key"\n'
    config.write_text(
        f"""
[server]
listen = "{listen}"
{workers_line}

{responder_section}

[store]
backend = "sqlite"
path = "revocd.db"

[defaults]
poll_interval = "{poll}"
grace = "1h"
timeout = "5s"
max_crl_bytes = "200MiB"
clock_skew = "5m"

[[partner]]
name = "acme"

  [[partner.issuer]]
  name = "acme-issuing"
  cert = "pki/issuing.pem"
  crl = [{urls}]
"""
    )
    return config


def crl_window() -> dict[str, datetime]:
    t = now()
    return {"this_update": t - timedelta(minutes=1), "next_update": t + timedelta(days=1)}


@pytest.fixture
def big_crl():
    """A 300,000-entry CRL (about 12 MB) that lists 0x1002 but not 0x1001."""
    from tests.support.dercrl import assemble_crl

    def make(ca: CA, number: int, entries: int = 300_000) -> bytes:
        serials = [0x1002, *range(0x10_0000_0000, 0x10_0000_0000 + entries - 1)]
        return assemble_crl(ca, serials, number=number, **crl_window())

    return make
