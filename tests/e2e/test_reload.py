"""A real `revocd run` reloaded the way operators do it: `revocd reload --pid` (SIGHUP, what
`systemctl reload revocd` sends). A partner is added while a client keeps asking, with no
failed request and no new fetch of the unchanged source; an invalid file is refused, logged
and counted, and the running configuration keeps answering; SIGTERM then stops cleanly,
after answering a request still in flight."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import crl_window
from tests.support.daemon import REPO, RunningDaemon
from tests.support.httpd import StaticPartner
from tests.support.pki import Entry, make_ca, make_crl

pytestmark = pytest.mark.slow


def partner_toml(name: str, url: str) -> str:
    return f"""
[[partner]]
name = "{name}"

  [[partner.issuer]]
  name = "{name}-issuing"
  cert = "pki/{name}.pem"
  crl = ["{url}"]
"""


def write(path: Path, *partners: str) -> Path:
    # a long poll interval: any extra GET of an unchanged source would show
    path.write_text(
        """
[server]
listen = "127.0.0.1:0"
workers = 1

[store]
path = "revocd.db"

[defaults]
poll_interval = "1h"
"""
        + "".join(partners)
    )
    return path


def reload_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "revocd", "reload", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=30,
    )


def metric(daemon: RunningDaemon, prefix: str) -> str | None:
    with urllib.request.urlopen(daemon.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return next((line for line in text.splitlines() if line.startswith(prefix)), None)


def test_reload_adds_a_partner_without_dropping_requests_and_refuses_an_invalid_file(
    tmp_path: Path, partner: StaticPartner
) -> None:
    acme_ca, beta_ca = make_ca("Acme Issuing CA"), make_ca("Beta Issuing CA")
    acme_ca.write(tmp_path / "pki", "acme")
    beta_ca.write(tmp_path / "pki", "beta")
    partner.files["/acme.crl"] = make_crl(acme_ca, [Entry(0x1001)], **crl_window())
    partner.files["/beta.crl"] = make_crl(beta_ca, [Entry(0x2002)], **crl_window())
    acme = partner_toml("acme", partner.url("/acme.crl"))
    beta = partner_toml("beta", partner.url("/beta.crl"))
    config = write(tmp_path / "revocd.toml", acme)

    with RunningDaemon(config) as daemon:
        daemon.wait_until(
            "acme's CRL", lambda: daemon.status("acme-issuing", "1001")["status"] == "revoked"
        )
        assert daemon.get("/v1/status/beta-issuing/2002")[0] == 404

        answered: list[int] = []
        failures: list[object] = []
        stop = threading.Event()

        def ask() -> None:
            while not stop.is_set():
                try:
                    body = daemon.status("acme-issuing", "1001")
                    (answered if body["status"] == "revoked" else failures).append(body)
                except (OSError, AssertionError) as error:
                    failures.append(error)

        asker = threading.Thread(target=ask)
        asker.start()
        try:
            write(config, acme, beta)
            result = reload_cli("--pid", str(daemon.process.pid))
            assert result.returncode == 0, result.stderr
            assert "sent SIGHUP" in result.stdout
            daemon.wait_until(
                "beta's CRL",
                lambda: daemon.status("beta-issuing", "2002")["status"] == "revoked",
            )
            daemon.wait_until(
                "config_reloaded",
                lambda: any(e.get("event") == "config_reloaded" for e in daemon.events),
            )
            count = len(answered)
            daemon.wait_until("more answers", lambda: len(answered) > count + 10)
        finally:
            stop.set()
            asker.join(30)
        assert failures == []
        assert partner.hits["/acme.crl"] == 1  # unchanged: not fetched again
        reloaded = next(e for e in daemon.events if e.get("event") == "config_reloaded")
        assert (reloaded["sources_added"], reloaded["sources_unchanged"]) == (1, 1)

        # an invalid file: refused, logged at error with file/key/problem, counted
        config.write_text(config.read_text().replace('"1h"', '"5x"'))
        os.kill(daemon.process.pid, signal.SIGHUP)
        daemon.wait_until(
            "config_reload_failed",
            lambda: any(e.get("event") == "config_reload_failed" for e in daemon.events),
        )
        failed = next(e for e in daemon.events if e.get("event") == "config_reload_failed")
        assert failed["level"] == "error"
        assert "revocd.toml" in failed["error"]
        assert "poll_interval" in failed["error"]
        assert metric(daemon, 'revocd_config_reloads_total{result="failed"} 1.0')
        assert metric(daemon, 'revocd_config_reloads_total{result="applied"} 1.0')
        assert daemon.status("acme-issuing", "1001")["status"] == "revoked"
        assert daemon.status("beta-issuing", "2002")["status"] == "revoked"

        assert daemon.stop() == 0  # SIGTERM: a clean stop
    assert any(e.get("event") == "stopping" for e in daemon.events)


def test_reload_refuses_a_pid_that_is_not_a_running_revocd() -> None:
    own = reload_cli("--pid", str(os.getpid()))  # pytest: not a revocd daemon
    assert own.returncode == 1
    assert "is not a revocd daemon" in own.stderr

    with subprocess.Popen(["sleep", "30"]) as gone:
        pid = gone.pid
        gone.kill()
    missing = reload_cli("--pid", str(pid))
    assert missing.returncode == 1
    assert f"no process with pid {pid}" in missing.stderr


def test_reload_reads_a_pid_file(tmp_path: Path) -> None:
    pidfile = tmp_path / "revocd.pid"
    pidfile.write_text("not a pid\n")
    result = reload_cli("--pidfile", str(pidfile))
    assert result.returncode == 1
    assert "not a process id" in result.stderr


def test_sigterm_lets_a_request_in_flight_finish(tmp_path: Path) -> None:
    """A JSON answer waiting on a slow partner OCSP responder is still given after SIGTERM
    (aiohttp's graceful shutdown), and the daemon then exits 0."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked = threading.Event()

    class SlowResponder(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # RFC 5019 GET
            encoded = urllib.parse.unquote(self.path.lstrip("/"))
            self.answer(base64.b64decode(encoded + "=" * (-len(encoded) % 4)))

        def do_POST(self) -> None:
            self.answer(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

        def answer(self, request: bytes) -> None:
            if b"\x02\x02\x42\x42" in request:  # serial 0x4242: the client's question
                asked.set()
            threading.Event().wait(2)  # slow, then broken: revocd answers unknown
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowResponder)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        make_ca("Initech Issuing CA").write(tmp_path / "pki", "initech")
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        config = write(
            tmp_path / "revocd.toml",
            f"""
[[partner]]
name = "initech"

  [[partner.issuer]]
  name = "initech-issuing"
  cert = "pki/initech.pem"
  ocsp = ["{url}"]
""",
        )
        with RunningDaemon(config) as daemon:
            daemon.wait_ready()
            answers: list[object] = []
            answered_at: list[float] = []

            def ask() -> None:
                try:
                    answers.append(daemon.get("/v1/status/initech-issuing/4242"))
                except OSError as error:
                    answers.append(error)
                answered_at.append(time.monotonic())

            client = threading.Thread(target=ask)
            client.start()
            assert asked.wait(10)
            daemon.process.send_signal(signal.SIGTERM)
            terminated = time.monotonic()
            client.join(30)
            assert answered_at
            assert answered_at[0] > terminated  # answered after SIGTERM
            assert daemon.stop() == 0
        assert len(answers) == 1
        code, body = answers[0]  # type: ignore[misc]
        assert code == 200, answers
        assert body["status"] == "unknown"
    finally:
        server.shutdown()
        server.server_close()
