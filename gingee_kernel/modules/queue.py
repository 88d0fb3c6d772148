"""`queue`: background jobs with retries, a dead-letter queue, status and results.

    job = await queue.add("send-welcome", {"user": 42}, delay=10, attempts=5, backoff=2)
    print(job.id, await job.status())
    value = await job.result(timeout=30)      # the handler's return value, or JobFailed

A job named `send-welcome` runs `handle(g)` of `box/jobs/send-welcome.py` (or the script app.json
`queue.jobs` maps it to, or a notebook's `@app.job`), with `g.job` holding id, name, payload, attempt and
max_attempts. A failed attempt is retried after `backoff * 2**(attempt-1)` seconds; after the last one
the job goes to the dead-letter queue (`queue.dlq.list/retry/discard`). A handler may raise
`queue.Retry(defer=5)`.
Jobs run at least once: keep handlers idempotent. Everything is per app: apps never see each other's jobs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..engine.context import require
from ..jobqueue.errors import HandlerNotFound, JobFailed, JobNotFound, Retry
from ..jobqueue.job import JobHandle, JobInfo, JobStatus
from ..jobqueue.service import service_for

__all__ = [
    "HandlerNotFound",
    "JobFailed",
    "JobHandle",
    "JobInfo",
    "JobNotFound",
    "JobStatus",
    "Retry",
    "add",
    "dlq",
    "get",
    "stats",
]


async def add(
    name: str,
    payload: Any = None,
    delay: float | timedelta | None = None,
    attempts: int | None = None,
    backoff: float | timedelta | None = None,
    job_id: str | None = None,
) -> JobHandle:
    """Enqueue job `name` with a JSON `payload`, to run after `delay` seconds, tried up to `attempts` times
    with exponential `backoff` (seconds). A `job_id` makes the add idempotent: while a job with that id is
    known, adding it again returns its handle with `created` False. Raises PermissionDenied without the
    `queue` grant, HandlerNotFound if no handler exists, TypeError for a payload that is not JSON."""
    app = require("queue")
    return await service_for(app).add(
        app, name, payload, delay=delay, attempts=attempts, backoff=backoff, job_id=job_id
    )


async def get(job_id: str) -> JobHandle | None:
    """The handle of the app's job `job_id`, or None if it is unknown (never added, or expired)."""
    app = require("queue")
    driver = service_for(app).driver
    info = await driver.info(app.name, job_id)
    return None if info is None else JobHandle(driver, app.name, job_id, info.name, created=False)


async def stats() -> dict[str, int]:
    """How many of the app's jobs are queued, delayed (or waiting for a retry), running and dead."""
    app = require("queue")
    return await service_for(app).driver.stats(app.name)


class DeadLetters:
    """`queue.dlq`: jobs that used all their attempts."""

    async def list(self, limit: int = 100) -> list[dict[str, Any]]:
        """Dead jobs, newest first: id, name, payload, attempts, attempts_made, error, failed_at."""
        app = require("queue")
        return await service_for(app).driver.dlq_list(app.name, _limit(limit))

    async def retry(self, job_id: str) -> JobHandle:
        """Queue a dead job again with a fresh attempt budget; JobNotFound if it is not dead (any more)."""
        app = require("queue")
        driver = service_for(app).driver
        if not await driver.dlq_retry(app.name, job_id):
            raise JobNotFound(app.name, job_id)
        info = await driver.info(app.name, job_id)
        return JobHandle(driver, app.name, job_id, info.name if info else "", created=True)

    async def discard(self, job_id: str) -> None:
        """Delete a dead job for good; JobNotFound if it is not dead (any more)."""
        app = require("queue")
        if not await service_for(app).driver.dlq_discard(app.name, job_id):
            raise JobNotFound(app.name, job_id)


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"queue: limit must be an integer >= 1, not {limit!r}")
    return limit


dlq = DeadLetters()
