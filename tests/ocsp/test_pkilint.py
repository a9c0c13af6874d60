"""pkilint's RFC 6960 linter finds nothing in revocd's responses, in every answer state."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from revocd.ocsp.responder import Responder, ResponderPolicy
from revocd.ocsp.signing import Signer
from tests.ocsp.test_responses_property import CA, CACHE, NOW, POLICY, RESPONDER, cert_id, request
from tests.support.pki import issue

LINTER = Path(sys.executable).parent / "lint_ocsp_response"


@pytest.mark.parametrize(
    ("serials", "nonce", "delegated", "now"),
    [
        ([(2, False)], None, False, NOW),
        ([(1, False)], b"abcdefgh", False, NOW),
        ([(1, True), (2, True), (3, False)], None, True, NOW),
        ([(2, False)], None, False, NOW + timedelta(hours=5, minutes=30)),
    ],
    ids=["good", "revoked-with-nonce", "several-certids-delegated", "good-from-stale-evidence"],
)
def test_pkilint_finds_nothing(tmp_path, serials, nonce, delegated, now):
    if not LINTER.exists() and shutil.which("lint_ocsp_response") is None:
        pytest.fail("pkilint is a test dependency: pip install -e '.[test]'")
    if delegated:
        cert, key = issue(CA, "revocd ocsp", ocsp_signing=True)
        signer = Signer(cert, key, embed=True)
    else:
        signer = Signer(RESPONDER.cert, RESPONDER.key, embed=False)
    responder = Responder(CACHE, {"acme": signer}, {"acme": POLICY.grace}, ResponderPolicy())
    reply = asyncio.run(responder.respond(request([cert_id(s, h) for s, h in serials], nonce), now))
    path = tmp_path / "response.der"
    path.write_bytes(reply.body)
    result = subprocess.run(
        [
            str(LINTER if LINTER.exists() else "lint_ocsp_response"),
            "lint",
            "-s",
            "WARNING",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout
