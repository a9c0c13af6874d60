"""`[alerts]`: defaults, every key read, and errors that name the file, key and way out."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from revocd.config import AlertsConfig, ConfigProblems, load_config


def load(tmp_path: Path, text: str) -> AlertsConfig:
    path = tmp_path / "revocd.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path).alerts


def test_no_section_means_no_alertmanager_and_default_timings(tmp_path: Path) -> None:
    assert load(tmp_path, "") == AlertsConfig(
        alertmanager=(),
        resend_interval=timedelta(minutes=1),
        expiring_before=timedelta(minutes=15),
        failing_after=timedelta(minutes=15),
        timeout=timedelta(seconds=5),
        queue_size=1000,
        labels=(),
    )


def test_every_key(tmp_path: Path) -> None:
    text = """
[alerts]
alertmanager = ["http://am1:9093", "https://am2.example/alertmanager"]
resend_interval = "30s"
expiring_before = "1h"
failing_after = "0s"
timeout = "2s"
queue_size = 50
labels = { cluster = "eu-1", team = "pki" }
"""
    assert load(tmp_path, text) == AlertsConfig(
        alertmanager=("http://am1:9093", "https://am2.example/alertmanager"),
        resend_interval=timedelta(seconds=30),
        expiring_before=timedelta(hours=1),
        failing_after=timedelta(0),
        timeout=timedelta(seconds=2),
        queue_size=50,
        labels=(("cluster", "eu-1"), ("team", "pki")),
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('alertmanager = ["file:///tmp/am"]', "alerts.alertmanager[0]: file:///tmp/am: "),
        ('alertmanager = ["am:9093"]', "alerts.alertmanager[0]: am:9093: unsupported URL"),
        ('expiring_before = "0s"', "alerts.expiring_before: must be more than 0"),
        ('resend_interval = "0s"', "alerts.resend_interval: must be more than 0"),
        ("timeout = 5", "alerts.timeout: 5 is not a duration"),
        ("queue_size = 0", "alerts.queue_size: 0 is not a number of alerts"),
        ('queue_size = "1000"', "alerts.queue_size: '1000' is not a number of alerts"),
        ('labels = { severity = "page" }', "alerts.labels.severity: revocd sets 'severity'"),
        ('labels = { "bad-name" = "x" }', "alerts.labels.bad-name: is not a Prometheus label"),
        ('labels = "cluster"', "alerts.labels: must be a table of strings"),
        (
            'resend_intervall = "1m"',
            "alerts.resend_intervall: unknown key; did you mean 'resend_interval'?",
        ),
    ],
    ids=[
        "file-url",
        "no-scheme",
        "zero-expiring-before",
        "zero-resend",
        "bare-number-duration",
        "zero-queue",
        "string-queue",
        "reserved-label",
        "bad-label-name",
        "labels-not-a-table",
        "misspelt-key",
    ],
)
def test_problems_name_the_file_key_and_way_out(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigProblems) as caught:
        load(tmp_path, f"[alerts]\n{line}\n")
    assert f"{tmp_path / 'revocd.toml'}: {message}" in str(caught.value)
