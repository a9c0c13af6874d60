"""`revocd demo` (what `make demo` runs): a federation that answers and keeps changing."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from tests.support.daemon import REPO

pytestmark = pytest.mark.slow


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_demo_serves_both_partners_and_picks_up_revocations(tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "revocd",
            "demo",
            "--port",
            "0",
            "--revoke-every",
            "0.5",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True
    )
    reader.start()
    try:
        deadline = time.monotonic() + 30
        url = None
        while time.monotonic() < deadline and url is None:
            for line in list(lines):
                match = re.search(r"revocd on (http://127\.0\.0\.1:\d+)", line)
                if match:
                    url = match.group(1)
            time.sleep(0.05)
        assert url, "".join(lines)
        revoked_line = None
        while time.monotonic() < deadline:
            try:
                partners = get(url + "/v1/partners")
            except OSError:
                time.sleep(0.1)
                continue
            states = {i["name"]: i["freshness"] for p in partners["partners"] for i in p["issuers"]}
            revoked_line = next((line for line in lines if "demo: northwind revoked" in line), None)
            if states == {"northwind-root": "fresh", "contoso-issuing": "fresh"} and revoked_line:
                break
            time.sleep(0.1)
        assert revoked_line, "".join(lines)
        serial = re.search(r"serial ([0-9a-f]+)", revoked_line).group(1)
        while time.monotonic() < deadline:
            if get(f"{url}/v1/status/northwind-root/{serial}")["status"] == "revoked":
                break
            time.sleep(0.1)
        else:
            pytest.fail("the demo's revocation never showed up:\n" + "".join(lines))
        ocsp = subprocess.run(
            [
                "openssl",
                "ocsp",
                "-issuer",
                str(tmp_path / "pki" / "northwind-root.pem"),
                "-cert",
                str(tmp_path / "certs" / "northwind-1.pem"),
                "-url",
                f"{url}/ocsp",
                "-VAfile",
                str(tmp_path / "pki" / "responder.pem"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert "Response verify OK" in ocsp.stdout + ocsp.stderr, ocsp.stdout + ocsp.stderr
        assert ": good" in ocsp.stdout
        output = "".join(lines)
        assert "curl -s" in output
        assert "revocd status" in output or "status --url" in output
        assert "query --url" in output
        assert "openssl ocsp" in output
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
        reader.join(5)
        process.stdout.close()
