"""`revocd demo`'s orchestration: build the federation, start the partners, write
revocd's config, run revocd in this process, and tell the story (print the commands once
they work, then revoke a certificate every few seconds) until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import shutil
import signal
import socket
import tempfile
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from cryptography import x509

from revocd import logs
from revocd.config import load_config
from revocd.daemon import Overrides, die_with_parent, serve
from revocd.demo.commands import commands_to_try
from revocd.demo.partners import PartnerResponder, PartnerWeb, publish_crls
from revocd.demo.pki import Federation, make_federation, write_pki

POLL_INTERVAL = "5s"
REASONS = (
    x509.ReasonFlags.key_compromise,
    x509.ReasonFlags.superseded,
    x509.ReasonFlags.cessation_of_operation,
    x509.ReasonFlags.affiliation_changed,
)


def write_config(directory: Path, port: int, partner_url: str, fabrikam_ocsp: str) -> Path:
    config = directory / "revocd.toml"
    config.write_text(
        f"""# Written by `revocd demo`.
[server]
listen = "127.0.0.1:{port}"
workers = 1

[store]
backend = "sqlite"
path = "revocd.db"

[responder]
cert = "pki/responder.pem"
key = "pki/responder.key"
max_age = "10m"
nonce = "echo"

[defaults]
poll_interval = "{POLL_INTERVAL}"
grace = "5m"
timeout = "5s"
max_crl_bytes = "10MiB"
clock_skew = "1m"

[[partner]]
name = "northwind"

  [[partner.issuer]]
  name = "northwind-root"
  cert = "pki/northwind-root.pem"
  crl = ["{partner_url}/northwind/root.crl"]

[[partner]]
name = "contoso"
grace = "10m"

  # also certified by northwind (pki/contoso-issuing-by-northwind.pem): the same CA,
  # so it is configured once and answers for certificates named through either copy
  [[partner.issuer]]
  name = "contoso-issuing"
  cert = "pki/contoso-issuing.pem"
  crl = ["{partner_url}/contoso/issuing.crl", "file://{directory / "mirror" / "contoso.crl"}"]

[[partner]]
name = "fabrikam"
ocsp_timeout = "3s"
ocsp_probe_interval = "30s"
ocsp_nonce = false              # so its signed answers may be relayed (passthrough)

  # OCSP-only: revocd asks fabrikam's own responder (openssl ocsp, started by the demo).
  # A client request that fabrikam's answer fits exactly (one CertID, no nonce) gets
  # fabrikam's signed bytes; any other is signed by revocd ([responder], "trusted").
  [[partner.issuer]]
  name = "fabrikam-issuing"
  cert = "pki/fabrikam-issuing.pem"
  ocsp = ["{fabrikam_ocsp}"]
  signing = "passthrough"
  passthrough_fallback = "trusted"
"""
    )
    return config


async def _announce(session: aiohttp.ClientSession, url: str, text: str) -> None:
    """Print the commands once they work: revocd ready and each CRL partner's first CRL
    accepted (give up waiting after a minute: the commands then show why)."""
    for _ in range(600):
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError, KeyError):
            async with session.get(f"{url}/v1/partners") as response:
                partners = (await response.json())["partners"] if response.ok else []
            crl_issuers = [
                issuer
                for partner in partners
                for issuer in partner["issuers"]
                if any(source["type"] == "crl" for source in issuer["sources"])
            ]
            if crl_issuers and all(i["freshness"] == "fresh" for i in crl_issuers):
                break
        await asyncio.sleep(0.1)
    print(text, flush=True)


async def _revoker(
    directory: Path,
    fed: Federation,
    site: PartnerWeb,
    responder: PartnerResponder,
    session: aiohttp.ClientSession,
    every: float,
) -> None:
    reasons = itertools.cycle(REASONS)
    turn = itertools.cycle(fed.cas)
    while True:
        await asyncio.sleep(every)
        ca = next(turn)
        chosen = ca.next_to_revoke()
        if chosen is None:
            continue
        name, cert = chosen
        reason = next(reasons)
        ca.revoke(cert, datetime.now(UTC), reason)
        if ca is fed.fabrikam:
            responder.write_index()
            await responder.nudge(session)
            published = "responder index updated"
        else:
            publish_crls(site, directory, fed)
            published = f"CRL {ca.crl_number} published"
        print(
            f"demo: {ca.partner} revoked {name} (serial {cert.serial_number:x}, "
            f"{reason.value}); {published}",
            flush=True,
        )


async def _main(port: int, directory: Path, every: float, log_format: str) -> None:
    now = datetime.now(UTC)
    fed = make_federation(now)
    write_pki(directory, fed, now)
    site = PartnerWeb()
    responder = PartnerResponder(directory / "fabrikam", fed.fabrikam, now)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True),  # the responder: one at a time
        timeout=aiohttp.ClientTimeout(total=5),
        trust_env=False,
    )
    story: asyncio.Task[None] | None = None
    try:
        partner_url = await site.start()
        publish_crls(site, directory, fed)
        fabrikam_url = await responder.start()
        config = load_config(write_config(directory, port, partner_url, fabrikam_url))
        logs.configure(log_format, "warning")
        text = commands_to_try(port, directory, fed, partner_url, responder)

        async def tell_then_revoke() -> None:
            await _announce(session, f"http://127.0.0.1:{port}", text)
            await _revoker(directory, fed, site, responder, session, every)

        story = asyncio.create_task(tell_then_revoke())
        await serve(config, Overrides(executor_factory=_crl_workers))
    finally:
        if story is not None:
            story.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await story
        await responder.close()
        await session.close()
        await site.close()


def _quiet_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: ours
    die_with_parent()


def _crl_workers() -> Executor:
    """The daemon's CRL process pool, minus a traceback per worker on Ctrl-C."""
    return ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_quiet_worker
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_demo(port: int, directory: Path | None, every: float, log_format: str) -> int:
    port = port or _free_port()
    temporary = directory is None
    folder = Path(tempfile.mkdtemp(prefix="revocd-demo-")) if directory is None else directory
    folder.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(_main(port, folder.resolve(), every, log_format))
    except KeyboardInterrupt:
        pass
    finally:
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)
    return 0
