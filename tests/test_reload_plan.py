"""`reload.plan(old, new)`: what a new configuration adds, removes, retunes and leaves alone,
and which settings only a restart applies. Pure: built from config dataclasses."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from revocd.config import AlertsConfig, Config, LoggingConfig, ServerConfig, StoreConfig
from revocd.model import Issuer, IssuerKey, Partner, SigningMode
from revocd.reload import ReloadPlan, plan
from tests.poll.conftest import POLICY
from tests.support.pki import make_ca

ACME_CA = make_ca("Acme Issuing CA")
BETA_CA = make_ca("Beta Issuing CA")
OTHER_CA = make_ca("Acme Replacement CA")


def issuer(name: str, partner: str, ca=ACME_CA, crl=("http://a/1.crl",), **kw) -> Issuer:
    return Issuer(
        name=name,
        partner=partner,
        cert_path=Path(f"{name}.pem"),
        cert=ca.cert,
        key=IssuerKey.from_certificate(ca.cert),
        crl_urls=tuple(crl),
        ocsp_urls=(),
        signing=kw.pop("signing", SigningMode.TRUSTED),
        responder_cert=kw.pop("responder_cert", None),
        responder_key=kw.pop("responder_key", None),
    )


ACME = Partner("acme", POLICY, (issuer("acme-issuing", "acme"),))
BETA = Partner("beta", POLICY, (issuer("beta-issuing", "beta", BETA_CA, ("http://b/1.crl",)),))
A1 = "acme/acme-issuing/crl/http://a/1.crl"
A2 = "acme/acme-issuing/crl/http://a/2.crl"
B1 = "beta/beta-issuing/crl/http://b/1.crl"


def config(*partners: Partner, **kw: object) -> Config:
    return Config(
        path=Path("revocd.toml"),
        server=kw.pop("server", ServerConfig()),  # type: ignore[arg-type]
        store=kw.pop("store", StoreConfig(path=Path("/var/lib/revocd/revocd.db"))),  # type: ignore[arg-type]
        responder=None,
        defaults=POLICY,
        partners=partners,
        **kw,  # type: ignore[arg-type]
    )


def with_issuer(partner: Partner, **changes: object) -> Partner:
    return replace(partner, issuers=(replace(partner.issuers[0], **changes),))


SLOWER = replace(POLICY, poll_interval=timedelta(hours=1))

CASES = [
    ("nothing", config(ACME), config(ACME), ReloadPlan(sources_unchanged=(A1,))),
    (
        "add a partner",
        config(ACME),
        config(ACME, BETA),
        ReloadPlan(
            partners_added=("beta",),
            issuers_added=("beta-issuing",),
            sources_added=(B1,),
            sources_unchanged=(A1,),
        ),
    ),
    (
        "remove a partner",
        config(ACME, BETA),
        config(BETA),
        ReloadPlan(
            partners_removed=("acme",),
            issuers_removed=("acme-issuing",),
            sources_removed=(A1,),
            sources_unchanged=(B1,),
        ),
    ),
    (
        "retune a partner",
        config(ACME, BETA),
        config(replace(ACME, policy=SLOWER), BETA),
        ReloadPlan(sources_retuned=(A1,), sources_unchanged=(B1,)),
    ),
    (
        "add a mirror",
        config(ACME),
        config(with_issuer(ACME, crl_urls=("http://a/1.crl", "http://a/2.crl"))),
        ReloadPlan(sources_added=(A2,), sources_unchanged=(A1,)),
    ),
    (
        "replace a mirror",
        config(ACME),
        config(with_issuer(ACME, crl_urls=("http://a/2.crl",))),
        ReloadPlan(sources_added=(A2,), sources_removed=(A1,)),
    ),
    (
        "new certificate under the same name",
        config(ACME),
        config(
            with_issuer(ACME, cert=OTHER_CA.cert, key=IssuerKey.from_certificate(OTHER_CA.cert))
        ),
        ReloadPlan(issuers_replaced=("acme-issuing",), sources_added=(A1,), sources_removed=(A1,)),
    ),
    (
        "delegated signing",
        config(ACME),
        config(
            with_issuer(
                ACME,
                signing=SigningMode.DELEGATED,
                responder_cert=Path("r.pem"),
                responder_key=Path("r.key"),
            )
        ),
        ReloadPlan(issuers_resigned=("acme-issuing",), sources_unchanged=(A1,)),
    ),
    (
        "settings that need a restart",
        config(ACME),
        config(
            ACME,
            server=ServerConfig(listen="0.0.0.0:8080", host="0.0.0.0"),
            store=StoreConfig(path=Path("/elsewhere.db")),
            logging=LoggingConfig(level="debug"),
            alerts=AlertsConfig(alertmanager=("http://am:9093",)),
        ),
        ReloadPlan(
            sources_unchanged=(A1,),
            needs_restart=("server.listen", "store.path", "logging.level", "alerts.alertmanager"),
        ),
    ),
    (
        "alert timings apply live",
        config(ACME),
        config(ACME, alerts=AlertsConfig(expiring_before=timedelta(hours=2))),
        ReloadPlan(sources_unchanged=(A1,)),
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_plan(old: Config, new: Config, expected: ReloadPlan) -> None:
    assert plan(old, new) == expected


def test_summary_counts_what_changed() -> None:
    summary = plan(config(ACME), config(replace(ACME, policy=SLOWER), BETA)).summary()
    assert summary["sources_added"] == 1
    assert summary["sources_retuned"] == 1
    assert summary["partners_added"] == 1
    assert summary["sources_removed"] == 0
