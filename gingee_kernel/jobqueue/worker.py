"""Running jobs from Redis: one arq `Worker` per app in this process (`WorkerPool`), and `gingee worker`.

Every start of a job takes arq's lease (`arq:in-progress:<id>`, `job_timeout + lease_grace` seconds) and
counts as an attempt; a worker killed mid-job leaves the job in its queue, so another worker runs it once
the lease expires. On stop, workers take no new jobs, give running ones `drain` seconds, then cancel them
(arq puts a cancelled job straight back). Any number of worker processes on any machines share one Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
import time
from collections import deque
from pathlib import Path
from typing import Any

from arq.constants import retry_key_prefix
from arq.worker import Retry as ArqRetry
from arq.worker import Worker, func

from ..errors import GingeeError
from .arq_driver import EXPIRES_EXTRA_MS, FUNCTION, ArqDriver, dumps, loads
from .job import JobInfo, JobSpec, JobStatus
from .memory import dead_entry
from .runner import JobRunner

log = logging.getLogger("gingee.queue.worker")

_RECENT = 100  # finished jobs listed per app
_SUPERVISE_EVERY = 1.0  # seconds between checks for new apps and crashed workers


class JobDied(Exception):
    """Raised to arq for a job that is dead, so arq stores a failed result (the DLQ has the details)."""


class WorkerPool:
    """arq workers for every app of the runner, restarted if one crashes, started for apps that appear."""

    def __init__(self, driver: ArqDriver, runner: JobRunner) -> None:
        self.driver = driver
        self.runner = runner
        self.settings = driver.settings
        self.workers: dict[str, tuple[Worker, asyncio.Task[None]]] = {}
        # Finished since the last flush, newest last: (spec, status, attempts made, error).
        self._recent: dict[str, deque[tuple[JobSpec, JobStatus, int, str | None]]] = {}
        self._supervisor: asyncio.Task[None] | None = None
        self._function = func(
            self._job,
            name=FUNCTION,
            timeout=self.settings.job_timeout + self.settings.lease_grace / 2,
            max_tries=2**31,  # attempts are counted by the runner, which dead-letters the job
        )

    async def start(self) -> None:
        """Start a worker per app and the supervisor."""
        self._supervise_once()
        self._supervisor = asyncio.create_task(self._supervise(), name="gingee-queue-supervisor")

    def _supervise_once(self) -> None:
        for app in list(self.runner.apps):
            entry = self.workers.get(app)
            if entry is not None and entry[1].done():
                with contextlib.suppress(asyncio.CancelledError):
                    error = entry[1].exception()
                    log.error("queue: the worker of app '%s' stopped (%r); starting it again", app, error)
                entry = None
            if entry is None:
                self.workers[app] = self._start_worker(app)

    async def _supervise(self) -> None:
        while True:
            await asyncio.sleep(_SUPERVISE_EVERY)
            self._supervise_once()
            await self._flush_recent()

    def _start_worker(self, app: str) -> tuple[Worker, asyncio.Task[None]]:
        settings = self.settings
        worker = Worker(
            [self._function],
            queue_name=self.driver.keys(app).queue,
            redis_pool=self.driver.redis,
            handle_signals=False,
            max_jobs=settings.concurrency,
            keep_result=settings.keep_result,
            poll_delay=settings.poll_delay,
            health_check_interval=60,
            ctx={"gingee_app": app},
            job_serializer=dumps,
            job_deserializer=loads,
            expires_extra_ms=EXPIRES_EXTRA_MS,
            log_results=False,
        )
        worker.in_progress_timeout_s = settings.lease  # arq's lease: our job timeout plus the grace period
        return worker, asyncio.create_task(worker.main(), name=f"gingee-queue-worker-{app}")

    async def _job(self, ctx: dict[str, Any], name: str, payload: Any, meta: dict[str, Any]) -> Any:
        """The arq function: one attempt through the runner, then done, arq Retry, or dead-lettered."""
        app, arq_id, attempt = ctx["gingee_app"], ctx["job_id"], ctx["job_try"]
        spec = JobSpec.from_meta(name, payload, meta)
        keys = self.driver.keys(app)
        redis = self.driver.redis
        reported = False

        async def report(value: Any) -> None:
            nonlocal reported
            reported = True
            await redis.hset(keys.progress, arq_id, json.dumps(value))

        outcome = await self.runner.attempt(app, spec, attempt, report)
        if reported:
            await redis.hdel(keys.progress, arq_id)
        if outcome.kind == "later":
            await redis.decr(retry_key_prefix + arq_id)  # a maintenance wait is not an attempt
            raise ArqRetry(defer=outcome.defer)
        if outcome.kind == "retry":
            await redis.hset(keys.errors, arq_id, outcome.error or "")
            raise ArqRetry(defer=outcome.defer)
        if attempt > 1:
            await redis.hdel(keys.errors, arq_id)
        made = min(attempt, spec.attempts)
        if outcome.kind == "done":
            self._remember(app, spec, JobStatus.done, made, None)
            return outcome.value
        await self.driver.dlq.add(app, dead_entry(spec, made, outcome.error or "", time.time()))
        self._remember(app, spec, JobStatus.dead, made, outcome.error)
        raise JobDied(outcome.error)

    def _remember(self, app: str, spec: JobSpec, status: JobStatus, made: int, error: str | None) -> None:
        recent = self._recent.get(app)
        if recent is None:
            recent = self._recent[app] = deque(maxlen=_RECENT)
        recent.append((spec, status, made, error))

    async def _flush_recent(self) -> None:
        recent, self._recent = self._recent, {}
        if not recent:
            return
        try:
            async with self.driver.redis.pipeline(transaction=False) as pipe:
                for app, infos in recent.items():
                    key = self.driver.keys(app).recent
                    pipe.lpush(key, *(_summary(*info) for info in infos))
                    pipe.ltrim(key, 0, _RECENT - 1)
                await pipe.execute()
        except Exception:
            log.warning("queue: could not record the latest finished jobs", exc_info=True)

    async def stop(self, drain: float) -> None:
        """Take no new jobs, wait up to `drain` seconds for running ones, cancel the rest (re-queued)."""
        workers = list(self.workers.values())
        self.workers = {}
        for worker, _ in workers:
            # arq's own way out of `main`: a burst with no jobs left to start ends at the next poll tick,
            # after its running jobs. Cancelling `main` instead can land inside the claim pipeline
            # (WATCH/MULTI) and leak its connection.
            worker.allow_pick_jobs = False
            worker.burst = True
            worker.max_burst_jobs = 0
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        deadline = time.monotonic() + drain
        running = [t for w, _ in workers for t in w.tasks.values() if not t.done()]
        if running:
            log.info("queue: draining %d running job(s) for up to %g s", len(running), drain)
            await asyncio.wait(running, timeout=max(0.0, deadline - time.monotonic()))
        await _cancel([t for w, _ in workers for t in w.tasks.values()])
        mains = [m for _, m in workers if not m.done()]
        if mains:  # each ends within a poll tick now that its jobs are over
            await asyncio.wait(mains, timeout=self.settings.poll_delay * 4 + 1.0)
        await _cancel([m for _, m in workers])
        with contextlib.suppress(Exception):
            if workers:
                await self.driver.redis.delete(*(w.health_check_key for w, _ in workers))
        await self._flush_recent()


def _summary(spec: JobSpec, status: JobStatus, made: int, error: str | None) -> str:
    info = JobInfo(
        spec.id, spec.name, status, made, spec.attempts, spec.payload, spec.enqueued_at, None, error
    )
    return json.dumps(info.to_dict())


async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and wait for them; cancel again any that swallowed the cancellation (redis-py can,
    when it lands inside a command)."""
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log.debug("queue: a worker task ended with %r", task.exception())


