"""`[server] workers = 2` with an OCSP-only issuer: the replica answers upstream serials
from its copy of the primary's answers (with the primary stopped, too), asks the primary
for the rest (so concurrent asks in both processes make one upstream request), follows a
new upstream answer in its pre-signed OCSP responses, and `Replicas.restart_all` replaces
every replica without one failed request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.x509 import ocsp

from revocd.config import load_config
from revocd.daemon import REPLICAS, build_app
from revocd.ocsp.asn1 import OcspRequest
from revocd.ocsp.signing import Signer
from revocd.replicas import RESTART_BACKOFF, listen_sockets
from revocd.serials import content_from_int
from revocd.upstream.client import build_request
from revocd.web.hot_get import start_site
from tests.support.daemon import RunningDaemon
from tests.support.pki import CA, make_ca
from tests.upstream.conftest import ScriptedUpstream, Single, forge

pytestmark = pytest.mark.slow

ISSUER = "initech-issuing"
GOOD, REVOKED, COLD, FLIP, NEVER = 0x2002, 0x1001, 0x3003, 0x4004, 0x7777


class PartnerOcsp:
    """The partner's OCSP responder, on a thread: signs with the partner CA's key, says
    good unless a serial is in `revoked`, nextUpdate `validity` after thisUpdate, answers
    after `delay` seconds, and counts the requests for each serial."""

    def __init__(self, ca: CA) -> None:
        self.signer = Signer(ca.cert, ca.key, embed=False)  # type: ignore[arg-type]
        self.revoked: set[int] = {REVOKED}
        self.validity = timedelta(minutes=5)
        self.delay = 0.0
        self.asked: Counter[int] = Counter()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        started = ScriptedUpstream(self._behave).start()
        self._server = asyncio.run_coroutine_threadsafe(started, self._loop).result(10)
        self.url = self._server.url

    async def _behave(self, request: OcspRequest) -> bytes:
        cert_id = request.cert_ids[0]
        number = int.from_bytes(cert_id.serial, "big", signed=True)
        self.asked[number] += 1
        await asyncio.sleep(self.delay)
        t = datetime.now(UTC).replace(microsecond=0)
        window = {"this_update": t, "next_update": t + self.validity}
        if number in self.revoked:
            single = Single("revoked", revoked_at=t - timedelta(days=1), reason=1, **window)
        else:
            single = Single("good", **window)  # type: ignore[arg-type]
        return forge(self.signer, [(single, cert_id.der)], produced_at=t, nonce=request.nonce)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._server.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def partner_ca() -> CA:
    return make_ca("Initech Issuing CA")


@pytest.fixture
def upstream(partner_ca: CA) -> Iterator[PartnerOcsp]:
    server = PartnerOcsp(partner_ca)
    yield server
    server.close()


def write_config(tmp: Path, partner_ca: CA, ocsp_url: str, *, workers: int = 2) -> Path:
    make_ca("revocd e2e responder").write(tmp, "revocd-responder")
    partner_ca.write(tmp, "partner-ca")
    config = tmp / "revocd.toml"
    config.write_text(
        f"""
[server]
listen = "127.0.0.1:0"
workers = {workers}

[store]
backend = "sqlite"
path = "revocd.db"

[responder]
cert = "revocd-responder.pem"
key = "revocd-responder.key"

[defaults]
poll_interval = "1s"
grace = "1h"
timeout = "5s"
clock_skew = "5m"
ocsp_timeout = "3s"

[[partner]]
name = "initech"

  [[partner.issuer]]
  name = "{ISSUER}"
  cert = "partner-ca.pem"
  ocsp = ["{ocsp_url}"]
"""
    )
    return config


def status(url: str, serial: int, timeout: float = 10) -> dict[str, Any]:
    """One JSON answer over a new connection (whichever process is free accepts it)."""
    with urllib.request.urlopen(f"{url}/v1/status/{ISSUER}/{serial:x}", timeout=timeout) as r:
        return dict(json.loads(r.read()))


def ocsp_post(url: str, request: bytes, timeout: float) -> bytes:
    post = urllib.request.Request(
        f"{url}/ocsp", data=request, headers={"Content-Type": "application/ocsp-request"}
    )
    with urllib.request.urlopen(post, timeout=timeout) as r:
        return bytes(r.read())


def from_replica(ask: Any, *args: Any, timeout: float = 0.5) -> Any:
    """`ask(*args, timeout)` until a connection reaches the replica (the primary is stopped:
    a connection it took just before stopping times out)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, urllib.error.URLError):
            return ask(*args, timeout=timeout)
    raise AssertionError("no connection reached the replica in 30 s")


