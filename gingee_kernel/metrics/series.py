"""Every Gingee metric, declared once (prometheus-client), and the small functions that record them.

Names follow Prometheus conventions: `gingee_` prefix, base units, `_total` counters. Labels are bounded:
app names, route patterns, job names, methods and status classes; never a raw URL or user data. A job's
name is `job_name`, since Prometheus itself sets `job` (and `instance`) on every scraped series.
Hosts and modules call the `record_*` functions; nothing else touches the metric objects.

Two kinds of series: those recorded as things happen (counters, histograms, the websocket gauge), which
prometheus-client's multiprocess mode can share between workers, and live ones computed when scraped
(`LiveCollector`: build info, requests in flight from the engines' gates, queue depth from callbacks).
The HTTP counter and histogram, recorded on every request, are plain floats in one process, reported by
a collector (`HttpCollector`), and prometheus-client's Counter and Histogram in multiprocess mode.

Only prometheus-client's public API is used (`tests/metrics/test_public_api.py` pins it).
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterator, Mapping
from itertools import accumulate
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from .. import __version__

#: prometheus-client's multiprocess mode is on when this variable (or its lower-case spelling) is in the
#: environment as it is imported, here: its values then live in files every process shares.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MULTIPROCESS = MULTIPROC_ENV in os.environ or MULTIPROC_ENV.lower() in os.environ
#: Whether counters and histograms have `_created` samples: PROMETHEUS_DISABLE_CREATED_SERIES turns them
#: off, for prometheus-client's metrics and for `HttpCollector` alike.
CREATED_SERIES = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "").lower() not in ("true", "1", "t")

#: The registry of series recorded as things happen (not the process-global default, so tests and
#: notebooks can read Gingee's series alone). Live series are added by `LiveCollector` at scrape time.
REGISTRY = CollectorRegistry(auto_describe=True)
log = logging.getLogger("gingee.metrics")

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: The `le` label of each bucket as prometheus-client writes it, +Inf last.
BUCKET_NAMES = (*(repr(bound) for bound in BUCKETS), "+Inf")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
JOB_EVENTS = frozenset({"enqueued", "started", "succeeded", "failed", "retried", "dead"})
WS_DIRECTIONS = frozenset({"in", "out"})
#: Error codes of the engine's limit refusals, and the `limit` label each is counted under.
LIMIT_ERRORS = {
    "PAYLOAD_TOO_LARGE": "body_size",
    "TOO_MANY_REQUESTS": "concurrency",
    "GATEWAY_TIMEOUT": "timeout",
}

#: The HTTP metrics, (name, help), both labelled by HTTP_LABELS (`HTTP` below records them).
HTTP_LABELS = ("app", "route", "method", "status_class")
HttpLabels = tuple[str, str, str, str]
HTTP_REQUESTS = (
    "gingee_http_requests_total",
    "HTTP requests answered, by app, route pattern, method and status class.",
)
HTTP_DURATION = (
    "gingee_http_request_duration_seconds",
    "Time to answer an HTTP request, by app, route pattern, method and status class.",
)
LIMIT_REJECTIONS = Counter(
    "gingee_limit_rejections_total",
    "Requests refused by a limit: body_size (413), concurrency (503) or timeout (504).",
    ["app", "limit"],
    registry=REGISTRY,
)
PERMISSION_DENIALS = Counter(
    "gingee_permission_denials_total",
    "Module calls refused because the app lacks the grant.",
    ["app", "module"],
    registry=REGISTRY,
)
APP_LOAD_ERRORS = Counter(
    "gingee_app_load_errors_total",
    "Apps that failed to load (bad manifest, failing startup script).",
    ["app"],
    registry=REGISTRY,
)
JOBS = Counter(
    "gingee_jobs_total",
    "Job lifecycle events: enqueued, started, succeeded, failed, retried, dead.",
    ["app", "job_name", "event"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "gingee_job_duration_seconds",
    "Time a job handler ran.",
    ["app", "job_name"],
    buckets=BUCKETS,
    registry=REGISTRY,
)
WS_CONNECTIONS = Gauge(
    "gingee_websocket_connections",
    "Open websocket connections.",
    ["app"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
WS_MESSAGES = Counter(
    "gingee_websocket_messages_total",
    "Websocket messages, by direction (in, out).",
    ["app", "direction"],
    registry=REGISTRY,
)
WS_FANOUT_ERRORS = Counter(
    "gingee_websocket_fanout_errors_total",
    "Websocket broadcasts that Redis fan-out could not publish at once (delayed), gave up on (dropped), "
    "and lost subscriptions (subscribe_failed, app '-').",
    ["app", "outcome"],
    registry=REGISTRY,
)
WS_CLOSES = Counter(
    "gingee_websocket_closes_total",
    "Websockets the server closed, by reason: slow_consumer and rate_limited (1008), invalid_utf8 (1007), "
    "protocol_error (1002), too_big (1009), idle (1001), handler_error (1011).",
    ["app", "reason"],
    registry=REGISTRY,
)
MAIL_MESSAGES = Counter(
    "gingee_mail_messages_total",
    "Messages given to mail.send / send_later, by driver and outcome: sent, queued, or the error class "
    "(invalid, recipient_rejected, rejected, auth, rate_limited, unavailable).",
    ["app", "driver", "outcome"],
    registry=REGISTRY,
)
MAIL_DURATION = Histogram(
    "gingee_mail_send_duration_seconds",
    "Seconds a driver took to hand one message to its provider (sent or not).",
    ["app", "driver"],
    buckets=BUCKETS,
    registry=REGISTRY,
)
STORAGE_OPERATIONS = Counter(
    "gingee_storage_operations_total",
    "Storage calls, by store driver, operation (put, get, stat, list, delete, copy, url) and outcome (ok, "
    "not_found, invalid, too_large, conflict, unavailable, error).",
    ["app", "driver", "operation", "outcome"],
    registry=REGISTRY,
)
STORAGE_BYTES = Counter(
    "gingee_storage_bytes_total",
    "Object bytes stored (direction in) and read (out), by store driver.",
    ["app", "driver", "direction"],
    registry=REGISTRY,
)
SEARCH_OPERATIONS = Counter(
    "gingee_search_operations_total",
    "Search calls, by index driver, operation (index, delete, query) and outcome (ok, invalid, refused, "
    "unavailable, error).",
    ["app", "driver", "operation", "outcome"],
    registry=REGISTRY,
)
SEARCH_DURATION = Histogram(
    "gingee_search_query_duration_seconds",
    "Seconds a driver took to answer one query (hits, count and highlights).",
    ["app", "driver"],
    buckets=BUCKETS,
    registry=REGISTRY,
)
PLUGIN_EVENTS = Counter(
    "gingee_plugin_events_total",
    "Plugin module events: `used` each time a script takes the module, and what the plugin counts itself "
    "(PluginContext.count).",
    ["plugin", "app", "event"],
    registry=REGISTRY,
)
CACHE_LOOKUPS = Counter(
    "gingee_cache_lookups_total", "Cache reads, by result (hit, miss).", ["app", "result"], registry=REGISTRY
)

# Live series, computed by LiveCollector when scraped: (name, help).
BUILD_INFO = ("gingee_build_info", "Gingee version (always 1).")
HTTP_IN_FLIGHT = ("gingee_http_requests_in_flight", "Script requests being answered now, by app.")
QUEUE_DEPTH = ("gingee_queue_depth", "Jobs waiting to run, by app.")

#: Multiprocess mode (`gingee serve --workers N`) only: each worker's requests in flight, written by
#: `publish_in_flight()` and summed over the live workers by prometheus-client (it reads its files, not a
#: registry). In one process the live family from the gates is reported instead.
HTTP_IN_FLIGHT_SHARED = Gauge(*HTTP_IN_FLIGHT, ["app"], registry=None, multiprocess_mode="livesum")

_job_children: dict[tuple[str, ...], Any] = {}  # label children of JOBS and JOB_DURATION, looked up once


def status_class(status: int) -> str:
    """ "2xx" for 204, "5xx" for 503, and so on."""
    return f"{status // 100}xx"


class HttpSeries:
    """The requests of one (app, route, method, status class) in this process, as plain floats:
    `record(seconds)` adds the duration to the sum and counts one request in the bucket it falls in (the
    first whose upper bound is >= it, as `Histogram.observe` picks it). `HttpCollector` reports them when
    scraped; the request count is the buckets' total."""

    __slots__ = ("buckets", "created", "labels", "lock", "total")

    def __init__(self, labels: HttpLabels, lock: threading.Lock) -> None:
        self.labels = labels
        self.lock = lock
        self.buckets = [0.0] * (len(BUCKETS) + 1)  # one per bound, +Inf last; not cumulative
        self.total = 0.0
        self.created = time.time()

    def record(self, seconds: float) -> None:
        with self.lock:
            self.total += seconds
            self.buckets[bisect_left(BUCKETS, seconds)] += 1.0


