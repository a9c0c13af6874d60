"""Every Prometheus metric revocd exports, defined once, on a per-app registry.

No global registry: tests build many apps in one process, and each gets its own.
Label values for `reason` are the RejectReason strings (same as logs and JSON).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

SOURCE_LABELS = ("partner", "issuer", "source")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.crl_fetch_total = Counter(
            "revocd_crl_fetch_total",
            "CRL poll attempts by outcome (accepted, unchanged, rejected, failed).",
            [*SOURCE_LABELS, "outcome"],
            registry=r,
        )
        self.crl_rejected_total = Counter(
            "revocd_crl_rejected_total",
            "CRLs refused, by reason (bad_signature, rollback, oversize, ...).",
            [*SOURCE_LABELS, "reason"],
            registry=r,
        )
        self.source_freshness = Gauge(
            "revocd_source_freshness",
            "1 for the source's current freshness state (fresh, stale, expired, none), else 0.",
            [*SOURCE_LABELS, "state"],
            registry=r,
        )
        self.source_failing = Gauge(
            "revocd_source_failing",
            "1 when the source's last fetch failed or its CRL was rejected.",
            SOURCE_LABELS,
            registry=r,
        )
        self.source_last_success = Gauge(
            "revocd_source_last_success_timestamp_seconds",
            "When the source last answered with an acceptable (or unchanged) CRL.",
            SOURCE_LABELS,
            registry=r,
        )
        self.crl_next_update = Gauge(
            "revocd_crl_next_update_timestamp_seconds",
            "nextUpdate of the source's last accepted CRL.",
            SOURCE_LABELS,
            registry=r,
        )
        self.crl_number = Gauge(
            "revocd_crl_number",
            "CRL number of the source's last accepted CRL (if it has one).",
            SOURCE_LABELS,
            registry=r,
        )
        self.crl_entries = Gauge(
            "revocd_crl_entries",
            "Entries in the source's last accepted CRL.",
            SOURCE_LABELS,
            registry=r,
        )
        self.status_requests_total = Counter(
            "revocd_status_requests_total",
            "Status answers given, by API (json) and status (good, revoked, unknown, error).",
            ["api", "status"],
            registry=r,
        )
