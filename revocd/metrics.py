"""Every Prometheus metric revocd exports, defined once, on a per-app registry.

No global registry: tests build many apps in one process, and each gets its own.
Label values for `reason` are the RejectReason strings (same as logs and JSON).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric

SOURCE_LABELS = ("partner", "issuer", "source")
# Handler time, not network time: most answers are a dict lookup (~0.1 ms); a signature
# costs 0.03 ms (P-256) to 0.3 ms (RSA-2048).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.crl_fetch_total = Counter(
            "revocd_crl_fetch_total",
            "CRL poll attempts by outcome (accepted, unchanged, rejected, failed). Alert on "
            "failed + rejected without accepted/unchanged for longer than [alerts] "
            "failing_after (RevocdSourceFailing).",
            [*SOURCE_LABELS, "outcome"],
            registry=r,
        )
        self.crl_rejected_total = Counter(
            "revocd_crl_rejected_total",
            "CRLs refused, by reason (bad_signature, rollback, oversize, ...). Alert on any "
            "increase (RevocdCrlRejected): rollback, equivocation and bad_signature may be "
            "attacks.",
            [*SOURCE_LABELS, "reason"],
            registry=r,
        )
        self.source_freshness = Gauge(
            "revocd_source_freshness",
            "1 for the source's current freshness state (fresh, stale, expired, none), else 0. "
            "Alert (warning) on stale: the partner is late; (critical) on expired: its "
            "issuer's answers are unknown unless another source is usable.",
            [*SOURCE_LABELS, "state"],
            registry=r,
        )
        self.source_failing = Gauge(
            "revocd_source_failing",
            "1 when the source's last fetch failed or its CRL was rejected. Alert when it "
            "stays 1 for 15 minutes (RevocdSourceFailing); one failed poll is not news.",
            SOURCE_LABELS,
            registry=r,
        )
        self.source_last_success = Gauge(
            "revocd_source_last_success_timestamp_seconds",
            "When the source last answered with an acceptable (or unchanged) CRL. Alert "
            "when time() minus it exceeds a few poll intervals.",
            SOURCE_LABELS,
            registry=r,
        )
        self.crl_next_update = Gauge(
            "revocd_crl_next_update_timestamp_seconds",
            "nextUpdate of the source's last accepted CRL. Past it the source is stale; "
            "alert when time() passes it (RevocdSourceStale).",
            SOURCE_LABELS,
            registry=r,
        )
        self.crl_grace_end = Gauge(
            "revocd_crl_grace_end_timestamp_seconds",
            "nextUpdate + grace of the source's last accepted CRL: from then on its issuer's "
            "answers are unknown unless another source is usable. Alert (warning) when "
            "`revocd_crl_grace_end_timestamp_seconds - time()` drops below a few hours.",
            SOURCE_LABELS,
            registry=r,
        )
        self.crl_fetch_seconds = Histogram(
            "revocd_crl_fetch_duration_seconds",
            "Time from the start of a fetch to the CRL being durable and served (download, "
            "verify, index, store), for accepted CRLs. Alert when it nears the poll interval.",
            SOURCE_LABELS,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.issuer_revoked = Gauge(
            "revocd_issuer_revoked_entries",
            "Serials revocd answers revoked for the issuer: the newest CRL's entries plus the "
            "revocations kept from earlier CRLs (sticky). It never drops unless a hold is "
            "released: alert on any decrease larger than a few entries.",
            ["partner", "issuer"],
            registry=r,
        )
        self.crl_number = Gauge(
            "revocd_crl_number",
            "CRL number of the source's last accepted CRL (if it has one). It only grows: "
            "a CRL with a lower one is rejected as rollback. No alert of its own.",
            SOURCE_LABELS,
            registry=r,
        )
        self.crl_entries = Gauge(
            "revocd_crl_entries",
            "Entries in the source's last accepted CRL. A jump of an order of magnitude "
            "(mass revocation, or a partial CRL) deserves a look; no fixed alert threshold.",
            SOURCE_LABELS,
            registry=r,
        )
        self.source_state = Gauge(
            "revocd_source_state",
            "1 for the source's current state (fresh, stale, expiring, expired, none), else 0; "
            "set by the same events that log and alert. Alert on expiring (grace ends within "
            "[alerts] expiring_before) and expired (answers are unknown).",
            [*SOURCE_LABELS, "state"],
            registry=r,
        )
        self.source_events_total = Counter(
            "revocd_source_events_total",
            "Source transitions, by event (fresh, stale, expiring, expired, none, failing, "
            "recovered, rejected): each is also one log line and, with [alerts], one alert.",
            [*SOURCE_LABELS, "event"],
            registry=r,
        )
        self.alerts_sent_total = Counter(
            "revocd_alerts_sent_total",
            "Alerts (firing, re-sent or resolved) that an Alertmanager accepted. No alert "
            "of its own: see alerts_failed and alerts_dropped.",
            ["alertmanager"],
            registry=r,
        )
        self.alerts_failed_total = Counter(
            "revocd_alerts_failed_total",
            "Alerts in posts that an Alertmanager refused or that failed (they are retried "
            "with backoff). Alert when it rises while alerts_sent does not: on-call hears "
            "nothing from revocd.",
            ["alertmanager"],
            registry=r,
        )
        self.alerts_dropped_total = Counter(
            "revocd_alerts_dropped_total",
            "Alerts dropped because the queue ([alerts] queue_size) was full, oldest first. "
            "Alert on any increase: Alertmanager has been unreachable for long.",
            registry=r,
        )
        self.status_requests_total = Counter(
            "revocd_status_requests_total",
            "Status answers given, by API (json) and status (good, revoked, unknown, error). "
            "Alert when the unknown share rises: relying parties get no usable answer.",
            ["api", "status"],
            registry=r,
        )
        self.ocsp_requests_total = Counter(
            "revocd_ocsp_requests_total",
            "OCSP requests by HTTP method and OCSP responseStatus (successful, "
            "malformedRequest, unauthorized, tryLater). Alert when tryLater persists after "
            "start-up, or when unauthorized rises: clients ask for issuers revocd does not serve.",
            ["method", "status"],
            registry=r,
        )
        self.ocsp_presigned_total = Counter(
            "revocd_ocsp_presigned_total",
            "Successful OCSP answers without a nonce, by whether a pre-signed response was "
            "reused (hit) or a signature was made (miss). A low hit ratio with steady traffic "
            "means max_presigned is too small or the evidence changes very often: alert when "
            "the hit ratio stays below 0.9 under steady traffic.",
            ["result"],
            registry=r,
        )
        # upstream OCSP sources (revocd/upstream/): bounded labels only, never a serial
        self.upstream_requests_total = Counter(
            "revocd_upstream_requests_total",
            "Exchanges with partners' OCSP responders (relying-party lookups, background "
            "refreshes and probes), by outcome (accepted, rejected, unreachable). Alert when "
            "rejected rises: a responder answers with something revocd refuses.",
            [*SOURCE_LABELS, "outcome"],
            registry=r,
        )
        self.upstream_coalesced_total = Counter(
            "revocd_upstream_coalesced_total",
            "Relying-party lookups that waited on an upstream OCSP request already in flight "
            "for the same serial instead of sending their own. Informational: no alert.",
            ["partner", "issuer"],
            registry=r,
        )
        self.upstream_health = Gauge(
            "revocd_upstream_health",
            "1 for the OCSP source's current health (ok, failing, unknown: not asked yet), "
            "else 0. Alert on failing: its issuer's uncached serials are answered unknown.",
            [*SOURCE_LABELS, "state"],
            registry=r,
        )
        self.evidence_conflicts_total = Counter(
            "revocd_evidence_conflicts_total",
            "Serials a CRL lists as revoked while the partner's OCSP responder says good "
            "(answered revoked; each logged once as evidence_conflict). Alert on any "
            "increase: the partner's two channels disagree.",
            ["partner", "issuer"],
            registry=r,
        )
        # reloads (SIGHUP, `revocd reload`): alert on failed, and on a last success older
        # than the last edit of the config file
        self.config_reloads_total = Counter(
            "revocd_config_reloads_total",
            "Configuration reloads by result: applied, or failed (the file was invalid or "
            "could not be applied; the running configuration stays). Alert on any failed.",
            ["result"],
            registry=r,
        )
        self.config_last_reload_success = Gauge(
            "revocd_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully (start-up or reload). No "
            "alert of its own: RevocdConfigReloadFailed watches failed reloads.",
            registry=r,
        )
        self._ocsp_children: dict[tuple[str, str], Any] = {}
        self.request_seconds = Histogram(
            "revocd_request_duration_seconds",
            "Time spent answering, by API (ocsp, json). Alert when the p99 of ocsp exceeds "
            "10 ms: relying parties' TLS handshakes wait on it.",
            ["api"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def forget_source(self, partner: str, issuer: str, url: str) -> None:
        """A reload removed the source: drop its gauges (its counters stay, as history)."""
        wanted = {"partner": partner, "issuer": issuer, "source": url}
        gauges = (
            self.source_freshness,
            self.source_failing,
            self.source_last_success,
            self.crl_next_update,
            self.crl_grace_end,
            self.crl_number,
            self.crl_entries,
            self.source_state,
            self.upstream_health,
        )
        for gauge in gauges:
            series = {
                tuple(sample.labels[n] for n in (*SOURCE_LABELS, "state") if n in sample.labels)
                for family in gauge.collect()
                for sample in family.samples
                if all(sample.labels.get(k) == v for k, v in wanted.items())
            }
            for values in series:
                with contextlib.suppress(KeyError):
                    gauge.remove(*values)
        with contextlib.suppress(KeyError):  # set again at the next scrape if still configured
            self.issuer_revoked.remove(partner, issuer)

    def count_ocsp(self, method: str, status: str, presigned: bool | None, seconds: float) -> None:
        """One OCSP request. The hot path: labelled children are looked up once, not per
        request (prometheus-client's `labels()` takes a lock and builds tuples)."""
        children = self._ocsp_children
        counter = children.get((method, status))
        if counter is None:
            counter = children[(method, status)] = self.ocsp_requests_total.labels(method, status)
        counter.inc()
        if presigned is not None:
            result = "hit" if presigned else "miss"
            hits = children.get(("presigned", result))
            if hits is None:
                hits = children[("presigned", result)] = self.ocsp_presigned_total.labels(result)
            hits.inc()
        latency = children.get(("latency", "ocsp"))
        if latency is None:
            latency = children[("latency", "ocsp")] = self.request_seconds.labels("ocsp")
        latency.observe(seconds)


class _Families:
    """A collector that yields fixed metric families (for exposition only)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


def merged_exposition(own: CollectorRegistry, others: Iterable[Sequence[Metric]]) -> bytes:
    """The text exposition of `own` plus other processes' counters and histograms.

    Replica processes count their own requests; the daemon reports their sums. Gauges are
    the primary's alone: they describe sources, which only the primary polls. A counter's
    `_created` sample is the earliest, not a sum.
    """
    families = {family.name: family for family in own.collect()}
    for snapshot in others:
        _fold(families, snapshot)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families.values()))
    return generate_latest(registry)


def summed(snapshots: Iterable[Sequence[Metric]]) -> list[Metric]:
    """Several processes' counters and histograms as one snapshot, as merged_exposition
    would add them: replaced replicas' last counters are kept as one sum, not one snapshot
    per replica ever replaced."""
    families: dict[str, Metric] = {}
    for snapshot in snapshots:
        _fold(families, snapshot)
    return list(families.values())


def _fold(families: dict[str, Metric], snapshot: Sequence[Metric]) -> None:
    """Add `snapshot`'s counters, histograms and summaries into `families` (by name)."""
    for family in snapshot:
        if family.type not in ("counter", "histogram", "summary"):
            continue
        mine = families.setdefault(
            family.name, Metric(family.name, family.documentation, family.type)
        )
        merged = {(s.name, tuple(sorted(s.labels.items()))): s for s in mine.samples}
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            have = merged.get(key)
            if have is None:
                merged[key] = sample
            elif sample.name.endswith("_created"):
                merged[key] = have._replace(value=min(have.value, sample.value))
            else:
                merged[key] = have._replace(value=have.value + sample.value)
        mine.samples = list(merged.values())
