"""HTTP series update prometheus-client's in-process values directly: they must record exactly what the
children's own `inc()` and `observe()` record (bucket edges included), from any number of threads, and
fall back to those methods for values laid out otherwise (multiprocess mode)."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Histogram

from gingee_kernel import metrics

AMOUNTS = [0.0, 0.001, *metrics.BUCKETS, 0.0050001, 0.3, 7.5, 10.0000001, 120.0]
LABELS = ("app", "route", "method", "status_class")  # what HTTP_REQUESTS and HTTP_DURATION are labelled by
OK = ("a", "/items/:id", "GET", "2xx")
MISSING = ("a", "/items/:id", "GET", "4xx")


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def children(registry: CollectorRegistry) -> tuple[Counter, Histogram]:
    counter = Counter("c_total", "c", LABELS, registry=registry)
    histogram = Histogram("h_seconds", "h", LABELS, buckets=metrics.BUCKETS, registry=registry)
    return counter, histogram


def test_the_test_metrics_are_labelled_as_the_real_ones():
    assert metrics.HTTP_REQUESTS._labelnames == LABELS
    assert metrics.HTTP_DURATION._labelnames == LABELS


def test_direct_recording_matches_the_public_methods():
    fast, public = CollectorRegistry(), CollectorRegistry()
    counter, histogram = children(fast)
    ok = metrics._series(counter.labels(*OK), histogram.labels(*OK))
    missing = metrics._series(counter.labels(*MISSING), histogram.labels(*MISSING))
    assert isinstance(ok, metrics._InProcessHttpSeries)  # this prometheus-client is laid out as expected
    counter2, histogram2 = children(public)
    for amount in AMOUNTS:
        ok.record(amount)
        counter2.labels(*OK).inc()
        histogram2.labels(*OK).observe(amount)
    for amount in AMOUNTS[::3]:
        missing.record(amount)
        counter2.labels(*MISSING).inc()
        histogram2.labels(*MISSING).observe(amount)
    assert samples(fast) == samples(public)
    ok_bucket = tuple(sorted([*zip(LABELS, OK, strict=True), ("le", "0.005")]))
    missing_labels = tuple(sorted(zip(LABELS, MISSING, strict=True)))
    assert samples(fast)[("h_seconds_bucket", ok_bucket)] == 3  # 0, 0.001, 0.005
    assert samples(fast)[("h_seconds_count", missing_labels)] == len(AMOUNTS[::3])


def test_threads_recording_at_once_lose_nothing():
    registry = CollectorRegistry()
    counter, histogram = children(registry)
    ok = metrics._series(counter.labels(*OK), histogram.labels(*OK))
    missing = metrics._series(counter.labels(*MISSING), histogram.labels(*MISSING))

    def work(series: metrics.HttpSeries) -> None:
        for _ in range(20_000):
            series.record(0.001)

    threads = [threading.Thread(target=work, args=(series,)) for series in (ok, missing, ok, missing)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for values in (OK, MISSING):
        labels = dict(zip(LABELS, values, strict=True))
        assert registry.get_sample_value("c_total", labels) == 40_000
        assert registry.get_sample_value("h_seconds_bucket", {**labels, "le": "0.005"}) == 40_000
        assert registry.get_sample_value("h_seconds_count", labels) == 40_000


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


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_record_http_request_counts_and_observes_once():
    labels = {"app": "series-test", "route": "/items/:id", "method": "GET", "status_class": "2xx"}
    names = [
        ("gingee_http_requests_total", {}),
        ("gingee_http_request_duration_seconds_bucket", {"le": "0.01"}),
        ("gingee_http_request_duration_seconds_bucket", {"le": "0.005"}),
        ("gingee_http_request_duration_seconds_sum", {}),
    ]
    before = [value(name, **labels, **extra) for name, extra in names]
    metrics.record_http_request("series-test", "/items/:id", "GET", 201, 0.01)
    after = [value(name, **labels, **extra) for name, extra in names]
    assert [b - a for a, b in zip(before, after, strict=True)][:3] == [1, 1, 0]
    assert abs(after[3] - before[3] - 0.01) < 1e-9


def test_each_status_class_has_its_own_cached_series():
    ok = metrics.http_series("class-test", "/items/:id", "GET", 200)
    assert metrics.http_series("class-test", "/items/:id", "GET", 204) is ok  # one series per class
    missing = metrics.http_series("class-test", "/items/:id", "GET", 404)
    assert isinstance(ok, metrics._InProcessHttpSeries) and isinstance(missing, metrics._InProcessHttpSeries)
    assert missing.histogram is not ok.histogram
    assert ok.counter is metrics.HTTP_REQUESTS.labels("class-test", "/items/:id", "GET", "2xx")
    assert ok.histogram is metrics.HTTP_DURATION.labels("class-test", "/items/:id", "GET", "2xx")
    assert missing.histogram is metrics.HTTP_DURATION.labels("class-test", "/items/:id", "GET", "4xx")
    assert metrics.http_series("class-test", "/items/:id", "BREW", 404).histogram is (
        metrics.HTTP_DURATION.labels("class-test", "/items/:id", "other", "4xx")
    )

    metrics.record_http_request("class-test", "/items/:id", "GET", 404, 0.001)
    metrics.record_http_request("class-test", "/items/:id", "GET", 200, 0.3)
    labels = {"app": "class-test", "route": "/items/:id", "method": "GET"}
    bucket = "gingee_http_request_duration_seconds_bucket"
    assert value(bucket, **labels, status_class="4xx", le="0.005") == 1
    assert value(bucket, **labels, status_class="2xx", le="0.005") == 0
    assert value(bucket, **labels, status_class="2xx", le="0.5") == 1
    assert value("gingee_http_request_duration_seconds_count", **labels, status_class="4xx") == 1
