"""The prometheus-client API Gingee relies on, pinned: every import, the parameters we pass by name and the
behaviour we count on. An upgrade that changes any of them fails here, not on a scrape in production.

Only public names are used (nothing from `prometheus_client.values`, no `_value`, `_metrics` or `_samples`);
`test_no_private_use` keeps it that way.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]


def parameters(fn: object) -> set[str]:
    return set(inspect.signature(fn).parameters)  # type: ignore[arg-type]


def test_the_parameters_we_pass_by_name():
    assert {"auto_describe"} <= parameters(CollectorRegistry)
    assert {"name", "documentation", "labelnames", "registry"} <= parameters(Counter)
    assert {"name", "documentation", "labelnames", "registry", "buckets"} <= parameters(Histogram)
    assert {"name", "documentation", "labelnames", "registry", "multiprocess_mode"} <= parameters(Gauge)
    assert {"registry"} <= parameters(ProcessCollector)
    assert {"registry", "path"} <= parameters(MultiProcessCollector)
    assert {"pid", "path"} <= parameters(mark_process_dead)
    assert {"name", "documentation", "labels"} <= parameters(CounterMetricFamily)
    assert {"labels", "value", "created"} <= parameters(CounterMetricFamily.add_metric)
    assert {"name", "documentation", "labels"} <= parameters(GaugeMetricFamily)
    assert {"labels", "value"} <= parameters(GaugeMetricFamily.add_metric)
    assert {"name", "documentation", "labels"} <= parameters(HistogramMetricFamily)
    assert {"labels", "buckets", "sum_value"} <= parameters(HistogramMetricFamily.add_metric)
    assert {"name", "documentation", "typ"} <= parameters(Metric)
    assert {"name", "labels", "value"} <= parameters(Metric.add_sample)


def test_metric_objects_and_their_label_children():
    registry = CollectorRegistry(auto_describe=True)
    counter = Counter("t_total", "t", ["app"], registry=registry)
    histogram = Histogram("t_seconds", "t", ["app"], buckets=(0.1, 1.0), registry=registry)
    gauge = Gauge("t_open", "t", ["app"], registry=registry, multiprocess_mode="livesum")
    counter.labels("a").inc()
    counter.labels("a").inc(2)
    histogram.labels("a").observe(0.1)  # a bound belongs to its own bucket
    gauge.labels("a").inc(3)
    gauge.labels("a").inc(-1)
    Gauge("t_unregistered", "t", ["app"], registry=None).labels("a").set(5)
    assert registry.get_sample_value("t_total", {"app": "a"}) == 3
    assert registry.get_sample_value("t_seconds_bucket", {"app": "a", "le": "0.1"}) == 1
    assert registry.get_sample_value("t_seconds_bucket", {"app": "a", "le": "+Inf"}) == 1
    assert registry.get_sample_value("t_open", {"app": "a"}) == 2
    assert registry.get_sample_value("t_unregistered", {"app": "a"}) is None


def test_a_custom_collector_of_metric_families():
    class Families:
        def collect(self):
            counter = CounterMetricFamily("c_total", "c", labels=["app"])
            counter.add_metric(["a"], 4.0, created=1000.0)
            histogram = HistogramMetricFamily("h_seconds", "h", labels=["app"])
            histogram.add_metric(["a"], [("0.005", 1.0), ("1.0", 2.0), ("+Inf", 3.0)], 2.5)
            histogram.add_sample("h_seconds_created", {"app": "a"}, 1000.0)
            gauge = GaugeMetricFamily("g", "g", labels=["app"])
            gauge.add_metric(["a"], 7)
            yield from (counter, histogram, gauge)

    registry = CollectorRegistry(auto_describe=True)
    registry.register(Families())  # names found by collecting, as REGISTRY does
    with pytest.raises(ValueError):
        Counter("c_total", "again", registry=registry)  # the collector's names are taken
    get = registry.get_sample_value
    assert get("c_total", {"app": "a"}) == 4 and get("c_created", {"app": "a"}) == 1000
    assert get("h_seconds_count", {"app": "a"}) == 3 and get("h_seconds_sum", {"app": "a"}) == 2.5
    assert get("h_seconds_bucket", {"app": "a", "le": "1.0"}) == 2
    assert get("h_seconds_created", {"app": "a"}) == 1000
    assert get("g", {"app": "a"}) == 7
    counter = next(iter(registry.collect()))
    assert (counter.name, counter.type) == ("c", "counter")  # the family drops `_total`
    first = counter.samples[0]
    assert (first.name, first.labels, first.value) == ("c_total", {"app": "a"}, 4.0)


def test_the_bucket_names_are_prometheus_clients_own():
    from gingee_kernel.metrics import series

    registry = CollectorRegistry()
    Histogram("b_seconds", "b", buckets=series.BUCKETS, registry=registry).observe(0)
    names = [s.labels["le"] for family in registry.collect() for s in family.samples if "le" in s.labels]
    assert tuple(names) == series.BUCKET_NAMES


def test_exposition_encoders_and_the_parser():
    registry = CollectorRegistry()
    Counter("e_total", "e", ["app"], registry=registry).labels("a").inc()
    encoder, content_type = choose_encoder("")
    assert content_type.startswith("text/plain; version=0.0.4")  # what docs/metrics.md promises
    encoder, content_type = choose_encoder("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert encoder(registry).endswith(b"# EOF\n")

    class AnyCollector:  # the encoders take anything with collect(), as `Scrape` is
        def collect(self):
            return registry.collect()

    text = generate_latest(AnyCollector()).decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    family = families["e"]
    assert (family.type, family.documentation) == ("counter", "e")
    assert ("e_total", {"app": "a"}, 1.0) in [(s.name, s.labels, s.value) for s in family.samples]
    merged = Metric("e", "e", "counter")
    merged.samples.append(family.samples[0])
    assert merged.samples[0].name == "e_total"


@pytest.mark.skipif(sys.platform != "linux", reason="ProcessCollector reads /proc")
def test_process_collector_unregistered():
    names = {family.name for family in ProcessCollector(registry=None).collect()}
    assert "process_resident_memory_bytes" in names


def test_multiprocess_mode_is_chosen_by_the_variable_at_import(tmp_path):
    code = (
        "import os, prometheus_client\n"
        "from prometheus_client import CollectorRegistry, Counter\n"
        "from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead\n"
        "Counter('m_total', 'm', ['app'], registry=None).labels('a').inc()\n"
        "path = os.environ['PROMETHEUS_MULTIPROC_DIR']\n"
        "values = [s.value for f in MultiProcessCollector(None, path=path).collect() for s in f.samples\n"
        "          if s.name == 'm_total']\n"
        "assert values == [1.0], values\n"
        "mark_process_dead(os.getpid(), path)\n"
    )
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


PRIVATE = re.compile(r"prometheus_client\.values|\._value\b|\._metrics\b|\._samples\b|\._upper_bounds\b")


def test_no_private_use():
    sources = [*REPO.glob("gingee_kernel/**/*.py"), *REPO.glob("server_extension/**/*.py")]
    texts = {path: path.read_text() for path in sources}
    found = [
        f"{path.relative_to(REPO)}:{n}"
        for path, text in texts.items()
        if "prometheus_client" in text
        for n, line in enumerate(text.splitlines(), 1)
        if PRIVATE.search(line)
    ]
    assert found == []
