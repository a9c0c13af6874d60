"""`revocd run` with partners that publish through a real `openssl ocsp -index ... -port`
responder: an OCSP-only issuer answered from upstream over JSON and to `openssl ocsp`,
a CRL-revoked / upstream-good conflict, pass-through relaying the partner's bytes (and
falling back when the client sends a nonce), and a restart that keeps an upstream revoked
while the responder is down."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.e2e.conftest import now
from tests.support.daemon import REPO, RunningDaemon
from tests.support.httpd import StaticPartner
from tests.support.peers import need_binary
from tests.support.pki import CA, make_ca, make_crl
from tests.upstream.test_openssl_responder import ACCEPT, Partner

pytestmark = [pytest.mark.peer, pytest.mark.slow]


class Responder:
    """`openssl ocsp` answering from the partner CA's index, signing with its delegated
    OCSP certificate (embedded in each response), nextUpdate 5 minutes ahead."""

    def __init__(self, partner: Partner) -> None:
        self.process = subprocess.Popen(
            [
                need_binary("openssl"), "ocsp", "-index", "index.txt", "-port", "0",
                "-rsigner", "responder.pem", "-rkey", "responder.key", "-CA", "ca.pem",
                "-nmin", "5", "-ignore_err",
            ],
            cwd=partner.ca.dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert self.process.stdout is not None
        for line in self.process.stdout:  # readiness is its ACCEPT line, never a TCP probe
            if found := ACCEPT.search(line):
                self.url = f"http://127.0.0.1:{int(found.group(1))}/"
                return
        raise AssertionError("openssl ocsp exited before it printed ACCEPT")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def partner(tmp_path: Path) -> Partner:
    return Partner(tmp_path / "partner")


@pytest.fixture
def upstream(partner: Partner) -> Iterator[Responder]:
    responder = Responder(partner)
    yield responder
    responder.stop()


def write_config(tmp: Path, partner: Partner, issuer: str, *, partner_keys: str = "") -> Path:
    """revocd with its own trusted responder identity and one partner issuer."""
    responder = make_ca("revocd e2e responder")
    responder.write(tmp, "revocd-responder")
    (tmp / "partner-ca.pem").write_bytes(partner.ca.cert_pem)
    config = tmp / "revocd.toml"
    config.write_text(
        f"""
[server]
listen = "127.0.0.1:0"
workers = 1

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
ocsp_timeout = "5s"

