"""The alert rules, their unit tests and the Grafana dashboard, checked with promtool.

promtool (Debian's ``prometheus`` package; ``.ci/run`` installs it) checks the rule files, runs
the rule unit tests under deploy/prometheus/tests/ and the Prometheus configuration, and parses
every query of the dashboard (written into a temporary rule file as recording rules). Without
promtool these tests skip, and fail under ``CI=true``. The rest is static: every metric a rule or
a panel reads is one webcap (each app's ``metrics.py``, ``observability/``) or django-prometheus
defines, every alert has a
runbook section in docs/operations.md and a firing and a quiet unit test, and the codes that
burn the error budget are the error table's server-side ones.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from a2a import metrics as a2a_metrics
from a2a.protocol import errors
from assistant import metrics as assistant_metrics
from common import metrics as common_metrics
from observability import workers as job_metrics
from observability.collector import StateCollector
from observability.heartbeat import worker_heartbeat_store
from tests.binaries import binaries_require
from tools import metrics as tools_metrics

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules"
RULE_TESTS = PROMETHEUS / "tests"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
OPERATIONS = ROOT / "docs" / "operations.md"
PROMTOOL_TIMEOUT = 120

# What Grafana puts in place of its built-in variables before the query reaches Prometheus.
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "${__rate_interval}": "5m",
    "$__interval": "1m",
    "${__interval}": "1m",
    "$__range": "6h",
    "${__range}": "6h",
}
METRIC_NAME = re.compile(r"\b((?:webcap|django)_[a-zA-Z0-9_]*[a-zA-Z0-9])\b")
# The samples each family type exposes (prometheus_client's text format).
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}
PANEL_ROWS = {"Traffic", "Latency", "Errors", "Tasks", "Tools", "LLM", "Connections", "Workers"}


def _promtool() -> str:
    """Return the promtool path, or skip (fail under CI) when it is not installed."""
    hint = "apt-get install prometheus; .ci/run does"
    return binaries_require("promtool", hint=hint)["promtool"]


def _run_promtool(*args: str | Path) -> str:
    """Run promtool with args; fail the test with its output when it does not succeed."""
    result = subprocess.run(
        [_promtool(), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT,
        cwd=ROOT,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def _rule_files() -> list[Path]:
    files = sorted(RULES.glob("*.yml"))
    assert files, "no rule files"
    return files


def _rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for path in _rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(group["rules"])
    return rules


def _alerts() -> list[dict[str, Any]]:
    alerts = [rule for rule in _rules() if "alert" in rule]
    assert len(alerts) >= 10, "the rule files lost their alerts"
    return alerts


def _dashboards() -> dict[str, dict[str, Any]]:
    paths = sorted(DASHBOARDS.glob("*.json"))
    assert paths, "no dashboards"
    return {path.name: json.loads(path.read_text()) for path in paths}


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Yield every panel, the ones inside (collapsed) rows included."""
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _grafana_to_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def _dashboard_queries() -> list[tuple[str, str]]:
    """Return (record name, PromQL) for every query of every dashboard."""
    queries = []
    for name, dashboard in _dashboards().items():
        slug = re.sub(r"\W", "_", name.removesuffix(".json"))
        for panel in _panels(dashboard["panels"]):
            for n, target in enumerate(panel.get("targets", [])):
                expr = _grafana_to_promql(target["expr"])
                assert "$" not in expr, f"{name} panel {panel['id']}: unknown variable in {expr}"
                queries.append((f"dashboard:{slug}_panel_{panel['id']}_{n}", expr))
    assert len(queries) > 30, "the dashboard lost its queries"
    return queries


def test_rule_files_pass_promtool_check():
    output = _run_promtool("check", "rules", *_rule_files())
    assert "SUCCESS" in output


def test_rule_unit_tests_pass():
    tests = sorted(RULE_TESTS.glob("*.yml"))
    assert tests, "no rule unit tests"
    output = _run_promtool("test", "rules", *tests)
    assert output.count("SUCCESS") == len(tests), output


def test_prometheus_config_passes_promtool_check_and_loads_the_rules():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["rules/*.yml"]
    output = _run_promtool("check", "config", PROMETHEUS / "prometheus.yml")
    assert f"SUCCESS: {len(_rule_files())} rule files found" in output
    # docker-compose.yml mounts the rules beside the configuration.
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    volumes = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in volumes


def test_every_dashboard_query_passes_promtool(tmp_path):
    queries = _dashboard_queries()
    records = [{"record": record, "expr": expr} for record, expr in queries]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    output = _run_promtool("check", "rules", path)
    assert f"SUCCESS: {len(records)} rules found" in output


