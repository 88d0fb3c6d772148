"""The queue's exceptions: one control-flow exception for job authors, the rest in Gingee's error tree."""

from __future__ import annotations

from datetime import timedelta

from ..errors import GingeeError, ModuleConfigError


class Retry(Exception):
    """Raise in a job handler to run the job again after `defer` seconds (a float or a timedelta).

    It uses one attempt, like a failure; when the job has no attempts left it goes to the dead-letter queue.
    """

    def __init__(self, defer: float | timedelta | None = None) -> None:
        seconds = defer.total_seconds() if isinstance(defer, timedelta) else float(defer or 0)
        if seconds < 0:
            raise ValueError("queue.Retry: defer must be >= 0 seconds")
        self.defer = seconds
        super().__init__(f"retry requested (defer {seconds:g} s)")


class HandlerNotFound(ModuleConfigError):
    """No handler exists for a job name in the app (raised by `queue.add`, so the caller sees it at once)."""

    def __init__(self, app: str, name: str, detail: str = "") -> None:
        self.app = app
        self.name = name
        super().__init__(
            f"app '{app}' has no handler for job '{name}'{': ' + detail if detail else ''}. Create "
            f"web/{app}/box/jobs/{name}.py with `async def handle(g)`, map the name to a script in app.json "
            f'"queue": {{"jobs": {{"{name}": {{"script": "..."}}}}}}, '
            "or register it with @app.job in a notebook."
        )


class JobFailed(GingeeError):
    """The job used all its attempts and is in the dead-letter queue; `error` says why the last one failed."""

    def __init__(self, job_id: str, error: str) -> None:
        self.job_id = job_id
        self.error = error
        super().__init__(
            f"job {job_id} failed: {error}. It is in the dead-letter queue: retry it with "
            f"queue.dlq.retry({job_id!r}) once the cause is fixed."
        )


class JobNotFound(GingeeError):
    """No job with this id is queued, running, kept with its result, or dead."""

    def __init__(self, app: str, job_id: str) -> None:
        self.app = app
        self.job_id = job_id
        super().__init__(
            f"app '{app}' has no job {job_id!r}: it was never added, or it finished longer ago than "
            "gingee.json queue.keep_result_ms and its result expired."
        )
