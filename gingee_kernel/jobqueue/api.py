"""The operator API behind job views, host-neutral: async functions over a `QueueService` that return
JSON-able dicts, and `handle()`, which routes a request below `.../api/queue/` to them. `gingee serve`
mounts it at `/_gingee/api/queue/` (http.py); the Jupyter extension at `{base_url}gingee/api/queue/`.

    GET    ""                            every app's counts        GET  {app}/jobs?limit=100   live + latest
    GET    {app}                         one app's counts          GET  {app}/jobs/{id}        one job
    GET    {app}/dlq?limit=100           dead jobs                 POST {app}/dlq/{id}/retry   back to queue
    DELETE {app}/dlq/{id} (or POST {app}/dlq/{id}/discard)         delete a dead job

Errors come back as (status, {"error": CODE, "reason": text}), never as exceptions.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..errors import HttpError, ServiceUnavailable
from .errors import JobNotFound
from .service import QueueService

MAX_LIMIT = 1000


def _app(service: QueueService, app: str) -> str:
    if app not in service.apps:
        raise HttpError(404, "APP_NOT_FOUND", f"no loaded app named '{app}'")
    return app


def query_limit(query: Mapping[str, str]) -> int:
    """`?limit=` of an operator API list: 1 to MAX_LIMIT (default 100), else 400 BAD_LIMIT."""
    raw = query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise HttpError(400, "BAD_LIMIT", f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


async def stats(service: QueueService) -> dict[str, Any]:
    """The driver's name and every loaded app's counts (queued, delayed, running, dead)."""
    apps = {name: await service.driver.stats(name) for name in sorted(service.apps)}
    return {"driver": service.driver.name, "apps": apps}


async def app_stats(service: QueueService, app: str) -> dict[str, Any]:
    """One app's counts."""
    return {"app": _app(service, app), **await service.driver.stats(app)}


async def jobs(service: QueueService, app: str, limit: int = 100) -> dict[str, Any]:
    """The app's live jobs (oldest first), then its latest finished ones."""
    listed = await service.driver.jobs(_app(service, app), limit)
    return {"app": app, "jobs": [info.to_dict() for info in listed]}


async def job(service: QueueService, app: str, job_id: str) -> dict[str, Any]:
    """One job's state."""
    info = await service.driver.info(_app(service, app), job_id)
    if info is None:
        raise JobNotFound(app, job_id)
    return info.to_dict()


async def dlq(service: QueueService, app: str, limit: int = 100) -> dict[str, Any]:
    """The app's dead jobs, newest first."""
    return {"app": app, "dead": await service.driver.dlq_list(_app(service, app), limit)}


async def dlq_retry(service: QueueService, app: str, job_id: str) -> dict[str, Any]:
    """Queue a dead job again with a fresh attempt budget."""
    if not await service.driver.dlq_retry(_app(service, app), job_id):
        raise JobNotFound(app, job_id)
    return {"app": app, "retried": job_id}


async def dlq_discard(service: QueueService, app: str, job_id: str) -> dict[str, Any]:
    """Delete a dead job for good."""
    if not await service.driver.dlq_discard(_app(service, app), job_id):
        raise JobNotFound(app, job_id)
    return {"app": app, "discarded": job_id}


Endpoint = Callable[..., Awaitable[dict[str, Any]]]
_SEG = r"([^/]+)"
ROUTES: list[tuple[str, re.Pattern[str], Endpoint, bool]] = [
    # (method, path pattern, function, takes ?limit=)
    ("GET", re.compile(r""), stats, False),
    ("GET", re.compile(_SEG), app_stats, False),
    ("GET", re.compile(rf"{_SEG}/jobs"), jobs, True),
    ("GET", re.compile(rf"{_SEG}/jobs/{_SEG}"), job, False),
    ("GET", re.compile(rf"{_SEG}/dlq"), dlq, True),
    ("POST", re.compile(rf"{_SEG}/dlq/{_SEG}/retry"), dlq_retry, False),
    ("DELETE", re.compile(rf"{_SEG}/dlq/{_SEG}"), dlq_discard, False),
    ("POST", re.compile(rf"{_SEG}/dlq/{_SEG}/discard"), dlq_discard, False),
]


async def handle(
    service: QueueService, method: str, path: str, query: Mapping[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """Answer one API request: `path` is what follows `.../api/queue/` (already percent-decoded).
    Returns (status, JSON-able body)."""
    path = path.strip("/")
    allowed = []
    try:
        for verb, pattern, endpoint, paged in ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if verb != method.upper():
                allowed.append(verb)
                continue
            extra = {"limit": query_limit(query or {})} if paged else {}
            return 200, await endpoint(service, *match.groups(), **extra)
        if allowed:
            raise HttpError(405, "METHOD_NOT_ALLOWED", f"use {', '.join(sorted(set(allowed)))} here")
        raise HttpError(404, "NOT_FOUND", f"no queue API at '{path}'")
    except HttpError as exc:
        return exc.status, exc.body()
    except JobNotFound as exc:
        return 404, {"error": "JOB_NOT_FOUND", "reason": str(exc)}
    except ServiceUnavailable as exc:
        return 503, {"error": "QUEUE_UNAVAILABLE", "reason": str(exc)}
    except ValueError as exc:
        return 409, {"error": "CONFLICT", "reason": str(exc)}
