"""docs/monitoring/: the Prometheus alert rules and the Grafana dashboard parse, and every
``bulwark_*`` metric they name is one the code exports (read from the metric definitions in
agent/ and vault/, cross-checked against the node daemon's real registry)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from bulwark.agent.daemon.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent
MONITORING = ROOT / "docs" / "monitoring"
_DEFINED = re.compile(
    r"\b(Gauge|Counter|Histogram|Summary)(?:MetricFamily)?\(\s*\"(bulwark_\w+)\"")
_NAMED = re.compile(r"\bbulwark_\w+")
_SUFFIXES = {"Gauge": ("",), "Counter": ("_total",), "Histogram": ("_bucket", "_sum", "_count"),
             "Summary": ("_sum", "_count")}


def exported() -> set[str]:
    """Every series name the code's metric definitions expose."""
    names = set()
    for package in ("agent", "vault"):
        for path in (ROOT / package).rglob("*.py"):
            for kind, name in _DEFINED.findall(path.read_text(encoding="utf-8")):
                base = name.removesuffix("_total") if kind == "Counter" else name
                names.update(base + suffix for suffix in _SUFFIXES[kind])
    return names


def test_the_definitions_read_match_a_real_registry():
    names = exported()
    series = {f.name + ("_total" if f.type == "counter" else "")
              for f in Metrics().registry.collect()}
    assert len(series) >= 15 and series <= names, series - names
    assert {"bulwark_vault_certificate_expiry_timestamp_seconds",
            "bulwark_airgap_lag_seconds", "bulwark_vault_snapshots_marked_total",
            "bulwark_vault_node_stored_bytes_limit"} <= names


def test_alert_rules_parse_and_name_exported_metrics():
    doc = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    names, seen = exported(), set()
    rules = [rule for group in doc["groups"] for rule in group["rules"]]
    assert len(rules) >= 10
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["alert"] not in seen and rule["alert"].startswith("Bulwark")
        seen.add(rule["alert"])
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        expr = rule["expr"]
        assert expr.count("(") == expr.count(")") and expr.count("[") == expr.count("]")
        metrics = set(_NAMED.findall(expr))
        assert metrics or 'up{job="bulwark-' in expr, rule["alert"]
        assert metrics <= names, f"{rule['alert']}: {metrics - names} is not exported"


def test_dashboard_parses_and_names_exported_metrics():
    doc = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    names = exported()
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids)) >= 10
    for panel in doc["panels"]:
        for target in panel["targets"]:
            metrics = set(_NAMED.findall(target["expr"]))
            assert metrics and metrics <= names, f"{panel['title']}: {metrics - names}"