class HttpCollector:
    """The HTTP series of one process: a prometheus-client collector reporting every `HttpSeries` as the
    families HTTP_REQUESTS and HTTP_DURATION, labelled by HTTP_LABELS.

    A request updates two floats under one lock. `Counter.inc()` and `Histogram.observe()` would check
    what cannot fail for a label child, loop over the buckets in Python and take three locks. A scrape
    copies the series under the same lock, so the count, sum and buckets of each agree.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.lock = threading.Lock()
        self.series: dict[HttpLabels, HttpSeries] = {}
        if registry is not None:
            registry.register(self)

    def add(self, labels: HttpLabels) -> HttpSeries:
        """The series of `labels` (app, route, method, status class), made on first use."""
        with self.lock:
            series = self.series.get(labels)
            if series is None:
                series = self.series[labels] = HttpSeries(labels, self.lock)
        return series

    def collect(self) -> Iterator[Metric]:
        """Yield the two families, with `_created` samples as prometheus-client's own metrics have them."""
        with self.lock:
            rows = [(s.labels, list(accumulate(s.buckets)), s.total, s.created) for s in self.series.values()]
        requests = CounterMetricFamily(*HTTP_REQUESTS, labels=HTTP_LABELS)
        duration = HistogramMetricFamily(*HTTP_DURATION, labels=HTTP_LABELS)
        for labels, cumulative, total, created in rows:
            requests.add_metric(labels, cumulative[-1], created=created if CREATED_SERIES else None)
            duration.add_metric(labels, list(zip(BUCKET_NAMES, cumulative, strict=True)), total)
            if CREATED_SERIES:
                names = dict(zip(HTTP_LABELS, labels, strict=True))
                duration.add_sample(f"{duration.name}_created", names, created)
        yield requests
        yield duration


