"""app.json `schedules`, one tick at a time: the scheduler's run of a tick is called directly (no waiting
for the clock), over both drivers. Ticks the clock fires: test_api.py and test_worker_process.py."""

from __future__ import annotations

import pytest

from gingee_kernel import cache, queue
from gingee_kernel.jobqueue.schedules import Scheduler
from gingee_kernel.jobqueue.service import SHARED_KEY
from tests.jobqueue.conftest import StartProject
from tests.jobqueue.test_queue_module import JOBS, in_app

PAYLOAD = {"report": "daily", "to": ["ops@example.com"], "limit": 10}
TICK_MS = 1_767_236_400_000  # 2026-01-01 03:00 UTC, a tick of "0 3 * * *"


async def test_a_job_schedule_delivers_its_payload_to_the_job(start_project: StartProject) -> None:
    project = await start_project({
        "settings/permissions.json": {"shop": {"granted": ["queue", "scheduler"]}},
        "web/shop/box/app.json": {"name": "shop", "schedules": [
            {"name": "nightly", "cron": "0 3 * * *", "payload": PAYLOAD, "target": {"job": "echo"}},
        ]},
        "web/shop/box/jobs/echo.py": JOBS["echo"],
    })  # fmt: skip
    await Scheduler(project.shared[SHARED_KEY]).run_tick("shop", "nightly", TICK_MS)
    with in_app(project):
        job = await queue.get(f"schedule:nightly:{TICK_MS}")
        assert job is not None and job.name == "echo"
        result = await job.result(timeout=10)
    assert result["payload"] == PAYLOAD
    assert result["id"] == f"schedule:nightly:{TICK_MS}"


async def test_run_tick_runs_a_tick_once_and_names_what_is_missing(start_project: StartProject) -> None:
    project = await start_project({
        "settings/permissions.json": {"shop": {"granted": ["queue", "scheduler", "cache"]}},
        "web/shop/box/app.json": {"name": "shop", "schedules": [
            {"name": "count", "cron": "0 3 * * *", "target": {"script": "count.py"}},
        ]},
        "web/shop/box/count.py": (
            "from gingee_kernel import cache\n\n\n"
            "async def handle(g):\n"
            "    await cache.set('runs', (await cache.get('runs') or 0) + 1)\n"
        ),
    })  # fmt: skip
    scheduler = Scheduler(project.shared[SHARED_KEY])
    await scheduler.run_tick("shop", "count", TICK_MS)
    await scheduler.run_tick("shop", "count", TICK_MS)  # the same tick, claimed already: not run again
    await scheduler.run_tick("shop", "count", TICK_MS + 86_400_000)  # the next day's
    with in_app(project):
        assert await cache.get("runs") == 2
    with pytest.raises(KeyError, match="app 'shop' has no schedule 'nightly'"):
        await scheduler.run_tick("shop", "nightly", TICK_MS)
    with pytest.raises(KeyError, match="no app 'other'"):
        await scheduler.run_tick("other", "count", TICK_MS)
