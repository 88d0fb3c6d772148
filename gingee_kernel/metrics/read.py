"""Read the metrics back as plain numbers, for notebook dashboards (`app.dashboard()`) and tools.

`snapshot("todo")` returns the counts since the process started; a dashboard takes two snapshots and
diffs them (`RouteStats.since`) for rates and recent latency. Quantiles are estimated from the histogram
buckets the way Prometheus's `histogram_quantile` does (linear within a bucket). The duration histogram
has a series per status class; a route's buckets and sum add them up, as `sum by (le, route, method)`
does in PromQL.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from .export import SCRAPE, Scrape

Buckets = tuple[tuple[float, float], ...]  # (upper bound, cumulative count), +Inf last


def quantile(q: float, buckets: Buckets) -> float | None:
    """The estimated `q` quantile (0..1) of cumulative `buckets`, or None with no observations."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # as Prometheus does: the highest finite bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


@dataclass
class RouteStats:
    """Requests to one route pattern and method of an app."""

    route: str
    method: str
    by_class: dict[str, float] = field(default_factory=dict)  # "2xx" -> count
    seconds: float = 0.0
    buckets: Buckets = ()

    @property
    def requests(self) -> float:
        """Every answered request."""
        return sum(self.by_class.values())

    @property
    def errors(self) -> float:
        """Requests answered with a 5xx status."""
        return self.by_class.get("5xx", 0.0)

    def latency(self, q: float) -> float | None:
        """Estimated `q` quantile of the duration in seconds (`latency(0.99)` is p99)."""
        return quantile(q, self.buckets)

    def since(self, earlier: RouteStats | None) -> RouteStats:
        """What happened between the `earlier` snapshot of this route and this one."""
        if earlier is None:
            return self
        classes = {k: v - earlier.by_class.get(k, 0.0) for k, v in self.by_class.items()}
        old = dict(earlier.buckets)
        buckets = tuple((le, count - old.get(le, 0.0)) for le, count in self.buckets)
        return RouteStats(self.route, self.method, classes, self.seconds - earlier.seconds, buckets)


@dataclass
class AppStats:
    """Everything the metrics know about one app."""

    app: str
    routes: dict[tuple[str, str], RouteStats] = field(default_factory=dict)  # (route, method)
    in_flight: float = 0.0
    limit_rejections: dict[str, float] = field(default_factory=dict)  # limit -> count
    permission_denials: dict[str, float] = field(default_factory=dict)  # module -> count
    jobs: dict[str, dict[str, float]] = field(default_factory=dict)  # job -> event -> count
    queue_depth: float = 0.0
    websocket_connections: float = 0.0
    websocket_messages: dict[str, float] = field(default_factory=dict)  # "in"/"out" -> count
    cache: dict[str, float] = field(default_factory=dict)  # "hit"/"miss" -> count


def snapshot(app: str, scrape: Scrape = SCRAPE) -> AppStats:
    """The metrics of `app` now (queue depth as of the last `await scrape.refresh()`)."""
    stats = AppStats(app)
    buckets: dict[tuple[str, str], dict[float, float]] = defaultdict(dict)  # (route, method) -> le -> count
    for family in scrape.collect():
        for sample in family.samples:
            labels = sample.labels
            if labels.get("app") != app:
                continue
            name, value = sample.name, sample.value
            if name == "gingee_http_requests_total":
                route = _route(stats, labels)
                route.by_class[labels["status_class"]] = value
            elif name == "gingee_http_request_duration_seconds_sum":
                _route(stats, labels).seconds += value  # summed over the status classes
            elif name == "gingee_http_request_duration_seconds_bucket":
                found = buckets[(labels["route"], labels["method"])]
                le = float(labels["le"])
                found[le] = found.get(le, 0.0) + value
            elif name == "gingee_http_requests_in_flight":
                stats.in_flight = value
            elif name == "gingee_limit_rejections_total":
                stats.limit_rejections[labels["limit"]] = value
            elif name == "gingee_permission_denials_total":
                stats.permission_denials[labels["module"]] = value
            elif name == "gingee_jobs_total":
                stats.jobs.setdefault(labels["job_name"], {})[labels["event"]] = value
            elif name == "gingee_queue_depth":
                stats.queue_depth = value
            elif name == "gingee_websocket_connections":
                stats.websocket_connections = value
            elif name == "gingee_websocket_messages_total":
                stats.websocket_messages[labels["direction"]] = value
            elif name == "gingee_cache_lookups_total":
                stats.cache[labels["result"]] = value
    for key, found in buckets.items():
        _route(stats, {"route": key[0], "method": key[1]}).buckets = tuple(sorted(found.items()))
    return stats


def _route(stats: AppStats, labels: dict[str, str]) -> RouteStats:
    key = (labels["route"], labels["method"])
    route = stats.routes.get(key)
    if route is None:
        route = stats.routes[key] = RouteStats(*key)
    return route
