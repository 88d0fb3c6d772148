"""Prometheus's own tools on our output: `promtool check metrics`, and a real Prometheus server scraping
`gingee serve` (with a bearer token) and answering a query. Both need Debian's `prometheus` package."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time

import httpx
import pytest

from .helpers import scrape
from .test_dashboard import expressions

TOKEN = "prom-" + "y" * 27
FILES = {
    "gingee.json": {"metrics": {"bearer_token": TOKEN}},
    "web/promapp/box/app.json": {"name": "promapp"},
    "web/promapp/box/routes.json": {"routes": [{"path": "/items/:id", "method": "ALL", "script": "item.py"}]},
    "web/promapp/box/item.py": "async def handle(g):\n    g.response.send({'id': g.request.params['id']})\n",
    "web/promapp/box/boom.py": "async def handle(g):\n    raise RuntimeError('boom')\n",
}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(
            f"{tool} not found: install Debian's `prometheus` package (apt-get install -y prometheus)"
        )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(make_project, serve, client):
    running = serve(make_project(FILES), dev=False)
    for path in ("/promapp/items/1", "/promapp/items/2?q=x", "/promapp/boom", "/promapp/nothing.txt"):
        client.get(running.url(path))
    client.post(running.url("/promapp/items/3"), json={"a": 1})
    return running


@pytest.mark.prometheus
def test_promtool_accepts_the_exposition(server, client):
    promtool = need("promtool")
    text = client.get(server.url("/metrics"), headers=AUTH).text
    assert 'route="/items/:id"' in text
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.prometheus
def test_a_real_prometheus_scrapes_gingee_serve(server, client, tmp_path):
    prometheus = need("prometheus")
    port = free_port()
    config = {  # JSON is YAML
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": "gingee",
                "authorization": {"credentials": TOKEN},
                "static_configs": [{"targets": [f"127.0.0.1:{server.port}"]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    query = 'sum by (route, method, status_class) (gingee_http_requests_total{app="promapp"})'
    found: dict[tuple[str, str, str], float] = {}
    try:
        with httpx.Client(timeout=5) as http:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    reply = http.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": query})
                    results = reply.json()["data"]["result"] if reply.status_code == 200 else []
                except httpx.TransportError:
                    results = []
                if results:
                    for series in results:
                        labels = series["metric"]
                        key = (labels["route"], labels["method"], labels["status_class"])
                        found[key] = float(series["value"][1])
                    break
                time.sleep(0.5)
            up = http.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": 'up{job="gingee"}'})
            # Every query of docs/grafana-dashboard.json is PromQL this Prometheus accepts.
            dashboard_errors = []
            for expr in expressions():
                expr = expr.replace("$__rate_interval", "1m").replace("$job", "gingee").replace("$app", ".*")
                answer = http.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": expr}).json()
                if answer["status"] != "success":
                    dashboard_errors.append((expr, answer.get("error")))
    finally:
        process.terminate()
        process.wait(30)
        log.close()
    assert found, "Prometheus never scraped gingee: " + (tmp_path / "prometheus.log").read_text()[-2000:]
    # Prometheus holds what gingee's /metrics says (other tests in this process may have added to it).
    ours = scrape(client, server.url("/metrics"), **AUTH)
    expected = {
        (labels["route"], labels["method"], labels["status_class"]): ours.value(
            "gingee_http_requests_total", **labels
        )
        for labels in ours.labelsets("gingee_http_requests_total")
        if labels["app"] == "promapp"
    }
    assert found == expected
    assert found[("/items/:id", "GET", "2xx")] >= 2
    assert found[("/items/:id", "POST", "2xx")] >= 1
    assert found[("/boom", "GET", "5xx")] >= 1
    assert found[("static", "GET", "4xx")] >= 1
    assert up.json()["data"]["result"][0]["value"][1] == "1"
    assert dashboard_errors == []
