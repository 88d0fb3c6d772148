"""The `queue` module over both drivers (memory, and arq on a real Redis with workers in this process)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from gingee_kernel import queue
from gingee_kernel.engine.context import app_context
from gingee_kernel.engine.project import Project
from gingee_kernel.errors import NoAppContext, PermissionDenied
from gingee_kernel.jobqueue import register_job_handler, unregister_job_handler
from gingee_kernel.metrics import series as metrics
from tests.jobqueue.conftest import StartProject

JOBS = {
    "echo": """
async def handle(g):
    return {"payload": g.job.payload, "id": g.job.id, "name": g.job.name,
            "attempt": g.job.attempt, "max_attempts": g.job.max_attempts}
""",
    "plain": """
import threading
def handle(g):
    return {"thread": threading.current_thread().name, "n": g.job.payload["n"] * 2}
""",
    "flaky": """
import time
TIMES = {}
async def handle(g):
    TIMES.setdefault(g.job.id, []).append(time.time())
    if g.job.attempt < g.job.payload["ok_at"]:
        raise RuntimeError(f"attempt {g.job.attempt} fails")
    return TIMES[g.job.id]
""",
    "boom": """
async def handle(g):
    raise ValueError("boom")
""",
    "gate": """
from pathlib import Path
async def handle(g):
    if not (Path(__file__).parent.parent / "data" / "open").exists():
        raise RuntimeError("gate closed")
    return "passed"
""",
    "again": """
from gingee_kernel import queue
async def handle(g):
    if g.job.attempt == 1:
        raise queue.Retry(defer=0.05)
    return g.job.attempt
""",
    "count": """
RUNS = {}
async def handle(g):
    RUNS[g.job.id] = RUNS.get(g.job.id, 0) + 1
    return RUNS[g.job.id]
""",
    "slow": """
import asyncio
async def handle(g):
    await g.job.progress(0.5)
    await asyncio.sleep(g.job.payload)
    return "slept"
""",
    "chain": """
from gingee_kernel import queue
async def handle(g):
    follow = await queue.add("echo", {"from": g.job.id})
    return {"follow": follow.id, "stats": sorted(await queue.stats())}