class SharedHttpSeries:
    """Multiprocess mode: the requests of one (app, route, method, status class) as a counter child and a
    histogram child, whose values prometheus-client writes to the files every worker's scrape sums."""

    __slots__ = ("counter", "histogram")

    def __init__(self, counter: Counter, histogram: Histogram) -> None:
        self.counter = counter
        self.histogram = histogram

    def record(self, seconds: float) -> None:
        self.counter.inc()
        self.histogram.observe(seconds)


class SharedHttpMetrics:
    """Multiprocess mode: HTTP_REQUESTS and HTTP_DURATION as prometheus-client's Counter and Histogram."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.requests = Counter(*HTTP_REQUESTS, HTTP_LABELS, registry=registry)
        self.duration = Histogram(*HTTP_DURATION, HTTP_LABELS, buckets=BUCKETS, registry=registry)

    def add(self, labels: HttpLabels) -> SharedHttpSeries:
        """The series of `labels` (app, route, method, status class)."""
        return SharedHttpSeries(self.requests.labels(*labels), self.duration.labels(*labels))


#: Where the HTTP series live: plain floats reported by a collector in one process, prometheus-client's
#: shared values with several.
HTTP: HttpCollector | SharedHttpMetrics = (
    SharedHttpMetrics(REGISTRY) if MULTIPROCESS else HttpCollector(REGISTRY)
)

#: Series by (app, route, method, status // 100), so a request costs one dict lookup: the labels are
#: built and `HTTP.add` runs once per series.
_http_series: dict[tuple[str, str, str, int], HttpSeries | SharedHttpSeries] = {}


def http_series(app: str, route: str, method: str, status: int) -> HttpSeries | SharedHttpSeries:
    """The series one request is recorded in (`record_http_request` uses it)."""
    key = (app, route, method, status // 100)
    series = _http_series.get(key)
    if series is None:
        if method not in METHODS:  # not cached under the raw method: any string may arrive here
            method = "other"
            key = (app, route, method, status // 100)
            series = _http_series.get(key)
            if series is not None:
                return series
        series = _http_series[key] = HTTP.add((app, route, method, status_class(status)))
    return series


def record_http_request(app: str, route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request and observe its duration (`route` is a pattern, never a raw URL)."""
    http_series(app, route, method, status).record(seconds)


