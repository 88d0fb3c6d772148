"""HTTP series update prometheus-client's in-process values directly: they must record exactly what the
children's own `inc()` and `observe()` record (bucket edges included), from any number of threads, and
fall back to those methods for values laid out otherwise (multiprocess mode)."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Histogram

from gingee_kernel import metrics

AMOUNTS = [0.0, 0.001, *metrics.BUCKETS, 0.0050001, 0.3, 7.5, 10.0000001, 120.0]


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def children(registry: CollectorRegistry) -> tuple[Counter, Histogram]:
    counter = Counter("c_total", "c", ["app"], registry=registry)
    histogram = Histogram("h_seconds", "h", ["app"], buckets=metrics.BUCKETS, registry=registry)
    return counter, histogram


def test_direct_recording_matches_the_public_methods():
    fast, public = CollectorRegistry(), CollectorRegistry()
    counter, histogram = children(fast)
    series = metrics._series(counter.labels("a"), histogram.labels("a"))
    assert isinstance(series, metrics._InProcessHttpSeries)  # this prometheus-client is laid out as expected
    counter2, histogram2 = children(public)
    for amount in AMOUNTS:
        series.record(amount)
        counter2.labels("a").inc()
        histogram2.labels("a").observe(amount)
    assert samples(fast) == samples(public)
    assert samples(fast)[("h_seconds_bucket", (("app", "a"), ("le", "0.005")))] == 3  # 0, 0.001, 0.005


def test_threads_recording_at_once_lose_nothing():
    registry = CollectorRegistry()
    counter, histogram = children(registry)
    series = metrics._series(counter.labels("a"), histogram.labels("a"))

    def work() -> None:
        for _ in range(20_000):
            series.record(0.001)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert registry.get_sample_value("c_total", {"app": "a"}) == 80_000
    assert registry.get_sample_value("h_seconds_bucket", {"app": "a", "le": "0.005"}) == 80_000
    assert registry.get_sample_value("h_seconds_count", {"app": "a"}) == 80_000


def test_children_laid_out_otherwise_use_the_public_methods():
    class Child:
        def __init__(self) -> None:
            self.calls: list[tuple[str, float]] = []

        def inc(self, amount: float = 1) -> None:
            self.calls.append(("inc", amount))

        def observe(self, amount: float) -> None:
            self.calls.append(("observe", amount))

    counter, histogram = Child(), Child()
    series = metrics._series(counter, histogram)
    assert type(series) is metrics.HttpSeries
    series.record(0.25)
    assert counter.calls == [("inc", 1)] and histogram.calls == [("observe", 0.25)]


def test_record_http_request_counts_and_observes_once():
    def value(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    labels = {"app": "series-test", "route": "/items/:id", "method": "GET"}
    names = [
        ("gingee_http_requests_total", {"status_class": "2xx"}),
        ("gingee_http_request_duration_seconds_bucket", {"le": "0.01"}),
        ("gingee_http_request_duration_seconds_bucket", {"le": "0.005"}),
        ("gingee_http_request_duration_seconds_sum", {}),
    ]
    before = [value(name, **labels, **extra) for name, extra in names]
    metrics.record_http_request("series-test", "/items/:id", "GET", 201, 0.01)
    after = [value(name, **labels, **extra) for name, extra in names]
    assert [b - a for a, b in zip(before, after, strict=True)][:3] == [1, 1, 0]
    assert abs(after[3] - before[3] - 0.01) < 1e-9
