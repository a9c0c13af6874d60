"""A real `revocd run` process whose partner's CRL goes stale: the Alertmanager stand-in
gets the firing alert at nextUpdate (no poll needed), then the resolution when the
partner publishes a new CRL. The CRL's nextUpdate is a few seconds away: no long sleeps."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import now, write_config
from tests.support.alertreceiver import ThreadedAlertReceiver
from tests.support.daemon import RunningDaemon
from tests.support.httpd import StaticPartner
from tests.support.pki import Entry, make_ca, make_crl

pytestmark = pytest.mark.slow
PATH = "/issuing.crl"


def stale(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in alerts if a["labels"]["alertname"] == "RevocdSourceStale"]


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def last_transition(daemon: RunningDaemon) -> tuple[str | None, str | None]:
    logged = [e for e in list(daemon.events) if e.get("event") == "source_state_changed"]
    return (logged[-1]["old"], logged[-1]["new"]) if logged else (None, None)


def test_stale_crl_fires_then_resolves_in_alertmanager(tmp_path) -> None:
    ca = make_ca("E2E Issuing CA")
    with StaticPartner() as partner, ThreadedAlertReceiver() as receiver:
        start = now()
        next_update = start + timedelta(seconds=6)
        partner.files[PATH] = make_crl(
            ca,
            [Entry(0x1001)],
            number=1,
            this_update=start - timedelta(minutes=1),
            next_update=next_update,
        )
        config = write_config(tmp_path, ca, [partner.url(PATH)])
        with config.open("a") as text:
            text.write(
                f'\n[alerts]\nalertmanager = ["{receiver.base}"]\n'
                'resend_interval = "1m"\nlabels = { cluster = "e2e" }\n'
            )

        with RunningDaemon(config) as daemon:
            daemon.wait_until(
                "CRL 1", lambda: daemon.status("acme-issuing", "1001")["status"] == "revoked"
            )
            [firing] = stale(receiver.wait_for("the stale alert", lambda a: bool(stale(a))))
            source = partner.url(PATH)
            assert firing["labels"] == {
                "alertname": "RevocdSourceStale",
                "severity": "warning",
                "partner": "acme",
                "issuer": "acme-issuing",
                "source": source,
                "cluster": "e2e",
            }
            when = next_update.isoformat().replace("+00:00", "Z")
            assert firing["startsAt"] == when
            assert firing["annotations"]["next_update"] == when
            assert firing["annotations"]["grace_end"] == (
                (next_update + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
            )
            assert "endsAt" not in firing
            assert daemon.status("acme-issuing", "2002")["freshness"] == "stale"
            daemon.wait_until("the stale log line", lambda: last_transition(daemon)[1] == "stale")

            partner.files[PATH] = make_crl(
                ca,
                [Entry(0x1001)],
                number=2,
                this_update=now() - timedelta(seconds=1),
                next_update=now() + timedelta(days=1),
            )
            got = receiver.wait_for(
                "the resolution", lambda a: any("endsAt" in x for x in stale(a))
            )
            resolved = stale(got)[-1]
            assert resolved["labels"] == firing["labels"]
            assert resolved["startsAt"] == firing["startsAt"]
            assert parse(resolved["endsAt"]) >= parse(firing["startsAt"])
            assert daemon.status("acme-issuing", "2002")["freshness"] == "fresh"
            daemon.wait_until(
                "the fresh log line", lambda: last_transition(daemon) == ("stale", "fresh")
            )
            assert daemon.stop() == 0