def record_limit_rejection(app: str, limit: str) -> None:
    """One request refused by a limit (`body_size`, `concurrency` or `timeout`)."""
    LIMIT_REJECTIONS.labels(app, limit).inc()


def record_job(app: str, job: str, event: str) -> None:
    """Count one job lifecycle event."""
    child = _job_children.get((app, job, event))
    if child is None:
        if event not in JOB_EVENTS:
            raise ValueError(f"unknown job event {event!r}; expected one of {sorted(JOB_EVENTS)}")
        child = _job_children[(app, job, event)] = JOBS.labels(app, job, event)
    child.inc()


def record_job_duration(app: str, job: str, seconds: float) -> None:
    """Observe how long one job handler ran."""
    child = _job_children.get((app, job))
    if child is None:
        child = _job_children[(app, job)] = JOB_DURATION.labels(app, job)
    child.observe(seconds)


def record_ws_connection(app: str, delta: int) -> None:
    """A websocket opened (+1) or closed (-1)."""
    WS_CONNECTIONS.labels(app).inc(delta)


def record_ws_message(app: str, direction: str, count: int = 1) -> None:
    """`count` websocket messages in or out (a broadcast counts once per receiving socket)."""
    if direction not in WS_DIRECTIONS:
        raise ValueError(f"unknown websocket direction {direction!r}; expected 'in' or 'out'")
    WS_MESSAGES.labels(app, direction).inc(count)


WS_FANOUT_OUTCOMES = frozenset({"delayed", "dropped", "subscribe_failed"})


def record_ws_fanout_error(app: str, outcome: str, count: int = 1) -> None:
    """Fan-out trouble: broadcasts delayed or dropped while Redis was away, or a lost subscription."""
    if outcome not in WS_FANOUT_OUTCOMES:
        raise ValueError(f"unknown fan-out outcome {outcome!r}; expected one of {sorted(WS_FANOUT_OUTCOMES)}")
    WS_FANOUT_ERRORS.labels(app, outcome).inc(count)


WS_CLOSE_REASONS = frozenset(
    {"slow_consumer", "rate_limited", "invalid_utf8", "protocol_error", "too_big", "idle", "handler_error"}
)


def record_ws_close(app: str, reason: str) -> None:
    """The server closed one of the app's websockets for `reason` (one of WS_CLOSE_REASONS)."""
    if reason not in WS_CLOSE_REASONS:
        raise ValueError(
            f"unknown websocket close reason {reason!r}; expected one of {sorted(WS_CLOSE_REASONS)}"
        )
    WS_CLOSES.labels(app, reason).inc()


MAIL_OUTCOMES = frozenset(
    {"sent", "queued", "invalid", "recipient_rejected", "rejected", "auth", "rate_limited", "unavailable"}
)


def record_mail(app: str, driver: str, outcome: str, seconds: float | None = None) -> None:
    """One message's outcome (one of MAIL_OUTCOMES), and how long the driver took, if it was asked."""
    if outcome not in MAIL_OUTCOMES:
        raise ValueError(f"unknown mail outcome {outcome!r}; expected one of {sorted(MAIL_OUTCOMES)}")
    MAIL_MESSAGES.labels(app, driver, outcome).inc()
    if seconds is not None:
        MAIL_DURATION.labels(app, driver).observe(seconds)


STORAGE_OUTCOMES = frozenset({"ok", "not_found", "invalid", "too_large", "conflict", "unavailable", "error"})


def record_storage(app: str, driver: str, operation: str, outcome: str, size: int = 0) -> None:
    """One storage call's outcome (one of STORAGE_OUTCOMES) and the bytes it moved (put: in, else out)."""
    if outcome not in STORAGE_OUTCOMES:
        raise ValueError(f"unknown storage outcome {outcome!r}; expected one of {sorted(STORAGE_OUTCOMES)}")
    STORAGE_OPERATIONS.labels(app, driver, operation, outcome).inc()
    if size:
        STORAGE_BYTES.labels(app, driver, "in" if operation == "put" else "out").inc(size)


SEARCH_OUTCOMES = frozenset({"ok", "invalid", "refused", "unavailable", "error"})


