"""Every Gingee metric, declared once (prometheus-client), and the small functions that record them.

Names follow Prometheus conventions: `gingee_` prefix, base units, `_total` counters. Labels are bounded:
app names, route patterns, job names, methods and status classes; never a raw URL or user data.
Hosts and modules call the `record_*` functions; nothing else touches the metric objects.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from . import __version__

#: The registry Gingee exposes on /metrics (not the process-global default, so tests and notebooks
#: can read Gingee's series alone).
REGISTRY = CollectorRegistry(auto_describe=True)

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

BUILD_INFO = Info("gingee_build", "Gingee version.", registry=REGISTRY)
BUILD_INFO.info({"version": __version__})

HTTP_REQUESTS = Counter(
    "gingee_http_requests_total",
    "HTTP requests answered, by app, route pattern, method and status class.",
    ["app", "route", "method", "status_class"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "gingee_http_request_duration_seconds",
    "Time to answer an HTTP request, by app, route pattern and method.",
    ["app", "route", "method"],
    buckets=BUCKETS,
    registry=REGISTRY,
)
HTTP_IN_FLIGHT = Gauge(
    "gingee_http_requests_in_flight", "HTTP requests being answered now.", ["app"], registry=REGISTRY
)
LIMIT_REJECTIONS = Counter(
    "gingee_limit_rejections_total",
    "Requests refused by a limit: body_too_large (413), concurrency (503) or timeout (504).",
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
    ["app", "job", "event"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "gingee_job_duration_seconds",
    "Time a job handler ran.",
    ["app", "job"],
    buckets=BUCKETS,
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge("gingee_queue_depth", "Jobs waiting to run, by app.", ["app"], registry=REGISTRY)
WS_CONNECTIONS = Gauge(
    "gingee_websocket_connections", "Open websocket connections.", ["app"], registry=REGISTRY
)
WS_MESSAGES = Counter(
    "gingee_websocket_messages_total",
    "Websocket messages, by direction (in, out).",
    ["app", "direction"],
    registry=REGISTRY,
)
CACHE_LOOKUPS = Counter(
    "gingee_cache_lookups_total", "Cache reads, by result (hit, miss).", ["app", "result"], registry=REGISTRY
)

JOB_EVENTS = frozenset({"enqueued", "started", "succeeded", "failed", "retried", "dead"})


def status_class(status: int) -> str:
    """ "2xx" for 204, "5xx" for 503, and so on."""
    return f"{status // 100}xx"


def record_job(app: str, job: str, event: str) -> None:
    """Count one job lifecycle event."""
    if event not in JOB_EVENTS:
        raise ValueError(f"unknown job event {event!r}; expected one of {sorted(JOB_EVENTS)}")
    JOBS.labels(app, job, event).inc()


def record_job_duration(app: str, job: str, seconds: float) -> None:
    """Observe how long one job handler ran."""
    JOB_DURATION.labels(app, job).observe(seconds)


def record_ws_connection(app: str, delta: int) -> None:
    """A websocket opened (+1) or closed (-1)."""
    WS_CONNECTIONS.labels(app).inc(delta)


def record_ws_message(app: str, direction: str) -> None:
    """One websocket message in or out."""
    WS_MESSAGES.labels(app, direction).inc()


def record_cache_lookup(app: str, hit: bool) -> None:
    """One cache read."""
    CACHE_LOOKUPS.labels(app, "hit" if hit else "miss").inc()


def record_permission_denied(app: str, module: str) -> None:
    """One module call refused for a missing grant."""
    PERMISSION_DENIALS.labels(app, module).inc()


def record_app_load_error(app: str) -> None:
    """One app failed to load."""
    APP_LOAD_ERRORS.labels(app).inc()
