"""deploy/grafana: the dashboard imports, and every query reads series revocd really exposes.

The queries are checked against the /metrics of a real app (tests/deploy/conftest.py
`live`): each metric name must have samples there, each label a selector or `by` names
must exist on it, and each label value a selector matches on (state="stale") must occur.
With promtool installed, every query is parsed by Prometheus itself, and the freshness
code the state timeline colours is evaluated for every state.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.conftest import DEPLOY, Live
from tests.support.peers import need_binary

DASHBOARD = DEPLOY / "grafana" / "revocd-dashboard.json"
GRAFANA_BUILTINS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
FUNCTIONS = {
    # aggregations
    *("sum", "min", "max", "avg", "count", "stddev", "topk", "bottomk", "quantile"),
    # functions this dashboard could reasonably use
    *("rate", "irate", "increase", "delta", "deriv", "time", "timestamp", "vector"),
    *("histogram_quantile", "clamp_min", "clamp_max", "abs", "label_replace", "scalar"),
    *("max_over_time", "min_over_time", "avg_over_time", "absent", "changes", "resets"),
}
TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')
      | (?P<duration>\d+(?:\.\d+)?(?:ms|[smhdwy])\b)
      | (?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?)
      | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
      | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^(){}\[\],=<>])
    """,
    re.VERBOSE,
)


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    found = []
    for panel in board["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def queries(board: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(panel title, refId, target) for every query target."""
    return [
        (panel["title"], target["refId"], target)
        for panel in panels(board)
        for target in panel.get("targets", [])
    ]


def variables(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in board["templating"]["list"]}


def interpolate(expr: str, board: dict[str, Any]) -> str:
    """What Grafana sends: template variables replaced (query variables by "All")."""
    known = variables(board)

    def value(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        if name in GRAFANA_BUILTINS:
            return GRAFANA_BUILTINS[name]
        assert name in known, f"${name} is not a variable of the dashboard"
        variable = known[name]
        if variable["type"] == "query":
            return str(variable.get("allValue") or ".*")
        return str(variable["current"]["value"])

    return re.sub(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))", value, expr)


@dataclass
class Parsed:
    """What a PromQL expression reads: metric names with their matchers, and the labels
    its aggregations and vector matching group by."""

    metrics: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    grouping: set[str] = field(default_factory=set)


def tokens(expr: str) -> list[tuple[str, str]]:
    found, at = [], 0
    while at < len(expr):
        match = TOKEN.match(expr, at)
        assert match, f"cannot read {expr[at:]!r} in {expr!r}"
        if match.lastgroup != "space":
            found.append((str(match.lastgroup), match[0]))
        at = match.end()
    return found


def parse(expr: str) -> Parsed:
    """Enough of PromQL to say which series an expression reads; rejects what it cannot
    place (an unknown function, unbalanced brackets, a stray `$`)."""
    toks = tokens(expr)
    parsed = Parsed()
    depth = {"(": 0, "[": 0}
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        following = toks[i + 1][1] if i + 1 < len(toks) else ""
        if kind == "ident" and text in GROUPING:
            if following != "(" and text.startswith("group_"):  # the list is optional
                i += 1
                continue
            assert following == "(", f"{text} without a label list in {expr!r}"
            j = i + 2
            while toks[j][1] != ")":
                if toks[j][0] == "ident":
                    parsed.grouping.add(toks[j][1])
                j += 1
            i = j + 1
            continue
        if kind == "ident" and following in ("(", "by", "without"):  # `sum by (x) (...)`
            assert text in FUNCTIONS, f"unknown function {text}() in {expr!r}"
        elif kind == "ident" and text.lower() not in KEYWORDS:
            matchers = parsed.metrics.setdefault(text, [])
            if following == "{":
                j = i + 2
                while toks[j][1] != "}":
                    label, op, value = toks[j][1], toks[j + 1][1], toks[j + 2][1]
                    assert op in ("=", "!=", "=~", "!~"), f"bad matcher in {expr!r}"
                    matchers.append((label, op, value[1:-1]))
                    j += 4 if toks[j + 3][1] == "," else 3
                i = j + 1
                continue
        elif text in ("(", "["):
            depth[text] += 1
        elif text in (")", "]"):
            depth["(" if text == ")" else "["] -= 1
            assert min(depth.values()) >= 0, f"unbalanced {text} in {expr!r}"
        i += 1
    assert depth == {"(": 0, "[": 0}, f"unbalanced brackets in {expr!r}"
    return parsed


@dataclass
class Exposition:
    labels: dict[str, set[str]]  # sample name -> label names
    values: dict[str, dict[str, set[str]]]  # sample name -> label -> values seen


def exposition(text: str) -> Exposition:
    labels: dict[str, set[str]] = defaultdict(set)
    values: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels[sample.name] |= set(sample.labels)
            for key, value in sample.labels.items():
                values[sample.name][key].add(value)
    return Exposition(dict(labels), {k: dict(v) for k, v in values.items()})


def test_the_dashboard_is_importable_json():
    board = dashboard()
    assert 36 <= board["schemaVersion"] <= 41
    assert board["uid"] == "revocd"
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(ids)}"
    datasource = variables(board)["DS_PROMETHEUS"]
    assert (datasource["type"], datasource["query"]) == ("datasource", "prometheus")
    partner = variables(board)["partner"]
    assert partner["type"] == "query"
    assert partner["query"]["query"].startswith("label_values(revocd_")
    for title, ref, target in queries(board):
        assert target["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, title
        assert target["expr"].strip(), (title, ref)
    refs = [(panel["id"], t["refId"]) for panel in panels(board) for t in panel.get("targets", [])]
    assert len(refs) == len(set(refs)), "two queries of one panel share a refId"


def test_panels_do_not_overlap():
    """Overlapping gridPos boxes render on top of each other in Grafana."""
    taken: dict[tuple[int, int], str] = {}
    for panel in panels(dashboard()):
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


def test_the_dashboard_shows_what_operators_need():
    """Freshness with value mappings, deadlines, fetch errors, rejections, CRL sizes,
    request rates, latency quantiles and the pre-signed hit ratio are all there."""
    board = dashboard()
    exprs = "\n".join(t["expr"] for _, _, t in queries(board))
    for needed in (
        "revocd_source_freshness",
        "revocd_source_failing",
        "revocd_crl_next_update_timestamp_seconds",
        "revocd_source_last_success_timestamp_seconds",
        'outcome=~"failed|rejected"',
        "revocd_crl_rejected_total",
        "revocd_crl_entries",
        "revocd_ocsp_requests_total",
        "revocd_status_requests_total",
        "histogram_quantile(0.5,",
        "histogram_quantile(0.99,",
        'revocd_ocsp_presigned_total{result="hit"}',
    ):
        assert needed in exprs, needed
    (timeline,) = [p for p in panels(board) if p["type"] == "state-timeline"]
    texts = {
        entry["text"]
        for mapping in timeline["fieldConfig"]["defaults"]["mappings"]
        for entry in mapping["options"].values()
    }
    assert {"fresh", "stale", "expired", "none"} <= texts
    assert any("failing" in text for text in texts)


@pytest.fixture
def served(live: Live) -> Exposition:
    return exposition(live.exposition)


async def test_every_query_reads_series_revocd_exposes(served: Exposition):
    board = dashboard()
    for title, ref, target in queries(board):
        where = f"{title} ({ref})"
        parsed = parse(interpolate(target["expr"], board))
        assert parsed.metrics, f"{where} reads no metric"
        readable: set[str] = set()
        for metric, matchers in parsed.metrics.items():
            assert metric in served.labels, f"{where}: revocd exposes no {metric}"
            readable |= served.labels[metric]
            for label, op, value in matchers:
                assert label in served.labels[metric], f"{where}: {metric} has no label {label}"
                if op in ("=", "=~") and re.fullmatch(r"[\w|]+", value):
                    seen = served.values[metric][label]
                    for alternative in value.split("|"):
                        assert alternative in seen, (
                            f"{where}: no {metric}{{{label}={alternative!r}}}"
                        )
        unknown = parsed.grouping - readable - {"le", "instance", "job"}
        assert not unknown, f"{where}: groups by labels its metrics lack: {unknown}"
        legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
        assert legend <= readable, f"{where}: legend names labels it lacks: {legend - readable}"


async def test_the_partner_variable_lists_the_partners(served: Exposition):
    query = variables(dashboard())["partner"]["query"]["query"]
    metric, label = re.fullmatch(r"label_values\((\w+), (\w+)\)", query).groups()  # type: ignore[union-attr]
    assert served.values[metric][label] == {"acme"}


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("sum(rate(revocd_crl_fetch_total[5m])", "unbalanced"),
        ("sumof(revocd_crl_entries)", "unknown function"),
        ('revocd_crl_entries{partner=~"$nope"}', "not a variable"),
    ],
    ids=["unbalanced", "unknown-function", "unknown-variable"],
)
def test_the_checker_rejects_broken_queries(expr: str, problem: str):
    with pytest.raises(AssertionError, match=problem):
        parse(interpolate(expr, dashboard()))


