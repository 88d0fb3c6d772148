"""metrics.read: the numbers a notebook dashboard shows, from the same series /metrics exposes."""

from __future__ import annotations

import pytest

from gingee_kernel.metrics import series as metrics
from gingee_kernel.metrics.read import quantile, snapshot


def test_quantile_interpolates_like_prometheus():
    buckets = ((0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (float("inf"), 100.0))
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.7, buckets) == pytest.approx(0.3)
    assert quantile(0.25, buckets) == pytest.approx(0.05)
    assert quantile(0.99, buckets) == pytest.approx(0.95)
    assert quantile(0.99, ((1.0, 1.0), (float("inf"), 2.0))) == 1.0  # in +Inf: the last finite bound
    assert quantile(0.5, ((1.0, 0.0), (float("inf"), 0.0))) is None


def test_snapshot_of_an_app_and_diffs_between_snapshots():
    app = "dash-app"
    for seconds in (0.004, 0.004, 0.3):
        metrics.record_http_request(app, "/items/:id", "GET", 200, seconds)
    metrics.record_http_request(app, "/items/:id", "GET", 500, 0.02)
    metrics.record_limit_rejection(app, "timeout")
    metrics.record_job(app, "mail", "succeeded")
    metrics.record_cache_lookup(app, hit=True)
    metrics.record_http_request("other-app", "/items/:id", "GET", 200, 9.0)
    first = snapshot(app)
    route = first.routes[("/items/:id", "GET")]
    assert route.requests == 4 and route.errors == 1
    assert route.latency(0.5) == pytest.approx(0.005)  # rank 2 of 4 is the top of the 5 ms bucket
    assert route.latency(0.99) is not None and 0.25 < route.latency(0.99) <= 0.5
    assert first.limit_rejections == {"timeout": 1}
    assert first.jobs == {"mail": {"succeeded": 1}}
    assert first.cache == {"hit": 1}

    metrics.record_http_request(app, "/items/:id", "GET", 200, 2.0)
    recent = snapshot(app).routes[("/items/:id", "GET")].since(route)
    assert recent.requests == 1 and recent.errors == 0
    assert 1.0 < recent.latency(0.5) <= 2.5


def test_a_routes_latency_sums_its_status_classes():
    app = "dash-classes"
    for seconds in (0.004, 0.004):
        metrics.record_http_request(app, "/items/:id", "GET", 200, seconds)
    for seconds in (0.3, 0.3):
        metrics.record_http_request(app, "/items/:id", "GET", 404, seconds)
    route = snapshot(app).routes[("/items/:id", "GET")]
    assert route.by_class == {"2xx": 2, "4xx": 2}
    assert route.buckets[-1] == (float("inf"), 4)  # one set of buckets: both classes added up
    assert [le for le, _ in route.buckets] == [*metrics.BUCKETS, float("inf")]
    assert dict(route.buckets)[0.005] == 2 and dict(route.buckets)[0.5] == 4
    assert route.seconds == pytest.approx(0.608)
    assert route.latency(0.5) == pytest.approx(0.005)
    assert 0.25 < route.latency(0.99) <= 0.5
