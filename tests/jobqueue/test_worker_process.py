"""`gingee worker` as real processes on a real Redis: at-least-once under SIGKILL, SIGTERM drain, cron
ticks fired once with two workers (of one folder, or of two hosts' copies), fail-closed start."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from gingee_kernel import queue
from gingee_kernel.engine.context import app_context
from gingee_kernel.engine.project import Project
from gingee_kernel.jobqueue.service import close_service, start_project_queue
from tests.fixtures.servers import write_files
from tests.jobqueue.workers import READY, WorkerProcess

pytestmark = pytest.mark.redis

WORK = """
import asyncio, os
from gingee_kernel import cache

async def handle(g):
    pid = os.getpid()
    await cache.set(f"start:{g.job.id}:{pid}", g.job.attempt)
    await asyncio.sleep(g.job.payload.get("sleep", 0.02))
    await cache.set(f"done:{g.job.id}", pid)
    return pid
"""
TICK = """
from gingee_kernel import cache

async def handle(g):
    await cache.incr("ran:" + g.job.id)
"""


@pytest.fixture
def project_dir(tmp_path: Path, redis_url: str, arq_keys: str) -> Callable[..., Path]:
    """Factory: a project on the arq driver (prefix unique to the test, cache in the same Redis)."""

    def factory(queue_settings: dict[str, Any] | None = None, app: dict[str, Any] | None = None) -> Path:
        settings = {"driver": "arq", "prefix": arq_keys, "redis": {"url": redis_url}, "poll_delay_ms": 10,
                    **(queue_settings or {})}  # fmt: skip
        return write_files(tmp_path / "project", {
            "gingee.json": {
                "queue": settings,
                "cache": {"driver": "redis", "prefix": arq_keys + "c:", "redis": {"url": redis_url}},
            },
            "settings/permissions.json": {"shop": {"granted": ["queue", "cache", "scheduler"]}},
            "web/shop/box/app.json": {"name": "shop", **(app or {})},
            "web/shop/box/jobs/work.py": WORK,
            "web/shop/box/jobs/tick.py": TICK,
            "web/shop/box/tasks/tick.py": TICK,
        })  # fmt: skip

    return factory


@pytest.fixture
async def enqueuer() -> AsyncIterator[Callable[[Path], Any]]:
    """Factory: load a project in this process as `gingee serve` does with arq (enqueue only)."""
    projects: list[Project] = []

    async def factory(path: Path) -> Project:
        project = Project(path)
        await project.load()
        projects.append(project)
        await start_project_queue(project)
        return project

    yield factory
    for project in projects:
        await close_service(project.shared)
        await project.close()


def cache_keys(url: str, prefix: str, pattern: str) -> dict[str, Any]:
    """The shop app's cache entries matching `pattern`, by cache key."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        start = f"{prefix}c:shop:"
        names = list(client.scan_iter(match=start + pattern, count=1000))
        values = client.mget(names) if names else []
        return {n[len(start) :]: json.loads(v) for n, v in zip(names, values, strict=True) if v is not None}
    finally:
        client.close()


async def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_sigkill_mid_job_loses_nothing(
    project_dir: Callable[..., Path], enqueuer: Any, spawn_worker: type[WorkerProcess], redis_url: str,
    arq_keys: str,
) -> None:  # fmt: skip
    path = project_dir({"job_timeout_ms": 2000, "lease_grace_ms": 1000, "concurrency": 10})
    doomed, survivor = spawn_worker(path), spawn_worker(path)
    doomed.wait_for(READY)
    survivor.wait_for(READY)
    project = await enqueuer(path)
    total = 1000
    with app_context(project.apps["shop"]):
        handles = await asyncio.gather(
            *(queue.add("work", {"sleep": 0.05}, job_id=f"j{n}") for n in range(total))
        )
    assert all(h.created for h in handles)

    def doomed_has_jobs_in_flight() -> bool:
        started = cache_keys(redis_url, arq_keys, f"start:*:{doomed.pid}")
        done = cache_keys(redis_url, arq_keys, "done:*")
        mine = sum(1 for pid in done.values() if pid == doomed.pid)
        return mine >= 50 and len(started) > mine

    await wait_until(doomed_has_jobs_in_flight, 60, "the first worker to be busy")
    doomed.signal(signal.SIGKILL)
    assert doomed.wait() == -signal.SIGKILL
    await wait_until(
        lambda: len(cache_keys(redis_url, arq_keys, "done:*")) == total, 60, "every job to finish"
    )

    done = cache_keys(redis_url, arq_keys, "done:*")
    assert sorted(done) == sorted(f"done:j{n}" for n in range(total))
    started_on_doomed = {k.split(":")[1] for k in cache_keys(redis_url, arq_keys, f"start:*:{doomed.pid}")}
    reclaimed = [job for job in started_on_doomed if done[f"done:{job}"] == survivor.pid]
    assert reclaimed, "no job that the killed worker had started was finished by the other worker"
    with app_context(project.apps["shop"]):
        infos = [await h.info() for h in handles]
        assert [i.status for i in infos] == [queue.JobStatus.done] * total
        assert {i.attempt for i in infos if i.id in reclaimed} == {2}
        assert await queue.dlq.list() == []
        assert await queue.stats() == {"queued": 0, "delayed": 0, "running": 0, "dead": 0}


