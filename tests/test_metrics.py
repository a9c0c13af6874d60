"""merged_exposition: what /metrics shows when replica processes count requests too."""

from __future__ import annotations

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from revocd.metrics import Metrics, merged_exposition, summed


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def test_counters_and_histograms_are_summed_gauges_are_the_primarys():
    primary, replica = Metrics(), Metrics()
    primary.status_requests_total.labels(api="json", status="good").inc(3)
    replica.status_requests_total.labels(api="json", status="good").inc(4)
    replica.status_requests_total.labels(api="json", status="revoked").inc()  # replica only
    primary.request_seconds.labels(api="ocsp").observe(0.002)
    replica.request_seconds.labels(api="ocsp").observe(0.2)
    primary.crl_entries.labels(partner="p", issuer="i", source="s").set(10)
    replica.crl_entries.labels(partner="p", issuer="i", source="s").set(99)  # stale copy

    merged = samples(merged_exposition(primary.registry, [list(replica.registry.collect())]))

    good = ("revocd_status_requests_total", (("api", "json"), ("status", "good")))
    revoked = ("revocd_status_requests_total", (("api", "json"), ("status", "revoked")))
    assert merged[good] == 7
    assert merged[revoked] == 1
    assert merged[("revocd_request_duration_seconds_count", (("api", "ocsp"),))] == 2
    assert (
        merged[("revocd_request_duration_seconds_bucket", (("api", "ocsp"), ("le", "0.0025")))] == 1
    )
    assert (
        merged[("revocd_request_duration_seconds_bucket", (("api", "ocsp"), ("le", "+Inf")))] == 2
    )
    entries = ("revocd_crl_entries", (("issuer", "i"), ("partner", "p"), ("source", "s")))
    assert merged[entries] == 10


def test_replaced_replicas_are_kept_as_one_sum_that_shows_the_same():
    """Each reload replaces every replica: their last counters are summed into one
    snapshot, so a daemon reloaded a thousand times holds one, and /metrics is unchanged."""
    primary = Metrics()
    primary.status_requests_total.labels(api="json", status="good").inc()
    replaced = []
    for n in range(1, 6):
        replica = Metrics()
        replica.status_requests_total.labels(api="json", status="good").inc(n)
        replica.request_seconds.labels(api="ocsp").observe(0.001 * n)
        replaced.append(list(replica.registry.collect()))
    live = Metrics()
    live.status_requests_total.labels(api="json", status="revoked").inc(2)
    now = [list(live.registry.collect())]

    retired: list[list[Metric]] = []
    for snapshot in replaced:  # as Replicas folds each replica it retires
        retired = [summed([*retired, snapshot])]

    assert len(retired) == 1
    one_sum = samples(merged_exposition(primary.registry, [*retired, *now]))
    every_snapshot = samples(merged_exposition(primary.registry, [*replaced, *now]))
    assert one_sum == every_snapshot
    assert one_sum[("revocd_status_requests_total", (("api", "json"), ("status", "good")))] == 16
    assert one_sum[("revocd_request_duration_seconds_count", (("api", "ocsp"),))] == 5


def test_without_replicas_it_is_the_plain_exposition():
    metrics = Metrics()
    metrics.status_requests_total.labels(api="json", status="good").inc(2)
    from prometheus_client import generate_latest

    assert samples(merged_exposition(metrics.registry, [])) == samples(
        generate_latest(metrics.registry)
    )


def test_every_metric_says_what_it_means_and_what_to_alert_on():
    """Operators read HELP in Prometheus and Grafana: each one names an alert threshold
    (or says there is none), so nobody has to guess what is worth paging on."""
    silent = [
        family.name
        for family in Metrics().registry.collect()
        if "alert" not in family.documentation.lower()
    ]
    assert silent == []
