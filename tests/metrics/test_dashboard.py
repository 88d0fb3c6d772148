"""docs/grafana-dashboard.json: valid JSON whose queries name only series Gingee exposes."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from gingee_kernel.metrics.export import exposition

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"


def expressions() -> list[str]:
    """Every PromQL expression of the dashboard's panels."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_panels_have_unique_ids_and_queries():
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "job", "app"}
    assert len(expressions()) >= 15


def test_every_series_the_dashboard_reads_is_exposed():
    body, _ = asyncio.run(exposition())
    exposed = set(re.findall(r"^# TYPE (\S+) (\S+)", body.decode(), re.M))
    names = set()
    for name, kind in exposed:
        names.add(name)
        if kind == "histogram":
            names.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
        if kind == "counter":
            names.add(f"{name}_total")
    used = {name for expr in expressions() for name in re.findall(r"\b((?:gingee|process)_\w+)", expr)}
    assert used - names == set()
    for wanted in (
        "gingee_http_requests_total",
        "gingee_http_request_duration_seconds_bucket",
        "gingee_limit_rejections_total",
        "gingee_jobs_total",
        "gingee_websocket_connections",
        "gingee_websocket_fanout_errors_total",
        "gingee_queue_depth",
    ):
        assert wanted in used


def test_latency_quantiles_sum_the_buckets_over_what_they_do_not_show():
    """The duration histogram has a series per method and status class: each quantile sums its buckets
    `by (le, ...)`, so a route's latency covers all of them, and one panel compares the status classes."""
    quantiles = [expr for expr in expressions() if "histogram_quantile(" in expr]
    assert len(quantiles) >= 6
    for expr in quantiles:
        assert re.search(r"histogram_quantile\(0\.\d+, sum by \(le, [a-z_, ]+\) \(rate\(", expr), expr
    http = [expr for expr in quantiles if "gingee_http_request_duration_seconds_bucket" in expr]
    assert any("sum by (le, app, route)" in expr for expr in http)
    assert any("sum by (le, app, status_class)" in expr for expr in http)