async def test_sigterm_drains_running_jobs(
    project_dir: Callable[..., Path], enqueuer: Any, spawn_worker: type[WorkerProcess], redis_url: str,
    arq_keys: str,
) -> None:  # fmt: skip
    path = project_dir({"drain_timeout_ms": 20_000})
    worker = spawn_worker(path)
    worker.wait_for(READY)
    project = await enqueuer(path)
    with app_context(project.apps["shop"]):
        slow = await queue.add("work", {"sleep": 1.5}, job_id="slow")
        await wait_until(
            lambda: bool(cache_keys(redis_url, arq_keys, "start:slow:*")), 20, "the job to start"
        )
        worker.signal(signal.SIGTERM)
        worker.wait_for("draining 1 running job")
        late = await queue.add("work", {}, job_id="late")
        assert worker.wait() == 0
        assert await slow.result(timeout=1) == worker.pid
        assert (await slow.info()).attempt == 1
        assert await late.status() is queue.JobStatus.queued


@pytest.mark.parametrize("hosts", ["one folder", "two hosts"])
async def test_schedule_ticks_run_once_with_two_workers(
    project_dir: Callable[..., Path], spawn_worker: type[WorkerProcess], redis_url: str, arq_keys: str,
    hosts: str,
) -> None:  # fmt: skip
    """Two workers of one project folder, or of two copies of it (two hosts of a fleet): each tick once."""
    schedules = [
        {"name": "every-second", "cron": "* * * * * *", "target": {"job": "tick"}},
        {"name": "script", "cron": "*/1 * * * * *", "timezone": "Europe/Paris",
         "target": {"script": "tasks/tick.py"}},
    ]  # fmt: skip
    path = project_dir(app={"schedules": schedules})
    other = path if hosts == "one folder" else Path(shutil.copytree(path, path.parent / "host-2"))
    first, second = spawn_worker(path), spawn_worker(other)
    first.wait_for(READY)
    second.wait_for(READY)
    both_ready_ms = time.time() * 1000
    await asyncio.sleep(3.5)
    first.stop()
    second.stop()
    for kind in ("every-second", "script"):
        runs = cache_keys(redis_url, arq_keys, f"ran:schedule:{kind}:*")
        ticks = {int(k.rsplit(":", 1)[1]): n for k, n in runs.items()}
        watched = {t: n for t, n in ticks.items() if t > both_ready_ms + 1000 and t < both_ready_ms + 3000}
        assert len(watched) >= 1, (kind, ticks)
        assert set(ticks.values()) == {1}, (kind, ticks)
        assert all(t % 1000 == 0 for t in ticks)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_worker_fails_closed_when_redis_is_down(tmp_path: Path) -> None:
    write_files(tmp_path, {
        "gingee.json": {"queue": {"driver": "arq", "redis": {"url": f"redis://127.0.0.1:{_closed_port()}/0"}}},
        "web/shop/box/app.json": {"name": "shop"},
    })  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "gingee_kernel.cli", "worker", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "cannot be reached" in run.stderr and "fail closed" in run.stderr


def test_worker_refuses_the_memory_driver(tmp_path: Path) -> None:
    write_files(tmp_path, {"web/shop/box/app.json": {"name": "shop"}})
    run = subprocess.run(
        [sys.executable, "-m", "gingee_kernel.cli", "worker", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert 'set it to "arq"' in run.stderr
