"""The queue driver interface: store jobs, answer for them, and (optionally) run them in this process."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from .job import JobInfo, JobSpec
from .runner import JobRunner


class QueueDriver(ABC):
    """One project's job store. Every method takes the app name: apps never see each other's jobs."""

    name: str

    @abstractmethod
    async def check(self) -> None:
        """Raise ServiceUnavailable if the backend cannot be reached."""

    @abstractmethod
    async def enqueue(self, app: str, spec: JobSpec, delay: float) -> bool:
        """Store a new job to run after `delay` seconds; False if the app already has a job with its id."""

    @abstractmethod
    async def info(self, app: str, job_id: str) -> JobInfo | None:
        """The job's state, or None if unknown (never added, or its result expired)."""

    @abstractmethod
    async def result(self, app: str, job_id: str, timeout: float | None) -> Any:
        """Wait for the job's value; JobFailed if it died, TimeoutError, JobNotFound if unknown."""

    @abstractmethod
    async def stats(self, app: str) -> dict[str, int]:
        """Counts of the app's jobs: queued, delayed, running, dead."""

    @abstractmethod
    async def jobs(self, app: str, limit: int) -> list[JobInfo]:
        """Live jobs (oldest first), then the latest finished ones, at most `limit` in all."""

    @abstractmethod
    async def dlq_list(self, app: str, limit: int) -> list[dict[str, Any]]:
        """Dead jobs, newest first: id, name, payload, attempts, error, failed_at."""

    @abstractmethod
    async def dlq_retry(self, app: str, job_id: str) -> bool:
        """Move a dead job back to the queue with a fresh attempt budget, atomically; False if not dead."""

    @abstractmethod
    async def dlq_discard(self, app: str, job_id: str) -> bool:
        """Delete a dead job for good, atomically; False if not dead."""

    @abstractmethod
    async def claim_tick(self, app: str, schedule: str, tick_ms: int) -> bool:
        """Take the one-time lock of a schedule's tick; True for exactly one caller across processes."""

    @abstractmethod
    async def start(self, runner: JobRunner) -> None:
        """Run jobs of the runner's apps in this process until `stop`."""

    @abstractmethod
    async def stop(self, drain: float) -> None:
        """Stop taking jobs, give running ones `drain` seconds to finish, then cancel them."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections (after `stop`)."""
