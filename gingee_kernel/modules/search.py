"""`search`: full-text search over an app's documents (permission "search"): embedded SQLite FTS5 with no
server at all, PostgreSQL, or Elasticsearch/OpenSearch in production, with the same calls and the same
query language (docs/search.md).

    await search.index("articles", [{"id": 1, "title": "Zürich", "body": "...", "lang": "de"}])
    found = await search.query("articles", 'zurich "old town" -tram', filters={"lang": "de"})
    for hit in found.hits: hit.id, hit.score, hit.fields, hit.highlights   # highlights are safe HTML
    more = await search.query("articles", 'zurich "old town" -tram', filters={"lang": "de"},
                              cursor=found.cursor)
    await search.delete("articles", [1])
    job = await search.index_later("articles", docs)    # a queue job, for bulk loads (needs "queue")

Indexes are declared in app.json `search[]` and looked up in the *current* app on every call, so an app
only ever reaches its own. Documents are checked before anything is written: a bad one fails its whole
batch and the error names it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..engine.app import AppRuntime
from ..engine.context import require
from ..jobqueue.job import JobHandle
from ..jobqueue.service import service_for
from ..metrics.series import record_search
from .drivers import app_driver
from .search_drivers.base import Hit, IndexSpec, Results, Search, SearchDriver
from .search_drivers.cursor import MAX_OFFSET, decode, digest, encode
from .search_drivers.documents import check_docs, check_ids
from .search_drivers.errors import (
    IndexRefused,
    InvalidDocument,
    InvalidQuery,
    SearchError,
    SearchUnavailable,
)
from .search_drivers.highlight import safe_snippets
from .search_drivers.query import MAX_QUERY_CHARS, MAX_TERMS, parse
from .search_drivers.settings import IndexSettings, create_driver, index_settings

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_TERMS",
    "Hit",
    "IndexRefused",
    "InvalidDocument",
    "InvalidQuery",
    "Results",
    "SearchError",
    "SearchUnavailable",
    "count",
    "delete",
    "index",
    "index_later",
    "query",
]

JOB = "gingee.search"  # the queue job index_later adds (jobqueue/handlers.py BUILTIN_JOBS)
MAX_LIMIT = 100
_STATE_KEY = "search.drivers"
_OUTCOMES = {
    InvalidDocument: "invalid",
    InvalidQuery: "invalid",
    IndexRefused: "refused",
    SearchUnavailable: "unavailable",
}


async def index(name: str, docs: Any, *, tx: Any = None) -> int:
    """Add or replace `docs` (a dict or a list of dicts, each with an `id`) in index `name`; the number
    indexed. Every doc is checked first: a bad one raises InvalidDocument naming it, and nothing of the
    batch is written. On sqlite and postgres the write is all or none; an Elasticsearch/OpenSearch bulk
    cannot roll back, so a doc the engine refuses raises IndexRefused and the rest stay indexed.
    `tx` (sqlite and postgres) is an open `db.transaction(...)` of the database holding the index: the
    docs then commit or roll back with the app's own rows."""
    app, settings = _settings(name)
    checked = check_docs(settings.spec, docs)
    driver = await _driver(app, settings)
    with _recorded(app, driver, "index"):
        return await driver.index(checked, tx) if checked else 0


async def delete(name: str, ids: Any, *, tx: Any = None) -> int:
    """Remove the docs with these ids (one id or a list) from index `name`; unknown ids are ignored."""
    app, settings = _settings(name)
    checked = check_ids(settings.name, ids)
    driver = await _driver(app, settings)
    with _recorded(app, driver, "delete"):
        return await driver.delete(checked, tx) if checked else 0


