"""What a job is: its spec (as stored), its status, `g.job` inside a handler, and the handle `add` returns."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import QueueDriver

JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")


class JobStatus(str, Enum):
    """Where a job is in its life."""

    #: waiting, due now
    queued = "queued"
    #: waiting for its `delay` to pass
    delayed = "delayed"
    #: an attempt is running
    running = "running"
    #: an attempt failed; waiting for the next one (after the backoff)
    retrying = "retrying"
    #: finished; its result is kept for queue.keep_result_ms
    done = "done"
    #: used all its attempts; it is in the dead-letter queue
    dead = "dead"


@dataclass(frozen=True)
class JobSpec:
    """A job as the drivers store it. `backoff` is seconds; `enqueued_at` is epoch seconds."""

    id: str
    name: str
    payload: Any
    attempts: int
    backoff: float
    enqueued_at: float = field(default_factory=time.time)

    def meta(self) -> dict[str, Any]:
        """Everything but name and payload, as a JSON-able dict."""
        return {"id": self.id, "attempts": self.attempts, "backoff": self.backoff, "at": self.enqueued_at}

    @classmethod
    def from_meta(cls, name: str, payload: Any, meta: dict[str, Any]) -> JobSpec:
        """The inverse of `meta()`."""
        return cls(meta["id"], name, payload, int(meta["attempts"]), float(meta["backoff"]), meta["at"])


class JobContext:
    """`g.job` in a handler: id, name, payload, attempt (1 for the first run) and max_attempts."""

    __slots__ = ("_report", "attempt", "id", "max_attempts", "name", "payload")

    def __init__(
        self,
        spec: JobSpec,
        attempt: int,
        report: Callable[[Any], Awaitable[None]] | None = None,
    ) -> None:
        self.id = spec.id
        self.name = spec.name
        self.payload = spec.payload
        self.attempt = attempt
        self.max_attempts = spec.attempts
        self._report = report

    async def progress(self, value: Any) -> None:
        """Report progress (a number such as 0.4, or any JSON value) to job views while the job runs."""
        encode_json(value, "g.job.progress")
        if self._report is not None:
            await self._report(value)

    def __repr__(self) -> str:
        return f"<job {self.name} {self.id} attempt {self.attempt}/{self.max_attempts}>"


@dataclass
class JobInfo:
    """A job as job views show it. Times are epoch seconds; `error` is the last failure, if any."""

    id: str
    name: str
    status: JobStatus
    attempt: int
    max_attempts: int
    payload: Any = None
    enqueued_at: float | None = None
    run_at: float | None = None
    error: str | None = None
    progress: Any = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (status as its string)."""
        return {"id": self.id, "name": self.name, "status": self.status.value, "attempt": self.attempt,
                "max_attempts": self.max_attempts, "payload": self.payload, "enqueued_at": self.enqueued_at,
                "run_at": self.run_at, "error": self.error, "progress": self.progress}  # fmt: skip


def _refuse(value: Any) -> Any:
    raise TypeError(f"a {type(value).__name__} is not JSON")


def encode_json(value: Any, what: str) -> str:
    """The JSON text of `value`; TypeError saying which part is not JSON."""
    try:
        return json.dumps(value, default=_refuse, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{what}: must be JSON (dict, list, str, int, float, bool or None; no NaN): {exc}"
        ) from None


def seconds(value: float | timedelta | None, what: str) -> float | None:
    """`value` (seconds or a timedelta) as float seconds >= 0; None stays None."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise TypeError(f"{what} must be a number of seconds or a timedelta, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} must be >= 0 seconds")
    return float(value)


def backoff_delay(backoff: float, attempt: int) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): backoff * 2**(attempt - 1)."""
    return backoff * 2 ** (attempt - 1)


class JobHandle:
    """What `queue.add` returns: `id`, `name`, `created` (False if `job_id` was already taken), and
    `await status()`, `await info()`, `await result(timeout)`."""

    __slots__ = ("_driver", "app", "created", "id", "name")

    def __init__(self, driver: QueueDriver, app: str, job_id: str, name: str, created: bool = True) -> None:
        self._driver = driver
        self.app = app
        self.id = job_id
        self.name = name
        self.created = created

    async def info(self) -> JobInfo:
        """The job's current state; raises JobNotFound once it is gone."""
        from .errors import JobNotFound

        info = await self._driver.info(self.app, self.id)
        if info is None:
            raise JobNotFound(self.app, self.id)
        return info

    async def status(self) -> JobStatus:
        """The job's current status."""
        return (await self.info()).status

    async def result(self, timeout: float | None = None) -> Any:
        """Wait for the job to finish and return its handler's value; raises JobFailed if it died,
        TimeoutError after `timeout` seconds, JobNotFound if it is unknown."""
        return await self._driver.result(self.app, self.id, timeout)

    def __repr__(self) -> str:
        return f"<JobHandle {self.app}/{self.name} {self.id}{'' if self.created else ' (existing)'}>"
