"""`QueueService`: one project's queue (settings, driver, the apps its jobs run in) plus the workers and
scheduler it runs in this process, and `queue.add`'s checks. Hosts start it; modules find it in `shared`."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, MutableMapping
from datetime import timedelta
from typing import Any

from ..engine.app import AppRuntime
from ..errors import ServiceUnavailable
from ..metrics import series as metrics
from . import handlers
from .base import QueueDriver
from .job import JOB_ID, JobHandle, JobSpec, encode_json, seconds
from .runner import JobRunner
from .settings import QueueSettings

log = logging.getLogger("gingee.queue")

SHARED_KEY = "queue"  # where the service lives in the project-wide `shared` dict


def create_driver(settings: QueueSettings) -> QueueDriver:
    """The driver gingee.json `queue.driver` names (no connection is made yet)."""
    if settings.driver == "arq":
        from .arq_driver import ArqDriver

        return ArqDriver(settings)
    from .memory import MemoryDriver

    return MemoryDriver(settings)


class QueueService:
    """The queue of one project. `apps` maps names to the loaded apps jobs run in (a Project's live dict)."""

    def __init__(
        self,
        settings: QueueSettings,
        driver: QueueDriver,
        apps: MutableMapping[str, AppRuntime],
        *,
        autostart: bool = False,
    ) -> None:
        self.settings = settings
        self.driver = driver
        self.apps = apps
        self.runner = JobRunner(apps, settings.job_timeout)
        self.running_jobs = False
        #: Created on first use with no host: apps join at `add`, and the memory driver runs jobs here.
        self.autostart = autostart
        self.scheduler: Any = None
        self._unregister_depth: Callable[[], None] | None = metrics.register_queue_depth(self.depths)

    def register_app(self, app: AppRuntime) -> None:
        """Run jobs of `app` here (hosts that hold apps outside a Project, such as notebooks, call this)."""
        self.apps[app.name] = app

    async def add(
        self,
        app: AppRuntime,
        name: str,
        payload: Any = None,
        *,
        delay: float | timedelta | None = None,
        attempts: int | None = None,
        backoff: float | timedelta | None = None,
        job_id: str | None = None,
    ) -> JobHandle:
        """Check everything `queue.add` promises to check, then enqueue; see modules/queue.py."""
        ref = handlers.find(app, name)
        payload = json.loads(encode_json(payload, "queue.add: the payload"))
        wait = seconds(delay, "queue.add: delay") or 0.0
        if attempts is None:
            attempts = ref.attempts or self.settings.default_attempts
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
            raise ValueError(f"queue.add: attempts must be an integer >= 1, not {attempts!r}")
        pause = seconds(backoff, "queue.add: backoff")
        if pause is None:
            pause = ref.backoff if ref.backoff is not None else self.settings.default_backoff
        if job_id is None:
            job_id = uuid.uuid4().hex
        elif not isinstance(job_id, str) or not JOB_ID.match(job_id):
            raise ValueError(
                f"queue.add: job_id {job_id!r} is not valid: use 1-200 letters, digits, '.', '_', ':' "
                "or '-', starting with a letter or digit"
            )
        spec = JobSpec(job_id, name, payload, attempts, pause)
        created = await self.driver.enqueue(app.name, spec, wait)
        if created:
            metrics.record_job(app.name, name, "enqueued")
        if self.autostart and not self.running_jobs and self.driver.name == "memory":
            await self.run_jobs()
        return JobHandle(self.driver, app.name, job_id, name, created)

    async def run_jobs(self) -> None:
        """Run the project's jobs in this process (memory driver: always; arq: `gingee worker`, notebooks)."""
        if not self.running_jobs:
            self.running_jobs = True
            await self.driver.start(self.runner)

    async def run_schedules(self) -> None:
        """Fire the apps' app.json `schedules` from this process."""
        if self.scheduler is None:
            from .schedules import Scheduler

            self.scheduler = Scheduler(self)
            self.scheduler.start()

    async def depths(self) -> dict[str, int]:
        """Jobs waiting to run (queued and delayed), by app: the gingee_queue_depth gauge."""
        depths = {}
        for name in list(self.apps):
            counts = await self.driver.stats(name)
            depths[name] = counts["queued"] + counts["delayed"]
        return depths

    async def close(self, drain: float | None = None) -> None:
        """Stop the scheduler, drain running jobs (queue.drain_timeout_ms by default), release the driver."""
        if self._unregister_depth is not None:
            self._unregister_depth()
            self._unregister_depth = None
        if self.running_jobs:
            self.running_jobs = False
            await self.driver.stop(self.settings.drain_timeout if drain is None else drain)
        if self.scheduler is not None:
            await self.scheduler.stop()
            self.scheduler = None
        await self.driver.close()


def service_for(app: AppRuntime) -> QueueService:
    """The project's queue service; created on first use (running jobs here with the memory driver) when
    no host started one, as in module tests and bare notebooks."""
    service = app.shared.get(SHARED_KEY)
    if service is None:
        settings = QueueSettings.from_config(app.server_config)
        service = QueueService(settings, create_driver(settings), {}, autostart=True)
        app.shared[SHARED_KEY] = service
    if service.autostart and service.apps.get(app.name) is not app:
        service.register_app(app)
    return service


async def start_project_queue(
    project: Any, *, run_jobs: bool | None = None, run_schedules: bool | None = None
) -> QueueService:
    """Start the queue of a loaded `Project` and keep it in `project.shared`; hosts call this after load.

    Defaults: the memory driver runs jobs and schedules here; with arq, `gingee serve` only enqueues and
    `gingee worker` runs them. Unreachable Redis fails closed (ServiceUnavailable), unless the project runs
    with --dev and gingee.json sets queue.fail_closed false: then the memory driver takes over.
    """
    settings = QueueSettings.from_config(project.config)
    driver = create_driver(settings)
    try:
        await driver.check()
    except ServiceUnavailable as exc:
        await driver.close()
        if not (project.dev and not settings.fail_closed):
            raise ServiceUnavailable(
                f"{exc}. gingee.json queue.driver is 'arq', so Gingee does not start without Redis "
                "(fail closed); for development only, --dev with queue.fail_closed false falls back to the "
                "memory driver"
            ) from exc
        log.warning("queue: %s; --dev with queue.fail_closed false: using the memory driver instead", exc)
        from .memory import MemoryDriver

        settings = QueueSettings(**{**settings.__dict__, "driver": "memory"})
        driver = MemoryDriver(settings)
    service = QueueService(settings, driver, project.apps)
    old = project.shared.get(SHARED_KEY)
    if old is not None:
        await old.close()
    project.shared[SHARED_KEY] = service
    in_process = driver.name == "memory"
    if in_process if run_jobs is None else run_jobs:
        await service.run_jobs()
    if in_process if run_schedules is None else run_schedules:
        await service.run_schedules()
    return service


async def close_service(shared: dict[str, Any], drain: float | None = None) -> None:
    """Close the queue service kept in a project's `shared` dict, if any (hosts: before the apps close)."""
    service = shared.pop(SHARED_KEY, None)
    if service is not None:
        await service.close(drain)
