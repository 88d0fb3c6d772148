"""notebooks/09-metrics.ipynb: the bakery's live dashboard, its /metrics series as text and as numbers, a
Grafana-style SVG view of request rate and p99 latency sampled over time (the slow oven shows), a route
driven to exactly 5 requests; and its export counted the same way on `gingee serve`'s /metrics."""

from __future__ import annotations

import re

import pytest

from .workshop import plain


@pytest.fixture
def run(tutorial):
    return tutorial("09-metrics")


def starting(run, prefix: str):
    """The one code cell whose source starts with `prefix`."""
    (found,) = [c for c in run.code_cells() if c.source.startswith(prefix)]
    return found


def test_the_dashboard_and_the_series_it_draws(run) -> None:
    out = run.outputs_by_cell()
    assert "Gingee app 'bakery' is live at /gingee/bakery/" in out["live = app.serve()"]
    board = starting(run, "board = app.dashboard()")
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in board.outputs)
    assert "Gingee app <code>bakery</code>" in plain(board)
    series = out["body, content_type = await exposition()"]
    assert "text/plain; version=0.0.4" in series
    # 20 visitors read the menu; 10 ordered, two of them pizza; plus the first croissant.
    assert (
        'gingee_http_requests_total{app="bakery",method="GET",route="/menu",status_class="2xx"} 20.0'
        in series
    )
    assert 'route="/orders",status_class="2xx"} 9.0' in series and 'status_class="4xx"} 2.0' in series
    numbers = out['def requests_to(route, method="GET"):']
    assert "'GET /menu': {'2xx': 20.0" in numbers and "'POST /orders': {'2xx': 9.0, '4xx': 2.0" in numbers


def test_the_grafana_style_view_shows_the_oven_slowing_down(run) -> None:
    chart = starting(run, "TICK = 0.5")
    (html,) = [o["data"]["text/html"] for o in chart.outputs if "text/html" in o.get("data", {})]
    assert html.count("<svg") == 2 and "Requests per second" in html and "p99 latency (ms)" in html
    assert html.count("<polyline") == 4  # GET /menu and POST /orders in each panel
    assert "GET /menu" in html and "POST /orders" in html
    halves = plain(starting(run, "for half, part in"))
    first, second = (int(m) for m in re.findall(r"p99, \w+ half: (\d+) ms", halves))
    assert first < 50 <= second  # 10 ms of baking, then 60 ms (estimated within their histogram buckets)


def test_the_exercise_drives_the_ping_counter_to_five(run) -> None:
    out = run.outputs_by_cell()
    assert "GET /ping has answered 5 requests" in out['@app.route("/ping")']
    assert "'box/routes/ping.py'" in out['folder = app.export("web")']


def test_gingee_serve_counts_the_exported_routes_on_its_metrics(run, serve, client) -> None:
    server = serve(run.workdir, dev=False)

    def counted(route: str, method: str = "GET", status_class: str = "2xx") -> float:
        text = client.get(server.url("/metrics")).text
        labels = f'app="bakery",method="{method}",route="{route}",status_class="{status_class}"'
        found = re.search(rf"^gingee_http_requests_total\{{{re.escape(labels)}\}} (\S+)$", text, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    before = {key: counted(*key) for key in [("/ping",), ("/menu",), ("/orders", "POST", "4xx")]}
    for _ in range(5):
        assert client.get(server.url("/bakery/ping")).json() == {"pong": True}
    assert client.get(server.url("/bakery/menu")).json() == {"bread": 3.5, "croissant": 1.8, "cake": 12.0}
    refused = client.post(server.url("/bakery/orders"), json={"item": "pizza"})
    assert refused.status_code == 404 and refused.json()["error"] == "NOT_ON_THE_MENU"
    assert counted("/ping") - before[("/ping",)] == 5
    assert counted("/menu") - before[("/menu",)] == 1
    assert counted("/orders", "POST", "4xx") - before[("/orders", "POST", "4xx")] == 1
