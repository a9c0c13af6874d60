"""A real `revocd run` process: restarts and outages never lose accepted evidence."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import crl_window, write_config
from tests.support.daemon import RunningDaemon
from tests.support.pki import Entry, make_crl

pytestmark = pytest.mark.slow


def test_restart_serves_last_accepted_evidence_with_every_partner_unreachable(
    tmp_path, partner, ca
):
    partner.files["/issuing.crl"] = make_crl(ca, [Entry(0x1001)], number=1, **crl_window())
    config = write_config(tmp_path, ca, [partner.url("/issuing.crl")])

    with RunningDaemon(config) as daemon:
        daemon.wait_until(
            "CRL 1 accepted", lambda: daemon.status("acme-issuing", "1001")["status"] == "revoked"
        )
        assert daemon.status("acme-issuing", "2002")["status"] == "good"
        assert daemon.stop() == 0  # SIGTERM is a clean shutdown

    partner.close()  # the partner is gone; revocd restarts

    with RunningDaemon(config) as daemon:
        daemon.wait_ready()
        revoked = daemon.status("acme-issuing", "1001")
        good = daemon.status("acme-issuing", "2002")
        assert revoked["status"] == "revoked"
        assert revoked["reason"] == "keyCompromise"
        assert revoked["source"]["crl_number"] == 1
        assert good["status"] == "good"
        assert good["freshness"] == "fresh"
        _code, partners = daemon.get("/v1/partners")
        source = partners["partners"][0]["issuers"][0]["sources"][0]
        daemon.wait_until(
            "the outage to be reported",
            lambda: daemon.get("/v1/partners")[1]["partners"][0]["issuers"][0]["sources"][0][
                "failing"
            ],
        )
        assert source["crl_number"] == 1


def test_revocation_survives_a_later_crl_that_drops_the_entry_and_a_restart(tmp_path, partner, ca):
    partner.files["/issuing.crl"] = make_crl(
        ca, [Entry(0x1001), Entry(0x1002, reason=None)], number=1, **crl_window()
    )
    config = write_config(tmp_path, ca, [partner.url("/issuing.crl")])
    with RunningDaemon(config) as daemon:
        daemon.wait_until(
            "CRL 1", lambda: daemon.status("acme-issuing", "1001")["status"] == "revoked"
        )
        # the CA drops 1001 (its certificate expired); 1002 stays listed
        partner.files["/issuing.crl"] = make_crl(ca, [Entry(0x1002)], number=2, **crl_window())
        daemon.wait_until(
            "CRL 2", lambda: daemon.status("acme-issuing", "1002")["source"]["crl_number"] == 2
        )
        assert daemon.status("acme-issuing", "1001")["status"] == "revoked"

    with RunningDaemon(config) as daemon:
        daemon.wait_ready()
        assert daemon.status("acme-issuing", "1001")["status"] == "revoked"
        assert daemon.status("acme-issuing", "1002")["status"] == "revoked"