def attempts(count: int, ask: Any, *args: Any) -> list[Any]:
    """`ask(*args)` over `count` connections at once; None for each that timed out."""

    def once(_: int) -> Any:
        try:
            return ask(*args)
        except (OSError, urllib.error.URLError):
            return None

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(once, range(count)))


@contextlib.contextmanager
def primary_stopped(daemon: RunningDaemon) -> Iterator[None]:
    os.kill(daemon.process.pid, signal.SIGSTOP)  # only the replica can answer now
    try:
        yield
    finally:
        os.kill(daemon.process.pid, signal.SIGCONT)


def counted(exposition: bytes) -> float:
    """The daemon's count of JSON answers `revoked`, from its /metrics exposition."""
    pattern = re.compile(
        r'^revocd_status_requests_total\{api="json",status="revoked"\} (\S+)$', re.M
    )
    found = pattern.search(exposition.decode())
    return float(found.group(1)) if found else 0.0


def certificate_status(body: bytes) -> str:
    response = ocsp.load_der_ocsp_response(body)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    return response.certificate_status.name.lower()


@pytest.fixture
def daemon(tmp_path: Path, partner_ca: CA, upstream: PartnerOcsp) -> Iterator[RunningDaemon]:
    with RunningDaemon(write_config(tmp_path, partner_ca, upstream.url)) as running:
        running.wait_ready()
        running.wait_until(
            "the replica",
            lambda: any(e.get("event") == "replica_listening" for e in running.events),
        )
        # the start-up probe (a random serial) is done before the test asks anything
        running.wait_until("the first probe", lambda: sum(upstream.asked.values()) >= 1)
        yield running


def test_the_replica_answers_upstream_serials_from_its_copy_alone(
    daemon: RunningDaemon, upstream: PartnerOcsp, partner_ca: CA
) -> None:
    for _ in range(10):  # whichever process is asked: one upstream request per serial
        assert status(daemon.url, GOOD)["status"] == "good"
        assert status(daemon.url, REVOKED)["status"] == "revoked"
    assert (upstream.asked[GOOD], upstream.asked[REVOKED]) == (1, 1)
    request = build_request(partner_ca.cert, content_from_int(REVOKED), nonce=None).der
    with primary_stopped(daemon):
        for _ in range(5):
            good = from_replica(status, daemon.url, GOOD)
            assert good["status"] == "good", good
            assert good["source"] == {"type": "ocsp", "url": upstream.url, "crl_number": None}
            revoked = from_replica(status, daemon.url, REVOKED)
            assert revoked["status"] == "revoked", revoked
            assert revoked["reason"] == "keyCompromise"
        assert certificate_status(from_replica(ocsp_post, daemon.url, request)) == "revoked"
        # a serial the copy does not hold: the replica asks the stopped primary, which does
        # not reply within ocsp_timeout + 1 s: unknown, as when the partner does not answer
        # (16 connections at once: at least one reaches the replica, 1 - 2**-16)
        nevers = [n for n in attempts(16, status, daemon.url, NEVER, 8) if n is not None]
        assert nevers, "no connection reached the replica"
        for never in nevers:
            assert never["status"] == "unknown", never
            assert never["unknown_reason"] == "upstream_unreachable"
        assert upstream.asked[NEVER] == 0  # the replica never asks the partner itself
    assert (upstream.asked[GOOD], upstream.asked[REVOKED]) == (1, 1)


def test_concurrent_asks_for_a_cold_serial_in_both_processes_make_one_upstream_request(
    daemon: RunningDaemon, upstream: PartnerOcsp
) -> None:
    upstream.delay = 1.0  # every ask arrives while the one round is in flight
    with ThreadPoolExecutor(40) as pool:  # 40 connections: both processes get some
        answers = list(pool.map(lambda _: status(daemon.url, COLD)["status"], range(40)))
    assert answers == ["good"] * 40
    assert upstream.asked[COLD] == 1


