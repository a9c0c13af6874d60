"""`revocd demo` (what `make demo` runs): the whole federation answers, keeps changing, and
every command the demo prints does what its heading says.

One demo runs for the module. The commands are run exactly as printed (through bash,
continuation lines and pipes included), grouped by the heading the demo prints above
them (`# good: ...`, `# upstream revoked: ...`). The last test stops the demo with SIGINT,
as Ctrl-C would, and checks that the partner's openssl responder went with it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import REPO
from tests.support.peers import need_binary

pytestmark = [pytest.mark.slow, pytest.mark.peer]

HEADING = re.compile(r"^  # ([a-z -]+): ")
DEMO_LINE = re.compile(r"^demo: (\w+) revoked \S+ \(serial ([0-9a-f]+),")


class Demo:
    """A running `revocd demo`, its output read on a thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "revocd", "demo", "--port", "0",
                "--revoke-every", "0.5", "--dir", str(directory),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = self.fabrikam_url = ""
        self.responder_pid = 0
        self.examples: dict[str, list[str]] = {}

    def wait_started(self) -> None:
        """Until it prints the commands to try (once revocd is ready); learn its URLs."""
        output = self.wait_for(
            "the commands to try", lambda: "Ctrl-C to stop." in self.output and self.output
        )
        self.url = _search(r"revocd on (http://127\.0\.0\.1:\d+)", output)
        self.fabrikam_url = _search(r"fabrikam +OCSP-only +(http://\S+)", output)
        self.responder_pid = int(_search(r"openssl ocsp, pid (\d+)", output))
        self.examples = _examples(output)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, what: str, predicate: Callable[[], Any], timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the demo exited while waiting for {what}:\n{self.output}")
            try:
                if result := predicate():
                    return result
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        pytest.fail(f"timed out waiting for {what}:\n{self.output}")

    def run(self, label: str) -> list[str]:
        """Run the commands under heading `label`, as printed; their outputs, in order."""
        outputs = []
        for command in self.examples[label]:
            done = subprocess.run(
                ["bash", "-c", command], capture_output=True, text=True, timeout=30, check=False
            )
            outputs.append(done.stdout + done.stderr)
        return outputs

    def status(self, issuer: str, serial: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/v1/status/{issuer}/{serial}", timeout=5) as r:
            return dict(json.loads(r.read()))

    def revocation(self, partner: str) -> str:
        """The serial of the first revocation the demo announced for `partner`."""

        def announced() -> str | None:
            for line in list(self.lines):
                match = DEMO_LINE.match(line)
                if match and match.group(1) == partner:
                    return match.group(2)
            return None

        return str(self.wait_for(f"a revocation by {partner}", announced))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(20)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self._reader.join(5)
            if self.process.stdout is not None:
                self.process.stdout.close()
        return code


def _search(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in the demo's output:\n{text}"
    return match.group(1)


def _examples(output: str) -> dict[str, list[str]]:
    """heading -> its commands, each with its continuation lines joined."""
    examples: dict[str, list[str]] = {}
    label = None
    for line in re.sub(r"\\\n\s*", "", output).splitlines():
        if heading := HEADING.match(line):
            label = heading.group(1)
            examples[label] = []
        elif line.startswith("  #"):
            continue  # the heading goes on
        elif label is not None and line.startswith("  ") and line.strip():
            examples[label].append(line.strip())
        else:
            label = None
    return examples


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    need_binary("openssl")
    need_binary("curl")
    running = Demo(tmp_path_factory.mktemp("demo"))
    try:
        running.wait_started()
        yield running
    finally:
        running.stop()


def answer(output: str) -> dict[str, Any]:
    try:
        return dict(json.loads(output))
    except ValueError:
        pytest.fail(f"not a JSON answer: {output!r}")


def ocsp_says(output: str, status: str) -> None:
    assert "Response verify OK" in output, output
    assert re.search(rf"\.pem: {status}\n", output), output


def wait_fresh(demo: Demo) -> None:
    def fresh() -> bool:
        with urllib.request.urlopen(demo.url + "/v1/partners", timeout=5) as response:
            partners = json.loads(response.read())["partners"]
        states = {i["name"]: str(i["freshness"]) for p in partners for i in p["issuers"]}
        return states["northwind-root"] == states["contoso-issuing"] == "fresh"

    demo.wait_for("the CRL partners to be fresh", fresh)


def test_prints_commands_for_every_kind_of_partner(demo: Demo) -> None:
    assert set(demo.examples) >= {
        "partners",
        "good",
        "revoked",
        "upstream good",
        "upstream revoked",
        "passthrough",
        "partner responder",
        "cross-certified",
        "cross-certified revoked",
        "batch",
    }, demo.output
    assert all(demo.examples.values()), demo.examples
    partners, status = demo.run("partners")
    names = {p["name"] for p in answer(partners)["partners"]}
    assert names == {"northwind", "contoso", "fabrikam"}
    assert "northwind-root" in status
    assert "contoso-issuing" in status


def test_crl_only_partner_good_and_revoked(demo: Demo) -> None:
    wait_fresh(demo)
    good_json, good_ocsp = demo.run("good")
    assert answer(good_json)["status"] == "good"
    assert answer(good_json)["source"]["type"] == "crl"
    ocsp_says(good_ocsp, "good")
    revoked_json, revoked_ocsp = demo.run("revoked")
    assert answer(revoked_json)["status"] == "revoked"
    assert answer(revoked_json)["reason"] == "keyCompromise"
    ocsp_says(revoked_ocsp, "revoked")


def test_cross_certified_copy_names_the_same_issuer(demo: Demo) -> None:
    wait_fresh(demo)
    chain, ocsp, by_key_hash, query = demo.run("cross-certified")
    assert chain.strip().endswith("contoso-1.pem: OK"), chain
    ocsp_says(ocsp, "good")
    assert answer(by_key_hash)["status"] == "good"
    assert answer(by_key_hash)["issuer"] == "contoso-issuing"
    assert query.startswith("GOOD  issuer contoso-issuing"), query
    (revoked,) = demo.run("cross-certified revoked")
    ocsp_says(revoked, "revoked")


def test_crl_revocations_show_up_while_it_runs(demo: Demo) -> None:
    for partner, issuer in (("northwind", "northwind-root"), ("contoso", "contoso-issuing")):
        serial = demo.revocation(partner)

        def revoked(issuer: str = issuer, serial: str = serial) -> bool:
            return bool(demo.status(issuer, serial)["status"] == "revoked")

        demo.wait_for(f"{partner}'s revocation of {serial} in revocd", revoked)


def test_ocsp_only_partner_runs_a_real_responder_that_sees_revocations(demo: Demo) -> None:
    (own,) = demo.run("partner responder")
    ocsp_says(own, "revoked")
    serial = demo.revocation("fabrikam")
    pki = demo.directory / "pki"
    live = subprocess.run(
        [
            "openssl", "ocsp", "-issuer", str(pki / "fabrikam-issuing.pem"),
            "-serial", f"0x{serial}", "-url", demo.fabrikam_url,
            "-CAfile", str(pki / "fabrikam-issuing.pem"),
        ],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert "Response verify OK" in live.stdout + live.stderr, live.stdout + live.stderr
    assert f"0x{serial}: revoked" in live.stdout


def test_ocsp_only_partner_answered_through_revocd(demo: Demo) -> None:
    good_json, good_ocsp = demo.run("upstream good")
    assert answer(good_json)["status"] == "good", good_json
    assert answer(good_json)["source"]["type"] == "ocsp", good_json
    assert answer(good_json)["source"]["url"] == demo.fabrikam_url, good_json
    ocsp_says(good_ocsp, "good")
    revoked_json, revoked_ocsp = demo.run("upstream revoked")
    assert answer(revoked_json)["status"] == "revoked", revoked_json
    assert answer(revoked_json)["reason"] == "keyCompromise", revoked_json
    assert answer(revoked_json)["source"]["type"] == "ocsp", revoked_json
    ocsp_says(revoked_ocsp, "revoked")
    serial = demo.revocation("fabrikam")  # never asked before: revocd asks upstream now
    assert demo.status("fabrikam-issuing", serial)["status"] == "revoked"


def test_passthrough_relays_the_partners_own_signed_answer(demo: Demo) -> None:
    (relayed,) = demo.run("passthrough")
    # verified with fabrikam's CA as the only trust anchor: revocd's own responder
    # certificate would not verify, so these are fabrikam's bytes
    ocsp_says(relayed, "good")


def test_batch_answers_every_partner(demo: Demo) -> None:
    wait_fresh(demo)
    (batch,) = demo.run("batch")
    statuses = [(r["issuer"], r["status"]) for r in answer(batch)["results"]]
    assert statuses == [
        ("northwind-root", "good"),
        ("northwind-root", "revoked"),
        ("contoso-issuing", "good"),
        ("contoso-issuing", "revoked"),
        ("fabrikam-issuing", "good"),
        ("fabrikam-issuing", "revoked"),
    ]


def test_ctrl_c_stops_revocd_and_the_partner_responder(demo: Demo) -> None:
    """Last in this file: it ends the module's demo."""
    assert demo.stop() == 0, demo.output
    assert "Traceback" not in demo.output, demo.output
    with pytest.raises(ProcessLookupError):
        os.kill(demo.responder_pid, 0)