def test_the_checker_finds_metrics_and_labels():
    parsed = parse(
        'sum by (partner, reason) (rate(revocd_crl_rejected_total{partner=~".*", '
        'reason="rollback"}[5m])) / on (partner) group_left max(revocd_crl_entries)'
    )
    assert parsed.metrics == {
        "revocd_crl_rejected_total": [("partner", "=~", ".*"), ("reason", "=", "rollback")],
        "revocd_crl_entries": [],
    }
    assert parsed.grouping == {"partner", "reason"}


def promtool_rules(tmp_path: Path, exprs: dict[str, str]) -> Path:
    rules = tmp_path / "dashboard-rules.yml"
    rules.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "dashboard",
                        "rules": [{"record": name, "expr": expr} for name, expr in exprs.items()],
                    }
                ]
            }
        )
    )
    return rules


@pytest.mark.peer
def test_prometheus_parses_every_query(tmp_path: Path):
    promtool = need_binary("promtool")
    board = dashboard()
    exprs = {
        f"dashboard:panel{n}_{ref.lower()}": interpolate(target["expr"], board)
        for n, (_, ref, target) in enumerate(queries(board))
    }
    result = subprocess.run(
        [promtool, "check", "rules", str(promtool_rules(tmp_path, exprs))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.peer
def test_the_state_timeline_colours_each_state_as_named(tmp_path: Path):
    """Prometheus evaluates the timeline's query for a source in every state, failing or
    not; each result must be the value the panel's mapping names that way."""
    promtool = need_binary("promtool")
    board = dashboard()
    (timeline,) = [p for p in panels(board) if p["type"] == "state-timeline"]
    (target,) = timeline["targets"]
    mapping = {
        entry["text"]: float(value)
        for m in timeline["fieldConfig"]["defaults"]["mappings"]
        for value, entry in m["options"].items()
    }
    states = ("fresh", "stale", "expired", "none")
    series, expected = [], []
    for state in states:
        for failing in (False, True):
            source = f"{state}{'-failing' if failing else ''}"
            labels = f'partner="acme", issuer="acme-issuing", source="{source}"'
            for candidate in states:
                one = "1" if candidate == state else "0"
                series.append(
                    {
                        "series": f'revocd_source_freshness{{{labels}, state="{candidate}"}}',
                        "values": f"{one}+0x10",
                    }
                )
            series.append(
                {
                    "series": f"revocd_source_failing{{{labels}}}",
                    "values": f"{'1' if failing else '0'}+0x10",
                }
            )
            text = f"{state}, failing" if failing else state
            expected.append({"labels": f"{{{labels}}}", "value": mapping[text]})
    (tmp_path / "empty.yml").write_text("groups: []\n")
    (tmp_path / "timeline.test.yml").write_text(
        yaml.safe_dump(
            {
                "rule_files": ["empty.yml"],
                "tests": [
                    {
                        "interval": "1m",
                        "input_series": series,
                        "promql_expr_test": [
                            {
                                "expr": interpolate(target["expr"], board),
                                "eval_time": "5m",
                                "exp_samples": expected,
                            }
                        ],
                    }
                ],
            }
        )
    )
    result = subprocess.run(
        [promtool, "test", "rules", "timeline.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_sources_table_uses_the_timelines_colours():
    board = dashboard()
    (timeline,) = [p for p in panels(board) if p["type"] == "state-timeline"]
    (table,) = [p for p in panels(board) if p["type"] == "table"]
    state_column = next(
        o for o in table["fieldConfig"]["overrides"] if o["matcher"]["options"] == "state"
    )
    mappings = next(p["value"] for p in state_column["properties"] if p["id"] == "mappings")
    assert mappings == timeline["fieldConfig"]["defaults"]["mappings"]
    assert table["targets"][0]["expr"] == timeline["targets"][0]["expr"]
