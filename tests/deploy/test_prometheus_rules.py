"""deploy/prometheus: the alert rules pass promtool's unit tests and use metrics revocd has."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from revocd.metrics import Metrics
from tests.support.peers import need_binary

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


@pytest.mark.peer
def test_promtool_checks_and_unit_tests_pass():
    promtool = need_binary("promtool")
    for args in (
        ["check", "rules", "revocd-rules.yml"],
        ["test", "rules", "revocd-rules.test.yml"],
    ):
        result = subprocess.run(
            [promtool, *args], cwd=RULES, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_rules_only_use_metrics_revocd_exports():
    families = list(Metrics().registry.collect())
    exported = {f.name for f in families}
    exported |= {f"{f.name}_total" for f in families if f.type == "counter"}
    used = set(re.findall(r"\brevocd_[a-z_]+", (RULES / "revocd-rules.yml").read_text()))
    assert used
    assert used <= exported, f"rules use metrics revocd does not export: {used - exported}"
