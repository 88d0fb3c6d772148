"""`record_http_request` increments prometheus-client's values directly: it must record exactly what the
children's own `inc()` and `observe()` record, bucket edges included."""

from __future__ import annotations

from bisect import bisect_left

from prometheus_client import CollectorRegistry, Counter, Histogram

from gingee_kernel import metrics


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_fast_recording_matches_the_public_methods():
    amounts = [0.0, 0.001, *metrics.BUCKETS, 0.0050001, 0.3, 7.5, 10.0000001, 120.0]
    registries = []
    for fast in (True, False):
        registry = CollectorRegistry()
        counter = Counter("c_total", "c", ["app"], registry=registry)
        histogram = Histogram("h_seconds", "h", ["app"], buckets=metrics.BUCKETS, registry=registry)
        count, total, buckets, bounds = metrics._series(counter.labels("a"), histogram.labels("a"))
        assert buckets is not None  # this prometheus-client is laid out as expected
        for amount in amounts:
            if fast:
                count(1)
                total(amount)
                buckets[bisect_left(bounds, amount)](1)
            else:
                counter.labels("a").inc()
                histogram.labels("a").observe(amount)
        registries.append(samples(registry))
    assert registries[0] == registries[1]
    assert registries[0][("h_seconds_bucket", (("app", "a"), ("le", "0.005")))] == 3  # 0, 0.001, 0.005


def test_children_laid_out_otherwise_fall_back_to_the_public_methods():
    class Child:
        def inc(self, amount: float = 1) -> None: ...

        def observe(self, amount: float) -> None: ...

    counter, histogram = Child(), Child()
    count, total, buckets, bounds = metrics._series(counter, histogram)
    assert (buckets, bounds) == (None, None)
    assert count.__func__ is Child.inc and total.__func__ is Child.observe


def test_record_http_request_counts_and_observes_once():
    def value(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    labels = {"app": "series-test", "route": "/items/:id", "method": "GET"}
    before = (
        value("gingee_http_requests_total", status_class="2xx", **labels),
        value("gingee_http_request_duration_seconds_bucket", le="0.01", **labels),
        value("gingee_http_request_duration_seconds_bucket", le="0.005", **labels),
        value("gingee_http_request_duration_seconds_sum", **labels),
    )
    metrics.record_http_request("series-test", "/items/:id", "GET", 201, 0.01)
    after = (
        value("gingee_http_requests_total", status_class="2xx", **labels),
        value("gingee_http_request_duration_seconds_bucket", le="0.01", **labels),
        value("gingee_http_request_duration_seconds_bucket", le="0.005", **labels),
        value("gingee_http_request_duration_seconds_sum", **labels),
    )
    assert after[0] - before[0] == 1
    assert after[1] - before[1] == 1
    assert after[2] - before[2] == 0
    assert abs(after[3] - before[3] - 0.01) < 1e-9
