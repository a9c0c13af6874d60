"""The CLI as an operator uses it: `fetch`, `status`, `query` against real processes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.e2e.conftest import crl_window, write_config
from tests.e2e.test_replicas_upstream import ISSUER, PartnerOcsp
from tests.e2e.test_replicas_upstream import write_config as upstream_config
from tests.support.daemon import REPO, RunningDaemon
from tests.support.peers import free_port
from tests.support.pki import Entry, issue, make_ca, make_crl

pytestmark = pytest.mark.slow


def revocd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "revocd", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def test_fetch_reports_each_source_and_fails_if_any_fails(tmp_path, partner, ca):
    partner.files["/issuing.crl"] = make_crl(ca, [Entry(0x1001)], number=7, **crl_window())
    other = make_ca("Someone Else")
    partner.files["/wrong.crl"] = make_crl(other, [], number=1, **crl_window())
    config = write_config(tmp_path, ca, [partner.url("/issuing.crl"), partner.url("/wrong.crl")])

    result = revocd("fetch", "--config", str(config))

    assert result.returncode == 1, result.stdout + result.stderr
    ok, fail = sorted(result.stdout.splitlines(), key=lambda line: line.startswith("FAIL"))
    assert ok.startswith("OK")
    assert "CRL 7, 1 entries" in ok
    assert "fresh" in ok
    assert fail.startswith("FAIL")
    assert "wrong_issuer" in fail
    assert "/wrong.crl" in fail

    as_json = json.loads(revocd("fetch", "--config", str(config), "--json").stdout)
    assert {s["ok"] for s in as_json["sources"]} == {True, False}


def test_fetch_probes_each_ocsp_source_and_verifies_its_answer(tmp_path):
    """An OCSP-only partner: each responder is asked about a random serial, as the daemon's
    probe asks it; one that cannot be reached fails the run."""
    partner_ca = make_ca("Initech Issuing CA")
    responder = PartnerOcsp(partner_ca)
    try:
        config = upstream_config(tmp_path, partner_ca, responder.url, workers=1)
        dead = f"http://127.0.0.1:{free_port()}/ocsp"
        text = config.read_text()
        config.write_text(
            text.replace(f'ocsp = ["{responder.url}"]', f'ocsp = ["{responder.url}", "{dead}"]')
        )

        result = revocd("fetch", "--config", str(config))
        as_json = json.loads(revocd("fetch", "--config", str(config), "--json").stdout)
    finally:
        responder.close()

    assert result.returncode == 1, result.stdout + result.stderr
    ok, fail = sorted(result.stdout.splitlines(), key=lambda line: line.startswith("FAIL"))
    assert ok.startswith(f"OK   partner initech / issuer {ISSUER} / {responder.url}: "), ok
    assert "OCSP good for a random serial" in ok
    assert "signed by the issuer's key" in ok
    assert fail.startswith(f"FAIL partner initech / issuer {ISSUER} / {dead}: "), fail
    assert fail.endswith("(connection)"), fail
    by_url = {source["url"]: source for source in as_json["sources"]}
    assert by_url[responder.url]["ok"]
    assert by_url[responder.url]["status"] == "good"
    assert by_url[responder.url]["kind"] == "ocsp"
    assert not by_url[dead]["ok"]
    assert sum(responder.asked.values()) == 2  # one probe per run


def test_fetch_of_an_unknown_partner_names_the_known_ones(tmp_path, partner, ca):
    config = write_config(tmp_path, ca, [partner.url("/issuing.crl")])
    result = revocd("fetch", "--config", str(config), "--partner", "nobody")
    assert result.returncode == 1
    assert "nobody" in result.stderr
    assert "acme" in result.stderr


def test_status_and_query_against_a_running_daemon(tmp_path, partner, ca):
    leaf, _ = issue(ca, serial=0x1001)
    good, _ = issue(ca, serial=0x2002)
    from cryptography.hazmat.primitives import serialization

    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "good.der").write_bytes(good.public_bytes(serialization.Encoding.DER))
    partner.files["/issuing.crl"] = make_crl(ca, [Entry(0x1001)], number=3, **crl_window())
    config = write_config(tmp_path, ca, [partner.url("/issuing.crl")])

    with RunningDaemon(config) as daemon:
        daemon.wait_until(
            "CRL accepted", lambda: daemon.status("acme-issuing", "1001")["status"] == "revoked"
        )
        status = revocd("status", "--url", daemon.url)
        assert status.returncode == 0, status.stderr
        assert "acme-issuing" in status.stdout
        assert "fresh" in status.stdout

        revoked = revocd("query", "--url", daemon.url, "--cert", str(tmp_path / "leaf.pem"))
        assert revoked.returncode == 3
        assert revoked.stdout.startswith("REVOKED")
        assert "keyCompromise" in revoked.stdout

        fine = revocd("query", "--url", daemon.url, "--cert", str(tmp_path / "good.der"), "--json")
        assert fine.returncode == 0
        assert json.loads(fine.stdout)["status"] == "good"

        by_serial = revocd(
            "query", "--url", daemon.url, "--issuer", "acme-issuing", "--serial", "10:01"
        )
        assert by_serial.returncode == 3

        unknown = revocd("query", "--url", daemon.url, "--issuer", "nope", "--serial", "01")
        assert unknown.returncode == 1
        assert "unknown_issuer" in unknown.stdout

    down = revocd("status", "--url", daemon.url)
    assert down.returncode == 1
    assert "cannot reach revocd" in down.stderr


def test_run_with_a_broken_config_exits_2_naming_the_key(tmp_path):
    config = tmp_path / "revocd.toml"
    config.write_text('[defaults]\npoll_intervall = "5m"\n')
    result = revocd("run", "--config", str(config))
    assert result.returncode == 2
    assert "poll_intervall" in result.stderr
    assert "did you mean 'poll_interval'" in result.stderr
