"""app.json `schedules`: fire each tick of each schedule exactly once across all processes.

Every process running schedules computes the same tick times from the cron expression; before firing one,
it takes the tick's lock (Redis `SET NX PX` on a key holding the tick's time, keys.py) and only the winner
fires. A job target is enqueued with the id `schedule:<name>:<tick ms>`, so even a second winner could not
add it twice; a script target runs `handle(g)` in the winner, with `g.job` describing the tick. Runs need
the `scheduler` grant (and `queue` for job targets), checked at every tick. A Redis error skips the tick.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..engine.app import AppRuntime
from ..engine.context import app_context
from ..engine.g import G
from ..engine.paths import box_script
from .cron import Cron, CronError
from .job import JobContext, JobSpec

if TYPE_CHECKING:
    from .service import QueueService

log = logging.getLogger("gingee.queue.schedules")

#: How often the loop wakes at most, so reloaded apps' schedules are noticed.
_MAX_SLEEP = 1.0
_DEFAULT_SCRIPT_TIMEOUT = 300.0


class Scheduler:
    """The schedules of every app of a queue service, fired from one asyncio task."""

    def __init__(self, service: QueueService) -> None:
        self.service = service
        self._task: asyncio.Task[None] | None = None
        self._next: dict[tuple[str, str], tuple[tuple[Any, ...], float]] = {}
        self._crons: dict[tuple[str, str, str], Cron | None] = {}
        self._running: dict[tuple[str, str], asyncio.Task[None]] = {}

    def start(self) -> None:
        """Start the loop."""
        self._task = asyncio.create_task(self._loop(), name="gingee-scheduler")

    async def stop(self) -> None:
        """Stop the loop and cancel runs in progress."""
        tasks = [t for t in (self._task, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _cron(self, app: str, schedule: dict[str, Any]) -> Cron | None:
        key = (app, schedule["cron"], schedule.get("timezone", "UTC"))
        if key not in self._crons:
            try:
                self._crons[key] = Cron(key[1], key[2])
            except CronError as exc:
                self._crons[key] = None
                log.error("app '%s': schedule '%s' is ignored: %s", app, schedule["name"], exc)
        return self._crons[key]

    async def _loop(self) -> None:
        while True:
            now = time.time()
            soonest = now + _MAX_SLEEP
            seen = set()
            for name, app in list(self.service.apps.items()):
                for schedule in app.config.get("schedules", []):
                    if not schedule.get("enabled", True):
                        continue
                    cron = self._cron(name, schedule)
                    if cron is None:
                        continue
                    key = (name, schedule["name"])
                    seen.add(key)
                    version = (schedule["cron"], schedule.get("timezone"))
                    known = self._next.get(key)
                    if known is None or known[0] != version:
                        known = (version, _epoch(cron.next_after(_utc(now))))
                    due = known[1]
                    if due <= now:
                        self._fire(name, schedule, round(due * 1000))
                        known = (version, _epoch(cron.next_after(_utc(due))))
                    self._next[key] = known
                    soonest = min(soonest, known[1])
            for key in set(self._next) - seen:
                del self._next[key]
            await asyncio.sleep(max(0.005, soonest - time.time()))

    def _fire(self, app: str, schedule: dict[str, Any], tick_ms: int) -> None:
        key = (app, schedule["name"])
        previous = self._running.get(key)
        if previous is not None and not previous.done():
            log.warning("app '%s': schedule '%s' skipped a tick: its last run is still going", *key)
            return
        self._running[key] = asyncio.create_task(self._run(app, schedule, tick_ms))

    async def run_tick(self, app: str, schedule: str, tick_ms: int) -> None:
        """Run the tick at `tick_ms` (epoch milliseconds) of `app`'s schedule called `schedule` now, as the
        loop does when that tick is due: the grants are checked, the tick is claimed across processes
        (a tick already claimed does not run again) and its job is enqueued or its script run. An app or
        schedule that does not exist is a KeyError."""
        runtime = self.service.apps.get(app)
        if runtime is None:
            raise KeyError(f"no app '{app}' runs on this queue")
        for candidate in runtime.config.get("schedules", []):
            if candidate["name"] == schedule:
                await self._run(app, candidate, tick_ms)
                return
        raise KeyError(f"app '{app}' has no schedule '{schedule}'")

    async def _run(self, name: str, schedule: dict[str, Any], tick_ms: int) -> None:
        app = self.service.apps.get(name)
        if app is None or app.maintenance:
            return
        if "scheduler" not in app.grants:
            log.warning(
                "app '%s': schedule '%s' did not run: the app is not granted 'scheduler' "
                "(gingee grant PROJECT %s scheduler)", name, schedule["name"], name,
            )  # fmt: skip
            return
        try:
            if not await self.service.driver.claim_tick(name, schedule["name"], tick_ms):
                return
        except Exception as exc:
            log.error("app '%s': schedule '%s' skipped a tick: %s", name, schedule["name"], exc)
            return
        job_id = f"schedule:{schedule['name']}:{tick_ms}"
        target = schedule["target"]
        try:
            if "job" in target:
                if "queue" not in app.grants:
                    raise PermissionError(
                        f"schedule '{schedule['name']}' targets a job but the app lacks 'queue'"
                    )
                await self.service.add(app, target["job"], schedule.get("payload"), job_id=job_id)
            else:
                await self._run_script(app, schedule, job_id)
        except Exception:
            log.exception("app '%s': schedule '%s' failed", name, schedule["name"])

    async def _run_script(self, app: AppRuntime, schedule: dict[str, Any], job_id: str) -> None:
        spec = JobSpec(job_id, schedule["name"], schedule.get("payload"), 1, 0.0)
        timeout = schedule.get("timeout_ms", _DEFAULT_SCRIPT_TIMEOUT * 1000) / 1000
        if app.isolated:  # its worker process runs it (isolation/host.py)
            await app.shared["isolation"].run_script(app, schedule["target"]["script"], spec, timeout)
            return
        await run_schedule_script(app, schedule["target"]["script"], spec, timeout)


async def run_schedule_script(app: AppRuntime, script: str, spec: JobSpec, timeout: float) -> None:
    """Run a schedule's target script `handle(g)` as `app`, with `g.job` for the tick, within `timeout`."""
    path = box_script(app.box, script)
    func = app.pipeline.scripts.function(path)
    g = G(app.pipeline.info, app.log, job=JobContext(spec, 1))
    with app_context(app):
        await asyncio.wait_for(app.pipeline.call(func, g), timeout)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _epoch(when: datetime) -> float:
    return when.timestamp()