[[partner]]
name = "initech"
{partner_keys}

  [[partner.issuer]]
  name = "initech-issuing"
  cert = "partner-ca.pem"
{issuer}
"""
    )
    return config


def check_config(config: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "revocd", "check-config", "--config", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def openssl_ocsp(tmp: Path, daemon: RunningDaemon, serial: int, *args: str) -> str:
    result = subprocess.run(
        [
            need_binary("openssl"), "ocsp", "-issuer", str(tmp / "partner-ca.pem"),
            "-serial", hex(serial), "-url", daemon.url + "/ocsp", *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )  # fmt: skip
    return result.stdout + result.stderr


def test_an_ocsp_only_issuer_answers_good_revoked_unknown_from_upstream(
    tmp_path: Path, partner: Partner, upstream: Responder
) -> None:
    config = write_config(tmp_path, partner, f'  ocsp = ["{upstream.url}"]')
    check_config(config)
    with RunningDaemon(config) as daemon:
        daemon.wait_ready()
        good = daemon.status("initech-issuing", hex(partner.good))
        assert good["status"] == "good", good
        assert good["source"] == {"type": "ocsp", "url": upstream.url, "crl_number": None}
        assert good["freshness"] == "fresh"
        revoked = daemon.status("initech-issuing", hex(partner.revoked))
        assert revoked["status"] == "revoked", revoked
        assert revoked["reason"] == "keyCompromise"
        unknown = daemon.status("initech-issuing", "7777")
        assert unknown["status"] == "unknown", unknown
        assert unknown["unknown_reason"] == "upstream_unknown"

        trust = ("-VAfile", str(tmp_path / "revocd-responder.pem"))
        out = openssl_ocsp(tmp_path, daemon, partner.good, *trust)
        assert "Response verify OK" in out, out
        assert f"{hex(partner.good)}: good" in out, out
        out = openssl_ocsp(tmp_path, daemon, partner.revoked, *trust)
        assert f"{hex(partner.revoked)}: revoked" in out, out
        assert "Reason: keyCompromise" in out, out
        out = openssl_ocsp(tmp_path, daemon, 0x7777, *trust)
        assert "0x7777: unknown" in out, out

        code, body = daemon.get("/v1/partners")
        assert code == 200
        (source,) = body["partners"][0]["issuers"][0]["sources"]
        assert source["type"] == "ocsp"
        assert source["health"] == "ok"
        assert source["last_success"] is not None
        status = subprocess.run(
            [sys.executable, "-m", "revocd", "status", "--url", daemon.url],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        assert status.returncode == 0, status.stdout + status.stderr
        assert "ocsp ok" in status.stdout, status.stdout
        metrics = urlopen_text(daemon.url + "/metrics")
        assert re.search(r'revocd_upstream_requests_total\{.*outcome="accepted".*\} [1-9]', metrics)
        assert re.search(r'revocd_upstream_health\{.*state="ok".*\} 1\.0', metrics)


def test_a_crl_revocation_wins_over_upstream_good_and_is_logged_once(
    tmp_path: Path, partner: Partner, upstream: Responder
) -> None:
    with StaticPartner() as crls:
        config = write_config(
            tmp_path,
            partner,
            f'  crl = ["{crls.url("/issuing.crl")}"]\n  ocsp = ["{upstream.url}"]',
        )
        with RunningDaemon(config) as daemon:
            daemon.wait_ready()
            # no CRL yet: upstream decides, and says good
            first = daemon.status("initech-issuing", hex(partner.good))
            assert first["status"] == "good", first
            assert first["source"]["type"] == "ocsp"
            key = serialization.load_pem_private_key((partner.ca.dir / "ca.key").read_bytes(), None)
            t = now()
            crls.files["/issuing.crl"] = make_crl(
                CA(partner.cert, key),  # type: ignore[arg-type]
                [partner.good],
                this_update=t - timedelta(minutes=1),
                next_update=t + timedelta(days=1),
            )
            daemon.wait_until(
                "the CRL revocation",
                lambda: daemon.status("initech-issuing", hex(partner.good))["status"] == "revoked",
            )
            for _ in range(3):
                answer = daemon.status("initech-issuing", hex(partner.good))
                assert answer["status"] == "revoked"
                assert answer["source"]["type"] == "crl"
            conflicts = [e for e in daemon.events if e.get("event") == "evidence_conflict"]
            assert len(conflicts) == 1, conflicts
            assert conflicts[0]["serial"] == format(partner.good, "x")
            assert conflicts[0]["ocsp_source"] == upstream.url


def test_passthrough_relays_the_partners_bytes_and_falls_back_on_a_nonce(
    tmp_path: Path, partner: Partner, upstream: Responder
) -> None:
    config = write_config(
        tmp_path,
        partner,
        f'  ocsp = ["{upstream.url}"]\n  signing = "passthrough"\n'
        '  passthrough_fallback = "trusted"',
        partner_keys="ocsp_nonce = false",
    )
    check_config(config)
    with RunningDaemon(config) as daemon:
        daemon.wait_ready()
        relayed = tmp_path / "relayed.der"
        # a client that trusts only the partner's CA, asking without a nonce
        out = openssl_ocsp(
            tmp_path, daemon, partner.revoked, "-no_nonce", "-respout", str(relayed),
            "-CAfile", str(tmp_path / "partner-ca.pem"),
        )  # fmt: skip
        assert "Response verify OK" in out, out
        assert f"{hex(partner.revoked)}: revoked" in out, out
        with sqlite3.connect(tmp_path / "revocd.db") as db:
            (stored,) = db.execute("SELECT der FROM upstream_answer").fetchone()
        db.close()
        assert relayed.read_bytes() == bytes(stored)  # the partner's bytes, exactly
        # the same request again: the same bytes (served from the pre-signed cache)
        again = tmp_path / "again.der"
        openssl_ocsp(tmp_path, daemon, partner.revoked, "-no_nonce", "-respout", str(again),
                     "-CAfile", str(tmp_path / "partner-ca.pem"))  # fmt: skip
        assert again.read_bytes() == relayed.read_bytes()
        # with a nonce: revocd's fallback signer answers, echoing the client's nonce
        signed = tmp_path / "signed.der"
        out = openssl_ocsp(
            tmp_path, daemon, partner.revoked, "-respout", str(signed),
            "-VAfile", str(tmp_path / "revocd-responder.pem"),
        )  # fmt: skip
        assert "Response verify OK" in out, out
        assert "WARNING: no nonce in response" not in out, out
        assert f"{hex(partner.revoked)}: revoked" in out, out
        assert signed.read_bytes() != relayed.read_bytes()


def test_a_restart_keeps_an_upstream_revocation_while_the_responder_is_down(
    tmp_path: Path, partner: Partner, upstream: Responder
) -> None:
    config = write_config(tmp_path, partner, f'  ocsp = ["{upstream.url}"]')
    with RunningDaemon(config) as daemon:
        daemon.wait_ready()
        assert daemon.status("initech-issuing", hex(partner.revoked))["status"] == "revoked"
        assert daemon.status("initech-issuing", hex(partner.good))["status"] == "good"
    upstream.stop()
    with RunningDaemon(config) as daemon:
        daemon.wait_ready()
        revoked = daemon.status("initech-issuing", hex(partner.revoked))
        assert revoked["status"] == "revoked", revoked
        assert revoked["source"]["type"] == "ocsp"
        # the good answer is still within its nextUpdate: served without asking
        assert daemon.status("initech-issuing", hex(partner.good))["status"] == "good"
        never_asked = daemon.status("initech-issuing", "7777")
        assert never_asked["status"] == "unknown"
        assert never_asked["unknown_reason"] == "upstream_unreachable"
        code, body = daemon.get("/v1/partners")
        assert code == 200
        (source,) = body["partners"][0]["issuers"][0]["sources"]
        assert source["health"] == "failing", source
        assert source["reason"] == "connection", source
        changes = [e for e in daemon.events if e.get("event") == "upstream_state_changed"]
        assert [e["new"] for e in changes] == ["failing"], changes


def urlopen_text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())
