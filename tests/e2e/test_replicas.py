"""`[server] workers = 2`: a replica process serves next to the primary, from copies of its
cache, and follows every new CRL; it is restarted when it dies, stopped with the daemon,
and counted in the primary's /metrics."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from revocd.scheduling import SLICE_NS
from tests.e2e.conftest import crl_window, write_config
from tests.support.daemon import REPO, RunningDaemon
from tests.support.pki import CA, Entry, issue, make_crl

pytestmark = pytest.mark.slow


def answer(url: str, serial: str, timeout: float = 5) -> str:
    """One status answer over a new connection (whichever process is free accepts it)."""
    with urllib.request.urlopen(f"{url}/v1/status/acme-issuing/{serial}", timeout=timeout) as r:
        return str(json.loads(r.read())["status"])


def replica_pids(daemon: RunningDaemon) -> list[int]:
    return [int(e["pid"]) for e in daemon.events if e.get("event") == "replica_listening"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def daemon(tmp_path, partner, ca):
    partner.files["/issuing.crl"] = make_crl(ca, [Entry(0x1001)], number=1, **crl_window())
    config = write_config(tmp_path, ca, [partner.url("/issuing.crl")], workers=2)
    with RunningDaemon(config) as running:
        running.wait_until(
            "CRL 1", lambda: running.status("acme-issuing", "1001")["status"] == "revoked"
        )
        # a replica accepts once it holds the primary's copy: moments after the primary
        running.wait_until("the replica", lambda: len(replica_pids(running)) == 1)
        yield running


def test_the_replica_answers_alone_and_follows_new_crls(daemon, partner, ca):
    os.kill(daemon.process.pid, signal.SIGSTOP)  # only the replica can answer now
    try:
        answered = []
        deadline = time.monotonic() + 20
        while len(answered) < 5 and time.monotonic() < deadline:
            try:
                answered.append(answer(daemon.url, "1001", timeout=0.5))
            except (OSError, urllib.error.URLError):
                continue  # this connection went to the stopped primary
        assert answered == ["revoked"] * 5
    finally:
        os.kill(daemon.process.pid, signal.SIGCONT)

    partner.files["/issuing.crl"] = make_crl(
        ca, [Entry(0x1001), Entry(0x2002)], number=2, **crl_window()
    )
    daemon.wait_until(
        "both processes to serve CRL 2",
        lambda: {answer(daemon.url, "2002") for _ in range(20)} == {"revoked"},
    )
    assert {answer(daemon.url, "2002") for _ in range(40)} == {"revoked"}


def _answers_of_the_replica_alone(daemon: RunningDaemon, serial: str) -> list[str]:
    os.kill(daemon.process.pid, signal.SIGSTOP)  # only the replica can answer now
    try:
        answered: list[str] = []
        deadline = time.monotonic() + 20
        while len(answered) < 5 and time.monotonic() < deadline:
            try:
                answered.append(answer(daemon.url, serial, timeout=0.5))
            except (OSError, urllib.error.URLError):
                continue  # this connection went to the stopped primary
        return answered
    finally:
        os.kill(daemon.process.pid, signal.SIGCONT)


def test_a_big_crl_reaches_the_replica_through_one_file(tmp_path, partner, ca, big_crl):
    """A 300,000-entry CRL's index (9 MB) goes to the replica as a file, not through the
    pipe; a newer CRL replaces the file (the entries it drops stay revoked: sticky);
    stopping removes it."""
    spool = tmp_path / "tmp"
    spool.mkdir()
    dropped = f"{0x10_0000_0000 + 250_000:x}"  # in CRL 1 only
    partner.files["/issuing.crl"] = big_crl(ca, number=1)
    config = write_config(tmp_path, ca, [partner.url("/issuing.crl")], workers=2)
    with RunningDaemon(config, extra_env={"TMPDIR": str(spool)}) as daemon:
        daemon.wait_until(
            "CRL 1", lambda: daemon.status("acme-issuing", "1002")["status"] == "revoked"
        )
        daemon.wait_until("the replica", lambda: len(replica_pids(daemon)) == 1)
        daemon.wait_until(
            "CRL 1 in the replica",
            lambda: _answers_of_the_replica_alone(daemon, dropped) == ["revoked"] * 5,
        )
        first = list(spool.glob("revocd-*-evidence-*/*.index"))
        assert len(first) == 1

        partner.files["/issuing.crl"] = big_crl(ca, number=2, entries=200_000)
        daemon.wait_until(
            "CRL 2",
            lambda: str(daemon.status("acme-issuing", "1002")["source"]["crl_number"]) == "2",
        )
        daemon.wait_until(
            # CRL 2's file is written before CRL 1's is removed: wait for both steps
            "CRL 2's file alone",
            lambda: (
                len(later := list(spool.glob("revocd-*-evidence-*/*.index"))) == 1
                and later != first
            ),
        )
        assert _answers_of_the_replica_alone(daemon, dropped) == ["revoked"] * 5
        assert _answers_of_the_replica_alone(daemon, "1002") == ["revoked"] * 5
        assert _answers_of_the_replica_alone(daemon, "1001") == ["good"] * 5
        assert len(list(spool.glob("revocd-*-evidence-*/*.index"))) == 1  # CRL 1's is gone
        assert daemon.stop() == 0
    assert list(spool.glob("revocd-*-evidence-*")) == []


def test_a_killed_replica_is_restarted_and_serving_goes_on(daemon):
    (first,) = replica_pids(daemon)
    os.kill(first, signal.SIGKILL)
    daemon.wait_until("a new replica", lambda: len(replica_pids(daemon)) == 2)
    assert any(e.get("event") == "replica_exited" for e in daemon.events)
    second = replica_pids(daemon)[1]
    assert second != first
    assert alive(second)
    assert {answer(daemon.url, "1001") for _ in range(30)} == {"revoked"}


def test_metrics_count_the_requests_of_every_process(daemon):
    for _ in range(40):
        assert answer(daemon.url, "2002") == "good"
    pattern = re.compile(r'^revocd_status_requests_total\{api="json",status="good"\} (\S+)$', re.M)

    def counted() -> float:
        with urllib.request.urlopen(f"{daemon.url}/metrics", timeout=5) as r:
            found = pattern.search(r.read().decode())
        return float(found.group(1)) if found else 0.0

    daemon.wait_until("/metrics to count all 40", lambda: counted() == 40.0)
    assert {counted() for _ in range(10)} == {40.0}  # the same from every process


def test_the_answering_processes_ask_for_short_cpu_slices(daemon):
    """The primary and the replica preempt background work as soon as a request wakes
    them (revocd/scheduling.py); kernels from 6.12 show the slice they asked for."""
    for pid in (daemon.process.pid, *replica_pids(daemon)):
        sched = Path(f"/proc/{pid}/sched").read_text()
        assert re.findall(r"^se\.slice\s+:\s+(\d+)$", sched, re.M) in ([], [str(SLICE_NS)])


def test_sigterm_stops_the_replicas_too(daemon):
    (replica,) = replica_pids(daemon)
    assert daemon.stop() == 0
    assert not alive(replica)
    assert any(e.get("event") == "replica_stopped" for e in daemon.events)


def test_a_port_someone_holds_is_refused_not_shared(tmp_path, ca):
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    config = write_config(
        tmp_path, ca, ["http://127.0.0.1:9/x.crl"], workers=2, listen=f"127.0.0.1:{port}"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-m", "revocd", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
            check=False,
        )
    finally:
        holder.close()
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr + result.stdout


def test_every_process_serves_the_same_pre_signed_bytes(tmp_path, partner, ca):
    """The replica asks the primary for the responses it pre-signs: one set of bytes and
    one ETag per response, so a revalidation gets its 304 from either process."""
    partner.files["/issuing.crl"] = make_crl(ca, [Entry(0x1001)], number=1, **crl_window())
    config = write_config(tmp_path, ca, [partner.url("/issuing.crl")], workers=2, responder=True)
    with RunningDaemon(config) as daemon:
        daemon.wait_until(
            "CRL 1", lambda: daemon.status("acme-issuing", "1001")["status"] == "revoked"
        )
        daemon.wait_until("the replica", lambda: len(replica_pids(daemon)) == 1)
        for serial in (0x1001, 0x3003):  # revoked, good
            _one_response_everywhere(daemon, ca, serial)


def _one_response_everywhere(daemon: RunningDaemon, ca: CA, serial: int) -> None:
    leaf, _ = issue(ca, serial=serial)
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, ca.cert, hashes.SHA1()).build()
    der = request.public_bytes(serialization.Encoding.DER)
    url = f"{daemon.url}/ocsp/{base64.b64encode(der).decode()}"
    seen = set()
    for _ in range(30):  # a new connection each: both processes answer some
        with urllib.request.urlopen(url, timeout=5) as response:
            seen.add((response.headers["ETag"], response.read()))
    assert len(seen) == 1, [etag for etag, _ in seen]
    ((etag, body),) = seen
    assert ocsp.load_der_ocsp_response(body).serial_number == serial
    for _ in range(30):
        revalidate = urllib.request.Request(url, headers={"If-None-Match": etag})
        with pytest.raises(urllib.error.HTTPError) as not_modified:
            urllib.request.urlopen(revalidate, timeout=5)
        not_modified.value.close()
        assert not_modified.value.code == 304
