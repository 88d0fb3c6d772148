"""HTTP series: `HttpCollector`'s plain floats must scrape exactly as prometheus-client's own Counter and
Histogram record the same requests (bucket edges included), from any number of threads; multiprocess mode
records through those metrics' public methods."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, generate_latest

from gingee_kernel.metrics import series as metrics

AMOUNTS = [0.0, 0.001, *metrics.BUCKETS, 0.0050001, 0.3, 7.5, 10.0000001, 120.0]
OK = ("a", "/items/:id", "GET", "2xx")
MISSING = ("a", "/items/:id", "GET", "4xx")


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def record_both(amounts_ok: list[float], amounts_missing: list[float]) -> tuple[CollectorRegistry, ...]:
    """The same requests recorded by an HttpCollector and by prometheus-client's own metrics."""
    fast, public = CollectorRegistry(), CollectorRegistry()
    collector, shared = metrics.HttpCollector(fast), metrics.SharedHttpMetrics(public)
    for labels, amounts in ((OK, amounts_ok), (MISSING, amounts_missing)):
        for amount in amounts:
            collector.add(labels).record(amount)
            shared.add(labels).record(amount)
    return fast, public


def test_the_collector_scrapes_as_prometheus_client_records():
    fast, public = record_both(AMOUNTS, AMOUNTS[::3])
    assert samples(fast) == samples(public)
    ok_bucket = tuple(sorted([*zip(metrics.HTTP_LABELS, OK, strict=True), ("le", "0.005")]))
    missing_labels = tuple(sorted(zip(metrics.HTTP_LABELS, MISSING, strict=True)))
    assert samples(fast)[("gingee_http_request_duration_seconds_bucket", ok_bucket)] == 3  # 0, 0.001, 0.005
    assert samples(fast)[("gingee_http_request_duration_seconds_count", missing_labels)] == len(AMOUNTS[::3])


def test_the_exposition_is_the_same_text_apart_from_created_times():
    fast, public = record_both([0.02, 0.3], [0.001])

    def lines(registry: CollectorRegistry) -> list[str]:
        return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]

    assert sorted(lines(fast)) == sorted(lines(public))
    created = [line for line in generate_latest(fast).decode().splitlines() if line.startswith("gingee_")]
    assert sum("_created{" in line for line in created) == 4  # a counter and a histogram per series


def test_an_empty_collector_still_declares_both_families():
    registry = CollectorRegistry()
    metrics.HttpCollector(registry)
    text = generate_latest(registry).decode()
    assert "# TYPE gingee_http_requests_total counter" in text
    assert "# TYPE gingee_http_request_duration_seconds histogram" in text


def test_threads_recording_at_once_lose_nothing():
    registry = CollectorRegistry()
    collector = metrics.HttpCollector(registry)
    ok, missing = collector.add(OK), collector.add(MISSING)

    def work(series: metrics.HttpSeries) -> None:
        for _ in range(20_000):
            series.record(0.001)

    threads = [threading.Thread(target=work, args=(series,)) for series in (ok, missing, ok, missing)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for values in (OK, MISSING):
        labels = dict(zip(metrics.HTTP_LABELS, values, strict=True))
        assert registry.get_sample_value("gingee_http_requests_total", labels) == 40_000
        bucket = {**labels, "le": "0.005"}
        assert registry.get_sample_value("gingee_http_request_duration_seconds_bucket", bucket) == 40_000
        assert registry.get_sample_value("gingee_http_request_duration_seconds_count", labels) == 40_000


def test_one_process_records_plain_floats():
    assert not metrics.MULTIPROCESS
    assert isinstance(metrics.HTTP, metrics.HttpCollector)
    assert type(metrics.http_series("plain-test", "/", "GET", 200)) is metrics.HttpSeries


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
    assert missing is not ok
    assert ok is metrics.HTTP.add(("class-test", "/items/:id", "GET", "2xx"))
    assert missing is metrics.HTTP.add(("class-test", "/items/:id", "GET", "4xx"))
    assert metrics.http_series("class-test", "/items/:id", "BREW", 404) is (
        metrics.HTTP.add(("class-test", "/items/:id", "other", "4xx"))
    )

    metrics.record_http_request("class-test", "/items/:id", "GET", 404, 0.001)
    metrics.record_http_request("class-test", "/items/:id", "GET", 200, 0.3)
    labels = {"app": "class-test", "route": "/items/:id", "method": "GET"}
    bucket = "gingee_http_request_duration_seconds_bucket"
    assert value(bucket, **labels, status_class="4xx", le="0.005") == 1
    assert value(bucket, **labels, status_class="2xx", le="0.005") == 0
    assert value(bucket, **labels, status_class="2xx", le="0.5") == 1
    assert value("gingee_http_request_duration_seconds_count", **labels, status_class="4xx") == 1