def test_a_new_upstream_answer_reaches_the_replicas_pre_signed_responses(
    daemon: RunningDaemon, upstream: PartnerOcsp, partner_ca: CA
) -> None:
    upstream.validity = timedelta(seconds=10)  # refreshed within seconds
    request = build_request(partner_ca.cert, content_from_int(FLIP), nonce=None).der
    assert status(daemon.url, FLIP)["status"] == "good"

    def replica_holds_it() -> bool:
        # The answer reaches the replica's copy through the pipe moments after the
        # primary has it; stopped before then, the primary cannot answer the replica's ask.
        with primary_stopped(daemon):
            return certificate_status(from_replica(ocsp_post, daemon.url, request)) == "good"

    daemon.wait_until("the replica's copy to hold the upstream answer", replica_holds_it)
    with primary_stopped(daemon):
        first = from_replica(ocsp_post, daemon.url, request)
        again = from_replica(ocsp_post, daemon.url, request)
    assert certificate_status(first) == "good"
    assert again == first  # the replica's pre-signed response
    upstream.revoked.add(FLIP)
    daemon.wait_until(
        "both processes to follow the new upstream answer",
        lambda: {status(daemon.url, FLIP)["status"] for _ in range(20)} == {"revoked"},
        timeout=60,
    )
    with primary_stopped(daemon):
        later = from_replica(ocsp_post, daemon.url, request)
    assert certificate_status(later) == "revoked"


async def test_restart_all_replaces_every_replica_without_a_failed_request(
    tmp_path: Path, partner_ca: CA, upstream: PartnerOcsp
) -> None:
    app = build_app(load_config(write_config(tmp_path, partner_ca, upstream.url, workers=3)))
    replicas = app[REPLICAS]
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    loop = asyncio.get_running_loop()
    outcomes: Counter[str] = Counter()
    restarted = threading.Event()

    def ask_until_restarted() -> None:  # new connections, to every process
        after = 0
        while after < 50:  # then 50 more, the new replicas among those answering
            try:
                outcomes[status(url, REVOKED, timeout=10)["status"]] += 1
            except (OSError, urllib.error.URLError, ValueError) as error:
                outcomes[repr(error)] += 1
            after += restarted.is_set()

    try:
        shared = listen_sockets("127.0.0.1", 0)  # as daemon.serve does
        for sock in shared:
            await start_site(runner, sock)
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}"
        await replicas.start("127.0.0.1", port, "json", "warning", shared)
        before = replicas.pids
        assert len(before) == 2

        def ready() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not upstream.asked:
                time.sleep(0.05)  # the start-up probe (a random serial) comes first
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError, urllib.error.URLError, KeyError):
                    answers = [status(url, REVOKED)["status"] for _ in range(10)]
                    outcomes["revoked"] += answers.count("revoked")
                    if set(answers) == {"revoked"}:
                        return
                time.sleep(0.05)
            raise AssertionError("never ready")

        await loop.run_in_executor(None, ready)
        asker = loop.run_in_executor(None, ask_until_restarted)
        try:
            await replicas.restart_all()
        finally:
            restarted.set()
        after = replicas.pids
        await asker
        # /metrics counts every answer, the replaced replicas' included
        async with asyncio.timeout(10):
            while counted(replicas.exposition()) != outcomes["revoked"]:  # noqa: ASYNC110
                await asyncio.sleep(0.1)  # the replicas report their counters every second
    finally:
        await replicas.stop()
        await runner.cleanup()
    assert set(outcomes) == {"revoked"}, outcomes
    assert len(after) == 2
    assert not set(before) & set(after)
    assert upstream.asked[REVOKED] == 1


async def test_restart_all_replaces_a_replica_waiting_to_be_restarted(
    tmp_path: Path, partner_ca: CA, upstream: PartnerOcsp
) -> None:
    app = build_app(load_config(write_config(tmp_path, partner_ca, upstream.url)))
    replicas = app[REPLICAS]
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        shared = listen_sockets("127.0.0.1", 0)  # as daemon.serve does
        for sock in shared:
            await start_site(runner, sock)
        port = runner.addresses[0][1]
        await replicas.start("127.0.0.1", port, "json", "critical", shared)
        (dead,) = replicas.pids
        os.kill(dead, signal.SIGKILL)
        async with asyncio.timeout(10):
            while replicas.pids:  # noqa: ASYNC110 - the supervisor's state, no event to wait on
                await asyncio.sleep(0.02)
        await replicas.restart_all()  # during the supervisor's back-off
        (new,) = replicas.pids
        await asyncio.sleep(RESTART_BACKOFF[0] + 0.5)  # past the back-off: no second one
        assert replicas.pids == [new]
        assert new != dead
    finally:
        await replicas.stop()
        await runner.cleanup()
