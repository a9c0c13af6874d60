"""systemd's notify protocol against a real `revocd run`: READY=1 only once answers are
given, WATCHDOG=1 pings from the event loop, RELOADING=1 then READY=1 around a SIGHUP
reload, STOPPING=1 on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from revocd.sdnotify import Notifier
from tests.e2e.conftest import crl_window, write_config
from tests.support.daemon import RunningDaemon
from tests.support.pki import Entry, make_crl


def _listener(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    return sock


def _receive(sock: socket.socket, seconds: float) -> list[dict[str, str]]:
    messages = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        messages.append(dict(line.split("=", 1) for line in data.decode().splitlines()))
    return messages


def test_a_datagram_carries_every_field(tmp_path):
    with _listener(tmp_path / "notify") as sock:
        notifier = Notifier(str(tmp_path / "notify"))
        notifier.ready("serving on port 1")
        assert _receive(sock, 0.3) == [
            {"READY": "1", "STATUS": "serving on port 1", "MAINPID": str(os.getpid())}
        ]


def test_outside_systemd_nothing_is_sent_and_nothing_fails():
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert notifier.send("READY=1") is False
    assert notifier.watchdog_interval is None


def test_the_watchdog_is_pinged_at_half_its_timeout_and_only_for_this_process(tmp_path):
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "4000000"}
    assert Notifier.from_env(env).watchdog_interval == 2.0
    assert Notifier.from_env({**env, "WATCHDOG_PID": "1"}).watchdog_interval is None
    assert Notifier.from_env({**env, "WATCHDOG_USEC": "0"}).watchdog_interval is None


def test_a_missing_socket_is_logged_not_fatal(tmp_path):
    assert Notifier(str(tmp_path / "absent")).send("READY=1") is False


@pytest.mark.slow
def test_revocd_run_reports_ready_pings_the_watchdog_and_says_stopping(tmp_path, partner, ca):
    partner.files["/issuing.crl"] = make_crl(ca, [Entry(0x1001)], number=1, **crl_window())
    config = write_config(tmp_path, ca, [partner.url("/issuing.crl")])
    with _listener(tmp_path / "notify") as sock:
        env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "400000"}
        with RunningDaemon(config, extra_env=env) as daemon:
            first = _receive(sock, 5)
            ready = [m for m in first if m.get("READY") == "1"]
            assert len(ready) == 1, first
            assert ready[0]["MAINPID"] == str(daemon.process.pid)
            assert ready[0]["STATUS"].startswith("serving on port ")
            # READY=1 means answers are given: /readyz agrees from that moment on
            assert daemon.get("/readyz")[0] == 200
            pings = [m for m in _receive(sock, 1.2) if m.get("WATCHDOG") == "1"]
            assert 3 <= len(pings) <= 8  # every 0.2 s
            assert daemon.stop() == 0
        last = _receive(sock, 0.5)
        assert {"STOPPING": "1", "STATUS": "stopping"} in last


@pytest.mark.slow
def test_a_reload_is_bracketed_by_reloading_and_ready(tmp_path, partner, ca):
    partner.files["/issuing.crl"] = make_crl(ca, [Entry(0x1001)], number=1, **crl_window())
    config = write_config(tmp_path, ca, [partner.url("/issuing.crl")])
    with _listener(tmp_path / "notify") as sock:
        env = {"NOTIFY_SOCKET": str(tmp_path / "notify")}
        with RunningDaemon(config, extra_env=env) as daemon:
            assert any(m.get("READY") == "1" for m in _receive(sock, 3))
            os.kill(daemon.process.pid, signal.SIGHUP)
            reloading, ready = _receive(sock, 2)
            assert reloading["RELOADING"] == "1"
            assert 0 < int(reloading["MONOTONIC_USEC"]) <= time.monotonic_ns() // 1000
            assert ready["READY"] == "1"
            assert ready["STATUS"].endswith("; configuration reloaded")

            config.write_text(config.read_text().replace('"1h"', '"5x"'))  # invalid now
            os.kill(daemon.process.pid, signal.SIGHUP)
            reloading, ready = _receive(sock, 2)
            assert reloading["RELOADING"] == "1"
            assert ready["STATUS"].endswith("; reload failed, the running one stays")
            assert daemon.get("/readyz")[0] == 200