""",
}


def shop_files(**extra: Any) -> dict[str, Any]:
    """A project: app `shop` (granted queue) with the JOBS above and a mapped job, app `blog` (no grant)."""
    files: dict[str, Any] = {
        "web/shop/box/app.json": {
            "name": "shop",
            "queue": {"jobs": {"mapped": {"script": "tasks/mapped.py", "function": "run", "attempts": 1}}},
        },
        "web/shop/box/tasks/mapped.py": "async def run(g):\n    return 'mapped:' + g.job.payload\n",
        "web/blog/box/app.json": {"name": "blog"},
        "web/blog/box/jobs/echo.py": JOBS["echo"],
        "settings/permissions.json": {"shop": {"granted": ["queue"]}},
        **{f"web/shop/box/jobs/{name}.py": source for name, source in JOBS.items()},
    }
    files.update(extra)
    return files


@pytest.fixture
async def shop(start_project: StartProject) -> Project:
    """The started project."""
    return await start_project(shop_files())


def in_app(project: Project, name: str = "shop") -> Any:
    return app_context(project.apps[name])


async def test_add_runs_the_job_and_returns_its_result(shop: Project) -> None:
    with in_app(shop):
        job = await queue.add("echo", {"a": [1, 2]}, job_id="first")
        assert (job.id, job.name, job.created) == ("first", "echo", True)
        value = await job.result(timeout=10)
        assert value == {
            "payload": {"a": [1, 2]},
            "id": "first",
            "name": "echo",
            "attempt": 1,
            "max_attempts": 3,
        }
        info = await job.info()
        assert info.status is queue.JobStatus.done and info.attempt == 1
        again = await queue.get("first")
        assert again is not None and again.name == "echo"
        assert await again.result(timeout=5) == value
        assert await queue.get("never-added") is None


async def test_plain_def_handlers_run_in_the_script_threads(shop: Project) -> None:
    with in_app(shop):
        job = await queue.add("plain", {"n": 21})
        value = await job.result(timeout=10)
    assert value["n"] == 42
    assert value["thread"].startswith("gingee-script")


async def test_failed_attempts_retry_with_exponential_backoff(shop: Project) -> None:
    with in_app(shop):
        job = await queue.add("flaky", {"ok_at": 3}, attempts=3, backoff=0.2)
        times = await job.result(timeout=20)
    assert len(times) == 3
    assert times[1] - times[0] >= 0.2
    assert times[2] - times[1] >= 0.4


async def test_dead_job_goes_to_the_dlq_and_can_be_retried_or_discarded(shop: Project) -> None:
    gate = shop.apps["shop"].box / "data" / "open"
    with in_app(shop):
        job = await queue.add("gate", None, attempts=2, backoff=0.01, job_id="g1")
        with pytest.raises(queue.JobFailed, match="gate closed"):
            await job.result(timeout=10)
        assert (await job.info()).status is queue.JobStatus.dead
        dead = await queue.dlq.list()
        assert [(d["id"], d["name"], d["attempts_made"]) for d in dead] == [("g1", "gate", 2)]
        assert dead[0]["error"] == "RuntimeError: gate closed"
        assert (await queue.stats())["dead"] == 1

        gate.parent.mkdir(parents=True)
        gate.write_text("")
        retried = await queue.dlq.retry("g1")
        assert await retried.result(timeout=10) == "passed"
        assert await queue.dlq.list() == []
        with pytest.raises(queue.JobNotFound):
            await queue.dlq.retry("g1")

        boom = await queue.add("boom", None, attempts=1, job_id="b1")
        with pytest.raises(queue.JobFailed, match="ValueError: boom"):
            await boom.result(timeout=10)
        await queue.dlq.discard("b1")
        assert await queue.dlq.list() == []
        assert await queue.get("b1") is None
        with pytest.raises(queue.JobNotFound):
            await queue.dlq.discard("b1")


async def test_retry_and_discard_race_one_winner(shop: Project) -> None:
    with in_app(shop):
        for n in range(5):
            job = await queue.add("boom", None, attempts=1, job_id=f"r{n}")
            with pytest.raises(queue.JobFailed):
                await job.result(timeout=10)
        for n in range(5):
            outcomes = await asyncio.gather(
                queue.dlq.retry(f"r{n}"), queue.dlq.discard(f"r{n}"), queue.dlq.retry(f"r{n}"),
                return_exceptions=True,
            )  # fmt: skip
            assert sum(not isinstance(o, queue.JobNotFound) for o in outcomes) == 1


async def test_job_id_makes_add_idempotent(shop: Project) -> None:
    with in_app(shop):
        first = await queue.add("count", None, job_id="once", delay=0.2)
        second = await queue.add("count", None, job_id="once")
        assert first.created and not second.created and second.id == "once"
        assert await first.result(timeout=10) == 1
        third = await queue.add("count", None, job_id="once")
        assert not third.created
        assert await third.result(timeout=5) == 1


async def test_delayed_job_waits(shop: Project) -> None:
    with in_app(shop):
        started = time.time()
        job = await queue.add("flaky", {"ok_at": 1}, delay=0.5)
        assert await job.status() is queue.JobStatus.delayed
        times = await job.result(timeout=10)
    assert times[0] - started >= 0.5


async def test_handler_can_ask_for_a_retry(shop: Project) -> None:
    with in_app(shop):
        job = await queue.add("again")
        assert await job.result(timeout=10) == 2


async def test_app_json_mapping_with_function_and_attempts(shop: Project) -> None:
    with in_app(shop):
        job = await queue.add("mapped", "x")
        assert await job.result(timeout=10) == "mapped:x"
        assert (await job.info()).max_attempts == 1


async def test_jobs_run_in_their_app_context(shop: Project) -> None:
    with in_app(shop):
        job = await queue.add("chain", None, job_id="c1")
        value = await job.result(timeout=10)
        follow = await queue.get(value["follow"])
        assert follow is not None
        assert (await follow.result(timeout=10))["payload"] == {"from": "c1"}
    assert value["stats"] == ["dead", "delayed", "queued", "running"]


async def test_progress_and_listing_while_running(shop: Project) -> None:
    with in_app(shop):
        job = await queue.add("slow", 1.0, job_id="s1")
        for _ in range(200):
            info = await job.info()
            if info.status is queue.JobStatus.running and info.progress == 0.5:
                break
            await asyncio.sleep(0.01)
        assert info.status is queue.JobStatus.running and info.progress == 0.5
        assert (await queue.stats())["running"] == 1
        assert await job.result(timeout=10) == "slept"


async def test_errors_at_add(shop: Project) -> None:
    with in_app(shop):
        with pytest.raises(queue.HandlerNotFound, match=r"box/jobs/nope\.py"):
            await queue.add("nope", {})
        with pytest.raises(TypeError, match="a set is not JSON"):
            await queue.add("echo", {"tags": {1, 2}})
        with pytest.raises(TypeError, match="not JSON"):
            await queue.add("echo", float("nan"))
        with pytest.raises(ValueError, match="job name"):
            await queue.add("../escape", {})
        with pytest.raises(ValueError, match="attempts"):
            await queue.add("echo", {}, attempts=0)
        with pytest.raises(ValueError, match="job_id"):
            await queue.add("echo", {}, job_id="bad id")
        with pytest.raises(ValueError, match="delay"):
            await queue.add("echo", {}, delay=-1)
        assert await queue.stats() == {"queued": 0, "delayed": 0, "running": 0, "dead": 0}
    with in_app(shop, "blog"), pytest.raises(PermissionDenied, match="'blog' is not granted the 'queue'"):
        await queue.add("echo", {})
    with pytest.raises(NoAppContext):
        await queue.add("echo", {})


async def test_grant_is_checked_again_when_the_job_runs(shop: Project) -> None:
    app = shop.apps["shop"]
    with in_app(shop):
        job = await queue.add("echo", {}, delay=0.3, attempts=3)
        app.grants = frozenset()
        with pytest.raises(queue.JobFailed, match="not granted the 'queue' permission"):
            await job.result(timeout=10)
        app.grants = frozenset({"queue"})
        assert (await queue.dlq.list())[0]["attempts_made"] == 1


async def test_timeout_fails_the_attempt(start_project: StartProject) -> None:
    project = await start_project(shop_files(), server={"queue": {"job_timeout_ms": 200}})
    with in_app(project):
        job = await queue.add("slow", 5, attempts=1)
        with pytest.raises(queue.JobFailed, match=r"longer than 0\.2 s"):
            await job.result(timeout=10)


async def test_result_timeout(shop: Project) -> None:
    with in_app(shop):
        job = await queue.add("slow", 1.0)
        with pytest.raises(TimeoutError):
            await job.result(timeout=0.1)


async def test_apps_do_not_see_each_others_jobs(start_project: StartProject) -> None:
    project = await start_project(shop_files(**{"settings/permissions.json": {
        "shop": {"granted": ["queue"]}, "blog": {"granted": ["queue"]}}}))  # fmt: skip
    with in_app(project):
        await (await queue.add("echo", "from shop", job_id="same")).result(timeout=10)
    with in_app(project, "blog"):
        assert await queue.get("same") is None
        job = await queue.add("echo", "from blog", job_id="same")
        assert job.created
        assert (await job.result(timeout=10))["payload"] == "from blog"


async def test_in_memory_handlers_come_first(shop: Project) -> None:
    app = shop.apps["shop"]
    calls: list[Any] = []

    async def notebook_echo(g: Any) -> str:
        calls.append(g.job.payload)
        return "from memory"

    register_job_handler(app, "echo", notebook_echo, attempts=1)
    register_job_handler(app, "fresh", lambda g: g.job.payload * 2)
    with in_app(shop):
        job = await queue.add("echo", "p")
        assert await job.result(timeout=10) == "from memory"
        assert (await job.info()).max_attempts == 1
        assert await (await queue.add("fresh", 21)).result(timeout=10) == 42
        assert unregister_job_handler(app, "fresh")
        with pytest.raises(queue.HandlerNotFound):
            await queue.add("fresh", 1)
    assert calls == ["p"]


async def test_queue_depth_is_reported_to_metrics(shop: Project) -> None:
    with in_app(shop):
        await queue.add("echo", None, delay=30)
        await queue.add("echo", None, delay=30)
    collector = metrics.LiveCollector()
    await collector.refresh()
    assert collector.depths["shop"] == 2