def test_dashboard_shape():
    for name, dashboard in _dashboards().items():
        assert dashboard["schemaVersion"] >= 39, name
        assert dashboard["uid"] == name.removesuffix(".json"), name
        assert dashboard["title"], name
        assert dashboard["id"] is None, f"{name}: provisioned dashboards carry no database id"
        (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
        assert (variable["name"], variable["query"]) == ("datasource", "prometheus"), name
        panels = list(_panels(dashboard["panels"]))
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        cells: set[tuple[int, int]] = set()
        for panel in panels:
            grid = panel["gridPos"]
            assert grid["x"] >= 0, (name, panel["id"])
            assert grid["x"] + grid["w"] <= 24, (name, panel["id"])
            covered = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not covered & cells, f"{name}: panel {panel['id']} overlaps another"
            cells |= covered
            if panel["type"] == "row":
                continue
            # Every query goes to the datasource the variable picks.
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel
            assert panel["targets"], (name, panel["id"])
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"], (name, panel["id"])
    overview = _dashboards()["webcap-overview.json"]
    rows = {panel["title"] for panel in overview["panels"] if panel["type"] == "row"}
    assert rows >= PANEL_ROWS


def test_grafana_provisioning_loads_the_dashboards():
    providers = GRAFANA / "provisioning" / "dashboards" / "webcap.yml"
    (provider,) = yaml.safe_load(providers.read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    volumes = compose["services"]["grafana"]["volumes"]
    assert "./deploy/grafana/dashboards:/etc/grafana/dashboards:ro" in volumes
    datasources = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
    (source,) = yaml.safe_load(datasources.read_text())["datasources"]
    assert source["type"] == "prometheus"


def _defined_metric_names() -> set[str]:
    """Return the sample names of webcap's metrics (each app's) and django-prometheus's."""
    families: list[tuple[str, str]] = []
    for module in (a2a_metrics, tools_metrics, assistant_metrics, common_metrics, job_metrics):
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                families.extend((family.name, family.type) for family in value.collect())
    # The families read at scrape time (the heartbeat only once a worker stored one).
    worker_heartbeat_store()
    families.extend((f.name, f.type) for f in StateCollector().collect())
    # django-prometheus's request families (created with its first middleware instance).
    django_metrics = importlib.import_module("django_prometheus.middleware").Metrics
    for value in vars(django_metrics.get_instance()).values():
        if isinstance(value, MetricWrapperBase):
            families.extend((family.name, family.type) for family in value.collect())
    return {name + suffix for name, kind in families for suffix in SUFFIXES[kind]}


@pytest.mark.django_db
def test_every_metric_used_is_defined():
    defined = _defined_metric_names()
    assert "webcap_a2a_requests_total" in defined
    assert "webcap_worker_heartbeat_timestamp_seconds" in defined
    assert "django_http_requests_latency_seconds_by_view_method_bucket" in defined
    used: dict[str, set[str]] = {}
    for rule in _rules():
        for name in METRIC_NAME.findall(rule["expr"]):
            used.setdefault(name, set()).add(rule.get("alert") or rule["record"])
    for record, expr in _dashboard_queries():
        for name in METRIC_NAME.findall(expr):
            used.setdefault(name, set()).add(record)
    assert len(used) > 20, "the metric name pattern is out of date"
    unknown = {name: sorted(where) for name, where in used.items() if name not in defined}
    assert not unknown, f"not defined by webcap's metrics or django-prometheus: {unknown}"


def _github_anchors(markdown: str) -> set[str]:
    """Return the anchors GitHub gives the headings of a Markdown text (not in code blocks)."""
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)
    anchors = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", prose, re.M):
        anchors.add(re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-"))
    return anchors


def test_every_alert_is_labelled_and_has_a_runbook():
    anchors = _github_anchors(OPERATIONS.read_text())
    names = [alert["alert"] for alert in _alerts()]
    assert len(names) == len(set(names)), "duplicate alert names"
    for alert in _alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in {"critical", "warning"}, name
        annotations = alert["annotations"]
        assert annotations["summary"].strip(), name
        assert annotations["description"].strip(), name
        url = annotations["runbook_url"]
        assert url == f"docs/operations.md#{name.lower()}", name
        assert url.split("#", 1)[1] in anchors, f"{name}: no section {url} in docs/operations.md"


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in sorted(RULE_TESTS.glob("*.yml")):
        suite = yaml.safe_load(path.read_text())
        assert suite["rule_files"] == ["../rules/webcap.yml"], path
        for case in suite["tests"]:
            for check in case.get("alert_rule_test", []):
                expected = check.get("exp_alerts") or []
                (fired if expected else quiet).add(check["alertname"])
                for alert in expected:
                    # Labels and annotations are asserted, the runbook link included.
                    assert alert["exp_labels"]["severity"], (path, check["alertname"])
                    assert alert["exp_annotations"]["runbook_url"], (path, check["alertname"])
    names = {alert["alert"] for alert in _alerts()}
    assert names - fired == set(), "alerts no unit test fires"
    assert names - quiet == set(), "alerts no unit test keeps quiet"


def _error_classes(cls: type[errors.A2AError]) -> Iterator[type[errors.A2AError]]:
    yield cls
    for subclass in cls.__subclasses__():
        yield from _error_classes(subclass)


def test_server_side_error_codes_are_the_error_tables_5xx_codes():
    server = {cls.code for cls in _error_classes(errors.A2AError) if cls.http_status >= 500}
    client = {cls.code for cls in _error_classes(errors.A2AError) if cls.http_status < 500}
    assert server == {-32603, -32006}
    # A code is one or the other, never both (the SLO counts codes, not statuses).
    assert not server & client
    texts = [rule["expr"] for rule in _rules()]
    texts += [expr for _, expr in _dashboard_queries()]
    selectors = [match for text in texts for match in re.findall(r'code=~"([^"]+)"', text)]
    assert selectors, "no server-side error selector found"
    for selector in selectors:
        assert {int(code) for code in selector.split("|")} == server, selector
