"""The one hook that records HTTP metrics: an engine observer, plus `install(engine)` for hosts.

Every finished request reaches `observe` as an `Exchange` (app, route pattern, method, status, error code,
duration); limit refusals are counted from the engine's error codes. The engine's concurrency gates are
read at scrape time for the in-flight gauge, so the hot path pays for one dict lookup and one `record`.
"""

from __future__ import annotations

from typing import Any

from ..engine.observe import Exchange
from .series import LIMIT_ERRORS, _http_series, http_series, record_limit_rejection, track_engine


def observe(exchange: Exchange) -> None:
    """Record one finished request (an `Engine.observers` entry)."""
    app, route, method, status = exchange.app, exchange.route, exchange.method, exchange.status
    # http_series' own cache, looked up here first: one call fewer on every request.
    series = _http_series.get((app, route, method, status // 100)) or http_series(app, route, method, status)
    series.record(exchange.duration)
    if exchange.error:
        limit = LIMIT_ERRORS.get(exchange.error)
        if limit is not None:
            record_limit_rejection(exchange.app, limit)


def install(engine: Any) -> None:
    """Record the metrics of every request `engine` answers and report its requests in flight."""
    if observe not in engine.observers:
        engine.observers.append(observe)
    track_engine(engine)