def record_plugin_event(plugin: str, app: str, event: str, amount: float = 1) -> None:
    """One plugin event (`used`, or one the plugin counts through its context)."""
    PLUGIN_EVENTS.labels(plugin, app, event).inc(amount)


def record_search(app: str, driver: str, operation: str, outcome: str, duration: float | None = None) -> None:
    """One search call's outcome (one of SEARCH_OUTCOMES); a query's duration."""
    if outcome not in SEARCH_OUTCOMES:
        raise ValueError(f"unknown search outcome {outcome!r}; expected one of {sorted(SEARCH_OUTCOMES)}")
    SEARCH_OPERATIONS.labels(app, driver, operation, outcome).inc()
    if duration is not None:
        SEARCH_DURATION.labels(app, driver).observe(duration)


def record_cache_lookup(app: str, hit: bool) -> None:
    """One cache read."""
    CACHE_LOOKUPS.labels(app, "hit" if hit else "miss").inc()


def record_permission_denied(app: str, module: str) -> None:
    """One module call refused for a missing grant."""
    PERMISSION_DENIALS.labels(app, module).inc()


def record_app_load_error(app: str) -> None:
    """One app failed to load."""
    APP_LOAD_ERRORS.labels(app).inc()


# --- live series -------------------------------------------------------------------------------------

QueueDepth = Callable[[], "Mapping[str, int] | Awaitable[Mapping[str, int]]"]

_engines: weakref.WeakSet[Any] = weakref.WeakSet()
_queue_depths: list[QueueDepth] = []


def track_engine(engine: Any) -> None:
    """Report the requests in flight of `engine` (its apps' concurrency gates) while it lives."""
    _engines.add(engine)


def register_queue_depth(fn: QueueDepth) -> Callable[[], None]:
    """Have `fn()` (sync or async, returning {app: waiting jobs}) read at each scrape; returns an
    unregister function."""
    _queue_depths.append(fn)

    def unregister() -> None:
        if fn in _queue_depths:
            _queue_depths.remove(fn)

    return unregister


class LiveCollector:
    """The scrape-time series: build info, requests in flight, queue depth (read by `refresh()`)."""

    def __init__(self) -> None:
        self.depths: dict[str, int] = {}

    async def refresh(self) -> None:
        """Ask every registered queue-depth callback; a failing one is skipped (its apps show nothing)."""
        depths: dict[str, int] = {}
        for fn in list(_queue_depths):
            try:
                result = fn()
                if inspect.isawaitable(result):
                    result = await result
            except Exception:
                log.exception("a queue-depth callback failed")
                continue
            for app, depth in result.items():
                depths[app] = depths.get(app, 0) + int(depth)
        self.depths = depths

    def collect(self, in_flight: bool = True) -> Iterator[Metric]:
        """Yield the live metric families (requests in flight only if `in_flight`)."""
        info = GaugeMetricFamily(*BUILD_INFO, labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        if in_flight:
            family = GaugeMetricFamily(*HTTP_IN_FLIGHT, labels=["app"])
            for name, count in sorted(requests_in_flight().items()):
                family.add_metric([name], count)
            yield family
        family = GaugeMetricFamily(*QUEUE_DEPTH, labels=["app"])
        for name, depth in sorted(self.depths.items()):
            family.add_metric([name], depth)
        yield family


def requests_in_flight() -> dict[str, int]:
    """Script requests being answered now in this process, by app (from the tracked engines' gates)."""
    inflight: dict[str, int] = {}
    for engine in list(_engines):
        for name, app in list(engine.project.apps.items()):
            pipeline = getattr(app, "pipeline", None)
            if pipeline is not None:
                inflight[name] = inflight.get(name, 0) + pipeline.gate.inflight
    return inflight


_published_in_flight: set[str] = set()


def publish_in_flight() -> None:
    """Multiprocess mode: write this process's requests in flight to `HTTP_IN_FLIGHT_SHARED` (apps no
    longer loaded drop to 0). The exposition calls it at each scrape, and workers every second."""
    counts = requests_in_flight()
    for name in _published_in_flight - counts.keys():
        HTTP_IN_FLIGHT_SHARED.labels(name).set(0)
    for name, count in counts.items():
        HTTP_IN_FLIGHT_SHARED.labels(name).set(count)
    _published_in_flight.update(counts)
