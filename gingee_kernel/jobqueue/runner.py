"""One attempt of one job: in its app's context, with the grant re-checked, bounded by the job timeout;
and the decision that follows (done, retry after a backoff, or dead). Both drivers' workers use it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..engine.app import AppRuntime
from ..engine.context import app_context
from ..engine.g import G
from ..errors import PermissionDenied
from ..metrics import series as metrics
from . import handlers
from .errors import Retry
from .job import JobContext, JobSpec, backoff_delay, encode_json

log = logging.getLogger("gingee.queue")

#: Seconds a job of an app in maintenance waits before it is looked at again (not counted as an attempt).
MAINTENANCE_DELAY = 5.0

Report = Callable[[Any], Awaitable[None]]
_SCALARS = (str, int, bool)  # return values that are JSON without checking (float may be NaN)


@dataclass(frozen=True)
class Outcome:
    """What an attempt led to: "done" (with `value`), "retry" after `defer` seconds, "dead" (no attempts
    left, or a failure retrying cannot fix), or "later" (not run: the app is in maintenance)."""

    kind: str
    value: Any = None
    error: str | None = None
    defer: float = 0.0


class JobRunner:
    """Runs attempts for the apps in `apps` (a live mapping, so reloaded apps are picked up)."""

    def __init__(self, apps: Mapping[str, AppRuntime], job_timeout: float) -> None:
        self.apps = apps
        self.job_timeout = job_timeout

    async def attempt(
        self, app_name: str, spec: JobSpec, attempt: int, report: Report | None = None
    ) -> Outcome:
        """Run attempt number `attempt` (1-based) of `spec` and say what should happen next."""
        if attempt > spec.attempts:
            return self._dead(
                app_name,
                spec,
                f"the worker running attempt {attempt - 1} of {spec.attempts} stopped before it finished "
                "(its lease expired) and no attempts are left",
            )
        app = self.apps.get(app_name)
        if app is None:
            return self._failed(app_name, spec, attempt, f"app '{app_name}' is not loaded in this worker")
        if "queue" not in app.grants:
            return self._dead(app_name, spec, str(PermissionDenied(app_name, "queue")))
        if app.maintenance:
            return Outcome("later", defer=MAINTENANCE_DELAY)
        if app.isolated:
            return await self._in_worker(app, spec, attempt)
        try:
            func = handlers.load(app, handlers.find(app, spec.name))
        except Exception as exc:
            return self._failed(app_name, spec, attempt, f"{type(exc).__name__}: {exc}")
        g = G(app.pipeline.info, app.log, job=JobContext(spec, attempt, report))
        metrics.record_job(app_name, spec.name, "started")
        started = time.perf_counter()
        try:
            value = await self._call(app, func, g)
            if value is not None and type(value) not in _SCALARS:
                encode_json(value, f"the value returned by job '{spec.name}'")
        except Retry as retry:
            metrics.record_job_duration(app_name, spec.name, time.perf_counter() - started)
            if attempt >= spec.attempts:
                return self._dead(app_name, spec, "it asked to retry (queue.Retry) after its last attempt")
            metrics.record_job(app_name, spec.name, "retried")
            app.log.info(
                "job %s %s asked to retry (attempt %d/%d)", spec.name, spec.id, attempt, spec.attempts
            )
            defer = retry.defer or backoff_delay(spec.backoff, attempt)
            return Outcome("retry", error="it asked to retry (queue.Retry)", defer=defer)
        except asyncio.TimeoutError:
            metrics.record_job_duration(app_name, spec.name, time.perf_counter() - started)
            error = f"it ran longer than {self.job_timeout:g} s (gingee.json queue.job_timeout_ms)"
            app.log.error(
                "job %s %s attempt %d/%d failed: %s", spec.name, spec.id, attempt, spec.attempts, error
            )
            return self._failed(app_name, spec, attempt, error)
        except Exception as exc:
            metrics.record_job_duration(app_name, spec.name, time.perf_counter() - started)
            app.log.error(
                "job %s %s attempt %d/%d failed", spec.name, spec.id, attempt, spec.attempts, exc_info=exc
            )
            error = f"{type(exc).__name__}: {exc}"
            if getattr(exc, "retryable", True) is False:  # e.g. a refused recipient: retrying cannot help
                return self._dead(app_name, spec, f"{error} (not retried: the same attempt would fail again)")
            return self._failed(app_name, spec, attempt, error)
        metrics.record_job_duration(app_name, spec.name, time.perf_counter() - started)
        metrics.record_job(app_name, spec.name, "succeeded")
        return Outcome("done", value=value)

    async def _in_worker(self, app: AppRuntime, spec: JobSpec, attempt: int) -> Outcome:
        """The attempt, run by the isolated app's worker process (isolation/host.py); a worker that ends
        or overruns mid-job fails the attempt, which is retried like any other failure."""
        host = app.shared["isolation"]
        kind, value, error, defer = await host.attempt(app, spec, attempt, self.job_timeout)
        if kind == "failed":
            app.log.error(
                "job %s %s attempt %d/%d failed: %s", spec.name, spec.id, attempt, spec.attempts, error
            )
            return self._failed(app.name, spec, attempt, str(error))
        return Outcome(kind, value=value, error=error, defer=defer)

    async def _call(self, app: AppRuntime, func: handlers.JobFunction, g: G) -> Any:
        """Run the handler as `app`; past the job timeout, cancel this very task (no extra task per job)
        and raise TimeoutError."""
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = asyncio.get_running_loop().call_later(self.job_timeout, expire)
        try:
            with app_context(app):
                return await app.pipeline.call(func, g)
        except asyncio.CancelledError:
            if not expired:
                raise
            if hasattr(task, "uncancel"):
                task.uncancel()
            raise asyncio.TimeoutError from None
        finally:
            timer.cancel()

    def _failed(self, app_name: str, spec: JobSpec, attempt: int, error: str) -> Outcome:
        metrics.record_job(app_name, spec.name, "failed")
        if attempt >= spec.attempts:
            return self._dead(app_name, spec, error, counted=True)
        metrics.record_job(app_name, spec.name, "retried")
        return Outcome("retry", error=error, defer=backoff_delay(spec.backoff, attempt))

    def _dead(self, app_name: str, spec: JobSpec, error: str, *, counted: bool = False) -> Outcome:
        if not counted:
            metrics.record_job(app_name, spec.name, "failed")
        metrics.record_job(app_name, spec.name, "dead")
        log.warning("job %s/%s %s is dead: %s", app_name, spec.name, spec.id, error)
        return Outcome("dead", error=error)
