"""bench/upstream.py measures what it claims: its upstream answers are ones revocd accepts,
it counts the requests it has in flight, and a small run prints figures that hold together
(the per-source bound, one upstream request per cold serial, none for warm ones)."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bench.upstream import UpstreamApp, check, make_pki, not_landed, presign
from revocd.serials import content_from_int
from revocd.status.answer import CertStatus
from revocd.upstream.client import build_request
from revocd.upstream.verify import verify_upstream
from tests.support.daemon import REPO
from tests.support.peers import need_binary


@pytest.mark.parametrize("revoked", [False, True], ids=["good", "revoked"])
def test_presigned_answers_pass_revocds_verification(tmp_path: Path, revoked: bool) -> None:
    pki = make_pki(tmp_path)
    serial = 0x1234567890ABCDEF
    request = build_request(pki.ca, content_from_int(serial), nonce=None)
    answer = verify_upstream(
        presign(pki, serial, revoked),
        issuer=pki.ca,
        asked=request.asked,
        now=datetime.now(UTC),
        clock_skew=timedelta(minutes=1),
        default_validity=timedelta(minutes=5),
    )
    assert answer.status is (CertStatus.REVOKED if revoked else CertStatus.GOOD)
    assert not answer.has_nonce


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"status": "good", "source": {"type": "ocsp", "url": "http://u/"}}, None),
        (
            {"status": "unknown", "unknown_reason": "no_evidence", "source": None},
            "serial 1f: status 'unknown' (unknown_reason 'no_evidence'), source None; "
            "expected 'good' from the upstream",
        ),
        (
            {"status": "good", "source": {"type": "crl", "url": "file:///x.crl"}},
            "serial 1f: status 'good' (unknown_reason None), source {'type': 'crl', "
            "'url': 'file:///x.crl'}; expected 'good' from the upstream",
        ),
    ],
    ids=["from-upstream", "not-answered", "from-a-crl"],
)
def test_an_answer_counts_only_when_upstream_gave_it(
    answer: dict[str, object], problem: str | None
) -> None:
    assert check(answer, 0x1F, revoked=False) == problem


def test_without_upstream_answers_the_run_stops_with_no_figures() -> None:
    stop = not_landed("serial 1f: status 'unknown'")
    assert "did not answer from its upstream OCSP responder" in str(stop.code)
    assert "No figures printed" in str(stop.code)


async def test_upstream_waits_its_latency_and_counts_requests_in_flight(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    serials = list(range(1, 6))
    upstream = UpstreamApp(pki, {s: presign(pki, s, False) for s in serials}, latency=0.1)
    async with TestClient(TestServer(upstream.app())) as client:

        async def ask(serial: int) -> bytes:
            der = build_request(pki.ca, content_from_int(serial), nonce=None).der
            path = "/ocsp/" + base64.b64encode(der).decode().replace("/", "%2F")
            async with client.get(path) as response:
                assert response.content_type == "application/ocsp-response"
                return await response.read()

        started = time.monotonic()
        bodies = await asyncio.gather(*(ask(s) for s in serials))
        elapsed = time.monotonic() - started
        assert bodies == [upstream.answers[s] for s in serials]
        assert 0.1 <= elapsed < 0.5  # all five in flight together, each 100 ms
        async with client.get("/_stats") as response:
            assert await response.json() == {"requests": 5, "max_in_flight": 5}
        async with client.get("/_stats") as response:  # read and reset
            assert await response.json() == {"requests": 0, "max_in_flight": 0}
        post = build_request(pki.ca, content_from_int(99), nonce=None).der  # not pre-signed
        async with client.post("/ocsp", data=post) as response:
            assert response.status == web.HTTPOk.status_code


@pytest.mark.slow
@pytest.mark.peer
def test_a_small_run_prints_consistent_figures() -> None:
    need_binary("wrk")
    args = ["--seconds", "1", "--connections", "4", "--concurrency", "4"]
    args += ["--latency-ms", "10", "--warm", "20", "--burst", "100"]
    done = subprocess.run(
        [sys.executable, "bench/upstream.py", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["warm_upstream_requests"] == 0
    for load in figures["warm"].values():
        assert load["requests_per_second"] > 0
        assert not load["errors"]
    burst = figures["burst"]
    assert burst["upstream_requests"] == 100  # one round per cold serial
    assert 1 <= burst["max_in_flight"] <= 4  # the per-source bound held
    assert burst["seconds"] >= burst["ideal_seconds"] * 0.9
    assert "bound 4: holds" in done.stdout
