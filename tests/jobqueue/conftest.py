"""Queue test fixtures: a project factory started with its queue, over both drivers, and Redis cleanup."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gingee_kernel.engine.project import Project
from gingee_kernel.jobqueue.service import close_service, start_project_queue
from tests.fixtures.servers import write_files
from tests.jobqueue.workers import spawn_worker  # noqa: F401  (a fixture)

StartProject = Callable[..., Awaitable[Project]]


@pytest.fixture(params=["memory", pytest.param("arq", marks=pytest.mark.redis)])
def queue_server(request: pytest.FixtureRequest) -> dict[str, Any]:
    """gingee.json `queue` for each driver (arq: a prefix unique to the test, short polls)."""
    fast = {"default_backoff_ms": 20, "poll_delay_ms": 5, "drain_timeout_ms": 2000}
    if request.param == "memory":
        return {"queue": {"driver": "memory", **fast}}
    prefix = request.getfixturevalue("arq_keys")
    url = request.getfixturevalue("redis_url")
    return {"queue": {"driver": "arq", "prefix": prefix, "redis": {"url": url}, **fast}}


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`base` with `extra` merged in, dicts key by key."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = (
            merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


@pytest.fixture
async def start_project(tmp_path: Path, queue_server: dict[str, Any]) -> AsyncIterator[StartProject]:
    """Factory: write `files`, load the project and start its queue (running jobs in this process)."""
    started: list[Project] = []

    async def factory(
        files: dict[str, Any],
        *,
        server: dict[str, Any] | None = None,
        run_jobs: bool = True,
        run_schedules: bool = False,
        dev: bool = False,
    ) -> Project:
        root = tmp_path / f"project{len(started)}"
        write_files(root, {**files, "gingee.json": merge(queue_server, server or {})})
        project = Project(root, dev=dev)
        await project.load()
        started.append(project)
        await start_project_queue(project, run_jobs=run_jobs, run_schedules=run_schedules)
        return project

    yield factory
    for project in started:
        await close_service(project.shared, drain=1)
        await project.close()
