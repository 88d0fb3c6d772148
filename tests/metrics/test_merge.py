"""metrics.merge: a live kernel's Gingee series join the server's exposition once, parseable."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gingee_kernel.metrics.merge import Merged


def _registry(app: str) -> CollectorRegistry:
    registry = CollectorRegistry()
    requests = Counter("gingee_http_requests", "Requests.", ["app"], registry=registry)
    requests.labels(app).inc(3 if app == "disk" else 5)
    Gauge("gingee_build_info", "Build.", ["version"], registry=registry).labels("1").set(1)
    Gauge("process_open_fds", "Fds.", registry=registry).set(7 if app == "disk" else 99)
    return registry


def test_kernel_samples_are_added_once_and_process_series_stay_the_servers() -> None:
    kernel = generate_latest(_registry("live")).decode()
    merged = generate_latest(Merged(_registry("disk").collect(), [kernel, kernel]))  # type: ignore[arg-type]
    samples = [
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for family in text_string_to_metric_families(merged.decode())
        for s in family.samples
        if not s.name.endswith("_created")
    ]
    assert ("gingee_http_requests_total", (("app", "disk"),), 3.0) in samples
    assert ("gingee_http_requests_total", (("app", "live"),), 5.0) in samples
    assert [s for s in samples if s[0] == "gingee_build_info"] == [
        ("gingee_build_info", (("version", "1"),), 1.0)
    ]
    assert [s for s in samples if s[0] == "process_open_fds"] == [("process_open_fds", (), 7.0)]
    assert len(samples) == len(set(samples))
