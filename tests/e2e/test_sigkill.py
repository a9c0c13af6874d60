"""SIGKILL in the middle of ingesting a big CRL loses nothing previously accepted, and
the next daemon removes the temporary files the killed one left."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.conftest import crl_window, write_config
from tests.support.daemon import RunningDaemon
from tests.support.pki import Entry, make_crl

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.4], ids=["at-download", "mid-parse", "mid-persist"])
def test_sigkill_while_ingesting_keeps_accepted_evidence(tmp_path, partner, ca, big_crl, delay):
    partner.files["/issuing.crl"] = make_crl(
        ca, [Entry(0x1001), Entry(0x1002, reason=None)], number=1, **crl_window()
    )
    config = write_config(tmp_path, ca, [partner.url("/issuing.crl")])
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"TMPDIR": str(scratch)}
    daemon = RunningDaemon(config, extra_env=env)
    try:
        daemon.wait_until(
            "CRL 1", lambda: daemon.status("acme-issuing", "1001")["status"] == "revoked"
        )
        # publish a big CRL 2 (which no longer lists 1001), wait until revocd downloads it
        hits_before = partner.hits.get("/issuing.crl", 0)
        partner.files["/issuing.crl"] = big_crl(ca, number=2)
        daemon.wait_until(
            "the big CRL to be requested",
            lambda: partner.hits.get("/issuing.crl", 0) > hits_before,
        )
        time.sleep(delay)  # a kill point inside the ingest, not a wait for a condition
    finally:
        daemon.kill()

    partner.close()
    left = sorted(str(path) for path in scratch.iterdir())  # the CRL being verified, if any
    with RunningDaemon(config, extra_env=env) as restarted:
        restarted.wait_ready()
        assert [p for p in left if Path(p).exists()] == []
        if left:
            removed = [e for e in restarted.events if e["event"] == "temporary_leftovers_removed"]
            assert sorted(removed[0]["paths"]) == left
        mine = f"revocd-{restarted.process.pid}."
        assert [p.name for p in scratch.iterdir() if not p.name.startswith(mine)] == []
        revoked = restarted.status("acme-issuing", "1001")
        assert revoked["status"] == "revoked"
        assert restarted.status("acme-issuing", "1002")["status"] == "revoked"
        assert restarted.status("acme-issuing", "3003")["status"] == "good"
        # whichever CRL the store holds, it is whole: 1 (kill before commit) or 2
        assert revoked["source"]["crl_number"] in (1, 2)
