"""The in-process driver (development default): jobs live in this process and are lost when it exits.

Workers are `concurrency` asyncio tasks of the process; delays and backoffs are loop timers. Finished jobs
keep their result for `keep_result` seconds; the dead-letter queue keeps the newest `dlq_max` per app.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from typing import Any

from .base import QueueDriver
from .errors import JobFailed, JobNotFound
from .job import JobInfo, JobSpec, JobStatus
from .runner import JobRunner
from .settings import QueueSettings

_MAX_FINISHED = 10_000  # finished jobs remembered per app, besides the keep_result expiry


class _Job:
    __slots__ = ("app", "attempt", "error", "finished_at", "progress", "run_at", "settled", "spec",
                 "status", "value")  # fmt: skip

    def __init__(self, app: str, spec: JobSpec, run_at: float) -> None:
        self.app = app
        self.spec = spec
        self.status = JobStatus.delayed if run_at > time.time() else JobStatus.queued
        self.attempt = 0
        self.run_at = run_at
        self.error: str | None = None
        self.progress: Any = None
        self.value: Any = None
        self.finished_at = 0.0
        self.settled = asyncio.Event()

    def info(self) -> JobInfo:
        status = self.status
        if status is JobStatus.delayed and self.run_at <= time.time():
            status = JobStatus.queued
        spec = self.spec
        return JobInfo(spec.id, spec.name, status, self.attempt, spec.attempts, spec.payload,
                       spec.enqueued_at, self.run_at, self.error, self.progress)  # fmt: skip


class MemoryDriver(QueueDriver):
    """Jobs, results and dead letters in dicts of this process."""

    name = "memory"

    def __init__(self, settings: QueueSettings) -> None:
        self.settings = settings
        self._jobs: dict[str, OrderedDict[str, _Job]] = {}
        self._dead: dict[str, OrderedDict[str, dict[str, Any]]] = {}
        self._finished: dict[str, OrderedDict[str, _Job]] = {}  # by finish time, for expiry and listings
        self._ticks: dict[tuple[str, str], int] = {}  # (app, schedule) -> the latest tick claimed
        self._ready: asyncio.Queue[_Job] | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._running: set[_Job] = set()
        self._runner: JobRunner | None = None

    async def check(self) -> None:
        """Always reachable."""

    async def enqueue(self, app: str, spec: JobSpec, delay: float) -> bool:
        """Store the job and schedule it."""
        jobs = self._jobs.setdefault(app, OrderedDict())
        self._expire(app)
        if spec.id in jobs:
            return False
        job = jobs[spec.id] = _Job(app, spec, time.time() + delay)
        self._schedule(job, delay)
        return True

    async def info(self, app: str, job_id: str) -> JobInfo | None:
        """The job's state, if known."""
        job = self._find(app, job_id)
        return None if job is None else job.info()

    async def result(self, app: str, job_id: str, timeout: float | None) -> Any:
        """Wait on the job's settle event."""
        job = self._find(app, job_id)
        if job is None:
            raise JobNotFound(app, job_id)
        while job.status not in (JobStatus.done, JobStatus.dead):
            await asyncio.wait_for(job.settled.wait(), timeout)
        if job.status is JobStatus.dead:
            raise JobFailed(job_id, job.error or "unknown error")
        return job.value

    async def stats(self, app: str) -> dict[str, int]:
        """Counts by status."""
        counts = {"queued": 0, "delayed": 0, "running": 0, "dead": len(self._dead.get(app, {}))}
        for job in self._jobs.get(app, {}).values():
            status = job.info().status
            if status is JobStatus.retrying:
                status = JobStatus.delayed
            if status.value in counts and status is not JobStatus.dead:
                counts[status.value] += 1
        return counts

    async def jobs(self, app: str, limit: int) -> list[JobInfo]:
        """Live jobs oldest first, then finished ones newest first."""
        self._expire(app)
        live = [j.info() for j in self._jobs.get(app, {}).values() if not j.finished_at][:limit]
        finished = reversed(self._finished.get(app, {}).values())
        return live + [j.info() for j, _ in zip(finished, range(limit - len(live)), strict=False)]

    async def dlq_list(self, app: str, limit: int) -> list[dict[str, Any]]:
        """Dead jobs, newest first."""
        return list(reversed(self._dead.get(app, {}).values()))[:limit]

    async def dlq_retry(self, app: str, job_id: str) -> bool:
        """Back to the queue, attempts from 1 again."""
        entry = self._dead.get(app, {}).pop(job_id, None)
        if entry is None:
            return False
        jobs = self._jobs.setdefault(app, OrderedDict())
        spec = JobSpec(job_id, entry["name"], entry["payload"], entry["attempts"], entry["backoff"])
        jobs.pop(job_id, None)
        self._finished.get(app, {}).pop(job_id, None)
        jobs[job_id] = job = _Job(app, spec, time.time())
        self._schedule(job, 0)
        return True

    async def dlq_discard(self, app: str, job_id: str) -> bool:
        """Forget a dead job."""
        if self._dead.get(app, {}).pop(job_id, None) is None:
            return False
        self._jobs.get(app, {}).pop(job_id, None)
        self._finished.get(app, {}).pop(job_id, None)
        return True

    async def claim_tick(self, app: str, schedule: str, tick_ms: int) -> bool:
        """One process: a tick is claimed if it is later than the schedule's last claimed one (ticks only
        move forward), so asking twice for one tick runs it once."""
        key = (app, schedule)
        if tick_ms <= self._ticks.get(key, -1):
            return False
        self._ticks[key] = tick_ms
        return True

    async def start(self, runner: JobRunner) -> None:
        """Start `concurrency` worker tasks."""
        if self._workers:
            return
        self._runner = runner
        self._ready = self._ready or asyncio.Queue()
        self._workers = [
            asyncio.create_task(self._work(), name=f"gingee-queue-{i}")
            for i in range(self.settings.concurrency)
        ]

    async def stop(self, drain: float) -> None:
        """Stop the timers; let running jobs finish for up to `drain` seconds; cancel the workers."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        workers, self._workers = self._workers, []
        deadline = time.monotonic() + drain
        while self._running and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    async def close(self) -> None:
        """Nothing to release."""

    # --- internals ---------------------------------------------------------------------------------------

    def _find(self, app: str, job_id: str) -> _Job | None:
        jobs = self._jobs.get(app)
        if not jobs:
            return None
        self._expire(app)
        return jobs.get(job_id)

    def _expire(self, app: str) -> None:
        """Forget finished jobs past keep_result (or beyond the cap), oldest first; dead ones stay while
        they are in the dead-letter queue."""
        finished = self._finished.get(app)
        if not finished:
            return
        cutoff = time.time() - self.settings.keep_result
        jobs, dead = self._jobs[app], self._dead.get(app, {})
        while finished:
            job_id, job = next(iter(finished.items()))
            if job.finished_at >= cutoff and len(finished) <= _MAX_FINISHED:
                break
            finished.popitem(last=False)
            if job_id not in dead and jobs.get(job_id) is job:
                del jobs[job_id]

    def _schedule(self, job: _Job, delay: float) -> None:
        if self._ready is None:
            self._ready = asyncio.Queue()
        if delay <= 0:
            self._ready.put_nowait(job)
            return
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None

        def due() -> None:
            self._timers.discard(timer)  # type: ignore[arg-type]
            assert self._ready is not None
            self._ready.put_nowait(job)

        timer = loop.call_later(delay, due)
        self._timers.add(timer)

    async def _work(self) -> None:
        assert self._ready is not None and self._runner is not None
        while True:
            job = await self._ready.get()
            if job.status in (JobStatus.done, JobStatus.dead) or self._find(job.app, job.spec.id) is not job:
                continue
            self._running.add(job)
            try:
                await self._run(job, self._runner)
            finally:
                self._running.discard(job)

    async def _run(self, job: _Job, runner: JobRunner) -> None:
        job.attempt += 1
        job.status = JobStatus.running

        async def report(value: Any) -> None:
            job.progress = value

        try:
            outcome = await runner.attempt(job.app, job.spec, job.attempt, report)
        except asyncio.CancelledError:
            job.attempt -= 1
            job.status = JobStatus.queued
            raise
        if outcome.kind in ("retry", "later"):
            if outcome.kind == "later":
                job.attempt -= 1
            else:
                job.error = outcome.error
            job.status = JobStatus.retrying if job.attempt else JobStatus.delayed
            job.run_at = time.time() + outcome.defer
            self._schedule(job, outcome.defer)
            return
        job.progress = None
        job.finished_at = time.time()
        self._finished.setdefault(job.app, OrderedDict())[job.spec.id] = job
        if outcome.kind == "done":
            job.status, job.value = JobStatus.done, outcome.value
        else:
            job.status, job.error = JobStatus.dead, outcome.error
            dead = self._dead.setdefault(job.app, OrderedDict())
            dead[job.spec.id] = dead_entry(job.spec, job.attempt, outcome.error or "", job.finished_at)
            while len(dead) > self.settings.dlq_max:
                old_id, _ = dead.popitem(last=False)
                with contextlib.suppress(KeyError):
                    del self._jobs[job.app][old_id]
                self._finished.get(job.app, {}).pop(old_id, None)
        job.settled.set()


def dead_entry(spec: JobSpec, attempts_made: int, error: str, failed_at: float) -> dict[str, Any]:
    """The dead-letter record of a job (the same shape for every driver)."""
    return {
        "id": spec.id,
        "name": spec.name,
        "payload": spec.payload,
        "attempts": spec.attempts,
        "backoff": spec.backoff,
        "attempts_made": attempts_made,
        "enqueued_at": spec.enqueued_at,
        "failed_at": failed_at,
        "error": error,
    }
