"""Prometheus and Grafana objects: the alert rules pass `promtool check rules` and their unit tests
(`promtool test rules`), the dashboard's queries are valid PromQL, and both use the metric names services expose.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml
from prometheus_client.metrics import MetricWrapperBase

from gridlink.runtime import metrics
from gridlink.runtime.config import REPO_ROOT
from tests.tools import promtool

MONITORING = REPO_ROOT / "deploy" / "base" / "monitoring"
SERIES_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
# The series names lib/gridlink/runtime/metrics.py exposes, as Prometheus stores them.
RUNTIME_METRICS = {
    value._name + suffix
    for value in vars(metrics).values()
    if isinstance(value, MetricWrapperBase)
    for suffix in SERIES_SUFFIXES[value._type]
}


def rule_groups() -> list[dict]:
    return yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())["spec"]["groups"]


def write_rules(folder: Path) -> Path:
    path = folder / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule_groups()}, sort_keys=False))
    return path


def test_alert_rules_pass_promtool_check(tmp_path):
    checked = subprocess.run(
        [promtool(), "check", "rules", str(write_rules(tmp_path))], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_alert_rules_fire_as_their_unit_tests_expect(tmp_path):
    write_rules(tmp_path)
    shutil.copy(MONITORING / "tests" / "rules-test.yaml", tmp_path / "rules-test.yaml")
    tested = subprocess.run(
        [promtool(), "test", "rules", "rules-test.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_unit_test_and_the_issue_s_alerts_exist():
    alerts = {rule["alert"] for group in rule_groups() for rule in group["rules"]}
    cases = yaml.safe_load((MONITORING / "tests" / "rules-test.yaml").read_text())["tests"]
    tested = {case["alertname"] for test in cases for case in test.get("alert_rule_test", [])}
    untested_on_purpose = {"GridLinkNoReadyReplica", "GridLinkHandlerSlow"}  # kube-state-metrics / histogram maths
    assert alerts - tested == untested_on_purpose
    for needed in ("ServiceDown", "DeadLetters", "OutboxLag", "OverdueCases", "NotificationFailure", "QueueDepth"):
        assert any(needed in alert for alert in alerts), needed


def expressions() -> list[str]:
    rules = [rule["expr"] for group in rule_groups() for rule in group["rules"]]
    dashboard = json.loads((MONITORING / "dashboards" / "gridlink.json").read_text())
    return rules + [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_the_plumbing_metrics_queried_are_the_ones_the_runtime_exposes():
    used = {name for expr in expressions() for name in re.findall(r"\b(gridlink_[a-z_]+)\b", expr)}
    # Business metrics (gridlink_<service>_…) belong to the services and are matched loosely.
    plumbing = {name for name in used if not re.match(r"gridlink_(dispatch|mediation|volunteer|notification)_", name)}
    assert plumbing, "the rules and dashboard must watch the runtime's metrics"
    assert plumbing - RUNTIME_METRICS == set()


def test_dashboard_has_business_and_technical_panels_and_valid_promql(tmp_path):
    dashboard = json.loads((MONITORING / "dashboards" / "gridlink.json").read_text())
    titles = {panel["title"] for panel in dashboard["panels"]}
    for title in (
        "Cases by state and tier",
        "Overdue cases",
        "Satisfaction",
        "Volunteer orders",
        "Mediation deadlines",
    ):
        assert title in titles
    for title in ("Events consumed", "Handler latency (p50, p95)", "Outbox lag", "Dead letters", "Delivery failures"):
        assert title in titles
    # promtool has no expression checker, so each query becomes a recording rule, with Grafana's variables
    # replaced by what Grafana would send.
    queries = [
        target["expr"].replace("$__rate_interval", "1m").replace("$__range", "6h").replace("$service", ".*")
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    rules = [{"record": f"gridlink:dashboard_query_{i}", "expr": query} for i, query in enumerate(queries)]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
