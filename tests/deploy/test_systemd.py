"""deploy/systemd: the unit passes systemd's own checker, waits for revocd's READY=1 and
watchdog pings (tests/e2e/test_sdnotify.py shows revocd sends them), and is hardened."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.peers import need_binary

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "revocd.service"


def _service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser["Service"]


@pytest.mark.peer
def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    analyze = need_binary("systemd-analyze")
    revocd = Path(sys.executable).with_name("revocd")  # the unit's /opt/revocd/bin/revocd
    unit = tmp_path / "revocd.service"
    unit.write_text(UNIT.read_text().replace("/opt/revocd/bin/revocd", str(revocd)))
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Unknown key" not in result.stderr  # a misspelt hardening option is ignored
    assert "Unknown section" not in result.stderr


def test_the_unit_waits_for_ready_and_watches_the_event_loop():
    service = _service()
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"  # replica processes may not speak for revocd
    assert service["WatchdogSec"].endswith("s")
    assert service["ExecStart"].endswith("run --config /etc/revocd/revocd.toml")


def test_the_unit_runs_unprivileged_and_hardened():
    service = _service()
    assert service["User"] == "revocd"
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
        "RestrictSUIDSGID": "yes",
        "MemoryDenyWriteExecute": "yes",
    }
    assert {key: service.get(key) for key in expected} == expected


def test_systemctl_reload_sends_sighup():
    """`systemctl reload revocd` re-reads the configuration live (revocd/reload.py)."""
    assert _service()["ExecReload"] == "/bin/kill -HUP $MAINPID"
