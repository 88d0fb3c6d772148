"""prometheus-client's multiprocess mode: series recorded by several processes are summed on one scrape
(what `gingee serve --workers N` will rely on once clustering lands)."""

from __future__ import annotations

import os
import subprocess
import sys

from .helpers import Scrape

WORKER = """
from gingee_kernel.metrics import series as metrics
assert metrics.MULTIPROCESS and isinstance(metrics.HTTP, metrics.SharedHttpMetrics)
assert type(metrics.http_series("mp", "/items/:id", "GET", 200)) is metrics.SharedHttpSeries  # files
metrics.record_http_request("mp", "/items/:id", "GET", 200, 0.02)
metrics.record_http_request("mp", "/items/:id", "GET", 404, 0.002)
metrics.record_job("mp", "mail", "succeeded")
metrics.record_job_duration("mp", "mail", 0.3)
"""

SCRAPER = """
import asyncio, sys
from gingee_kernel.metrics.export import exposition
body, content_type = asyncio.run(exposition())
sys.stdout.write(body.decode())
"""


def run(code: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_series_of_every_process_are_summed(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    run(WORKER, env)
    run(WORKER, env)
    scrape = Scrape.parse(run(SCRAPER, env))
    labels = {"app": "mp", "route": "/items/:id", "method": "GET", "status_class": "2xx"}
    assert scrape.value("gingee_http_requests_total", **labels) == 2
    assert scrape.value("gingee_http_request_duration_seconds_bucket", le="0.025", **labels) == 2
    assert scrape.value("gingee_http_request_duration_seconds_bucket", le="0.01", **labels) == 0
    labels["status_class"] = "4xx"  # its own histogram, summed over the processes too
    assert scrape.value("gingee_http_requests_total", **labels) == 2
    assert scrape.value("gingee_http_request_duration_seconds_bucket", le="0.005", **labels) == 2
    assert scrape.value("gingee_http_request_duration_seconds_count", **labels) == 2
    assert scrape.value("gingee_jobs_total", app="mp", job_name="mail", event="succeeded") == 2
    assert scrape.value("gingee_job_duration_seconds_count", app="mp", job_name="mail") == 2
    assert scrape.value("gingee_build_info", version="0.1.0") == 1
    assert "process_resident_memory_bytes" not in scrape.text  # per-process series are left out