async def run_worker(project_dir: Path, *, concurrency: int | None = None) -> int:
    """`gingee worker`: load the project (no HTTP), run its jobs and schedules until SIGINT/SIGTERM."""
    from ..engine.project import Project, load_server_config
    from ..fleet.node import close_fleet, start_fleet
    from .service import close_service, start_project_queue

    if concurrency is not None and concurrency < 1:
        raise ValueError("gingee worker: --concurrency must be at least 1")
    if not log.isEnabledFor(logging.DEBUG):
        logging.getLogger("arq").setLevel(logging.WARNING)  # arq logs two lines per job at INFO
    config = load_server_config(project_dir)
    if concurrency is not None:
        config["queue"]["concurrency"] = concurrency
    if config["queue"]["driver"] != "arq":
        raise GingeeError(
            f"gingee worker runs jobs from Redis, but {project_dir}/gingee.json sets queue.driver to "
            f'{config["queue"]["driver"]!r}: set it to "arq" (the memory driver runs jobs inside '
            "gingee serve)"
        )
    project = Project(project_dir, config=config)
    await project.load()
    try:
        service = await start_project_queue(project, run_jobs=True, run_schedules=True)
        await start_fleet(project, role="worker")  # a fleet's upgrades reach the jobs' code too
    except BaseException:
        await close_service(project.shared)
        await project.close()
        raise
    # As `gingee serve` does: move what loading created out of the cyclic GC's reach, so collections
    # (frequent: every job allocates) stop rescanning it.
    gc.collect()
    gc.freeze()
    settings = service.settings
    where = getattr(service.driver, "where", "")
    print(
        f"gingee worker: running jobs of {', '.join(sorted(project.apps)) or 'no apps'} from Redis {where} "
        f"(concurrency {settings.concurrency} per app, poll every {settings.poll_delay * 1000:g} ms)",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(project.reload()))
    await stop.wait()
    print(f"gingee worker: stopping (running jobs get up to {settings.drain_timeout:g} s)", flush=True)
    await close_fleet(project.shared)
    await close_service(project.shared)
    await project.close()
    return 0
