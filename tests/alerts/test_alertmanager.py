"""The real Alertmanager accepts what revocd posts: the alert shows up in its API, firing,
with revocd's labels and annotations, and a resolution ends it."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from revocd.alerts import Alert, AlertmanagerSink, rfc3339
from revocd.config import AlertsConfig
from revocd.fetch.transport import make_session
from revocd.metrics import Metrics
from tests.support.peers import need_binary

CONFIG = """
route:
  receiver: blackhole
receivers:
  - name: blackhole
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    binary = need_binary("prometheus-alertmanager")
    (tmp_path / "alertmanager.yml").write_text(CONFIG)
    url = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address={url.removeprefix('http://')}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        assert process.stderr is not None
        process.stderr.close()


async def alerts_of(session: aiohttp.ClientSession, url: str) -> list[dict[str, Any]]:
    async with session.get(f"{url}/api/v2/alerts") as response:
        assert response.status == 200
        body: list[dict[str, Any]] = await response.json()
        return body


async def wait_ready(session: aiohttp.ClientSession, url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            async with session.get(f"{url}/-/ready") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("alertmanager did not become ready")


@pytest.mark.peer
async def test_real_alertmanager_shows_the_alert_then_resolves_it(alertmanager: str) -> None:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    stale = Alert(
        {
            "alertname": "RevocdSourceStale",
            "severity": "warning",
            "partner": "acme",
            "issuer": "acme-issuing",
            "source": "http://pki.acme.example/issuing.crl",
        },
        {"summary": "acme / acme-issuing: CRL past nextUpdate", "next_update": rfc3339(started)},
        started,
    )
    session = make_session()
    config = AlertsConfig(alertmanager=(alertmanager,), labels=(("cluster", "test"),))
    sink = AlertmanagerSink(config, session, Metrics())
    try:
        await wait_ready(session, alertmanager)
        sink.start()
        sink.send(stale)
        deadline = time.monotonic() + 20
        while not (found := await alerts_of(session, alertmanager)):
            assert time.monotonic() < deadline, "the alert never reached Alertmanager"
            await asyncio.sleep(0.05)
        [shown] = found
        assert shown["labels"] == {**stale.labels, "cluster": "test"}
        assert shown["annotations"] == stale.annotations
        assert shown["status"]["state"] == "active"
        assert shown["startsAt"].startswith(started.strftime("%Y-%m-%dT%H:%M:%S"))

        sink.send(stale.resolved(datetime.now(UTC)))
        while await alerts_of(session, alertmanager):  # resolved alerts leave the list
            assert time.monotonic() < deadline, "the resolution never reached Alertmanager"
            await asyncio.sleep(0.05)
    finally:
        await sink.stop()
        await session.close()