async def query(
    name: str,
    q: str,
    *,
    filters: Mapping[str, Any] | None = None,
    limit: int = 10,
    cursor: str | None = None,
    highlight: bool = True,
) -> Results:
    """The hits of `q` in index `name`, best first, `limit` (1 to 100) at a time; pass `cursor` from the
    previous page for the next. `filters` keeps docs whose declared filter fields equal a value (or one of
    a list of values). Malformed text never raises (docs/search.md): only a non-str or over-long `q`, an
    undeclared filter, a bad limit or a foreign cursor raise InvalidQuery."""
    app, settings = _settings(name)
    spec = settings.spec
    parsed = parse(q, index=spec.name)
    wanted = _filters(spec, filters)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidQuery(
            f"search: index {spec.name!r}: limit must be 1 to {MAX_LIMIT}, not {limit!r}", index=spec.name
        )
    owner = digest(spec.name, q, sorted((k, list(v)) for k, v in wanted.items()), limit)
    offset = decode(cursor, owner, index=spec.name)
    if parsed.matches_nothing:
        return Results([], 0)
    driver = await _driver(app, settings)
    plan = Search(parsed, wanted, min(limit, MAX_OFFSET - offset), offset, bool(highlight))
    started = time.perf_counter()
    with _recorded(app, driver, "query", started):
        page = await driver.search(plan)
    hits = [Hit(h.id, h.score, h.fields, safe_snippets(h.highlights) if highlight else {}) for h in page.hits]
    following = offset + len(hits)
    more = len(hits) == plan.limit and following < page.total
    return Results(hits, page.total, page.total_exact, encode(following, owner) if more else None)


async def count(name: str) -> int:
    """How many documents index `name` holds."""
    app, settings = _settings(name)
    driver = await _driver(app, settings)
    return await driver.count()


async def index_later(name: str, docs: Any) -> JobHandle:
    """Check `docs` now, then queue job `gingee.search` to index them with retries (app.json
    `search[].queue.attempts`, `backoff_ms`): for bulk loads that must not hold up a route. Needs the
    `queue` grant too. An engine that is down is retried; a refused batch goes to the dead-letter queue."""
    app, settings = _settings(name)
    checked = check_docs(settings.spec, docs)
    require("queue")
    policy = settings.section("queue")
    payload = {"index": settings.name, "docs": [{"id": d.id, **d.source} for d in checked]}
    return await service_for(app).add(
        app, JOB, payload, attempts=policy["attempts"], backoff=policy["backoff_ms"] / 1000
    )


async def index_job(g: Any) -> dict[str, Any]:
    """The `gingee.search` job: index a queued batch."""
    payload = g.job.payload
    if not isinstance(payload, dict) or not isinstance(payload.get("index"), str) or "docs" not in payload:
        raise InvalidDocument("?", 0, None, None, f"job {JOB} does not carry a queued batch")
    indexed = await index(payload["index"], payload["docs"])
    return {"index": payload["index"], "indexed": indexed}


# --- inside ---------------------------------------------------------------------------------------------


def _settings(name: str) -> tuple[AppRuntime, IndexSettings]:
    app = require("search")
    return app, index_settings(app, name)


async def _driver(app: AppRuntime, settings: IndexSettings) -> SearchDriver:
    """The index's driver, created once (concurrent first calls share one); closed when the app unloads."""
    return await app_driver(app, _STATE_KEY, settings.name, lambda: create_driver(app, settings))


def _filters(spec: IndexSpec, filters: Mapping[str, Any] | None) -> dict[str, tuple[Any, ...]]:
    if filters is None:
        return {}
    if not isinstance(filters, Mapping):
        raise InvalidQuery(f"search: index {spec.name!r}: filters must be a dict of field to value")
    checked: dict[str, tuple[Any, ...]] = {}
    for field, value in filters.items():
        if field not in spec.filters:
            declared = ", ".join(spec.filters) or "none"
            raise InvalidQuery(
                f"search: index {spec.name!r}: {field!r} is not a filter field (declared: {declared}); "
                f'add it to "filters" in app.json search[]',
                index=spec.name,
            )
        values = tuple(value) if isinstance(value, (list, tuple, set, frozenset)) else (value,)
        if not values or any(v is None or not isinstance(v, (str, int, float, bool)) for v in values):
            raise InvalidQuery(
                f"search: index {spec.name!r}: filter {field!r} takes a str, number or bool (or a list of "
                f"them), not {value!r}",
                index=spec.name,
            )
        checked[field] = values
    return checked


class _recorded:
    """Count one call in the metrics by its outcome (and time queries)."""

    __slots__ = ("app", "driver", "operation", "started")

    def __init__(self, app: AppRuntime, driver: SearchDriver, operation: str, started: float | None = None):
        self.app, self.driver, self.operation, self.started = app, driver, operation, started

    def __enter__(self) -> _recorded:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if kind is not None and not issubclass(kind, Exception):
            return
        outcome = "ok"
        if exc is not None:
            outcome = next((v for k, v in _OUTCOMES.items() if isinstance(exc, k)), "error")
        duration = None if self.started is None else time.perf_counter() - self.started
        record_search(self.app.name, self.driver.name, self.operation, outcome, duration)
