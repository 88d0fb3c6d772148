"""`QueueSettings`: gingee.json `queue` (defaults in engine/config.py), checked once, in seconds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..engine.config import DEFAULT_SERVER_CONFIG
from ..errors import ManifestError

DRIVERS = ("memory", "arq")


@dataclass(frozen=True)
class QueueSettings:
    """How the project's queue runs. Durations are seconds here (gingee.json spells them in ms).

    `concurrency` is how many jobs run at once: per process for the memory driver, per app and worker
    process for arq. An attempt may run `job_timeout`; a job whose worker vanished (SIGKILL, lost host)
    is run again by another worker `job_timeout + lease_grace` after it started (its lease).
    """

    driver: str
    concurrency: int
    default_attempts: int
    default_backoff: float
    job_timeout: float
    lease_grace: float
    keep_result: float
    poll_delay: float
    drain_timeout: float
    fail_closed: bool
    dlq_max: int
    dlq_ttl: float
    prefix: str
    redis_url: str
    #: Replicas that must confirm an enqueue before it counts as accepted (Redis WAIT); 0: the master's word.
    wait_replicas: int = 0
    wait_timeout: float = 0.5

    @property
    def lease(self) -> float:
        """Seconds after an attempt starts before another worker may take the job over."""
        return self.job_timeout + self.lease_grace

    @classmethod
    def from_config(cls, server_config: dict[str, Any]) -> QueueSettings:
        """Settings from an effective server config (gingee.json merged over the defaults)."""
        section = {**DEFAULT_SERVER_CONFIG["queue"], **(server_config.get("queue") or {})}
        redis = {**DEFAULT_SERVER_CONFIG["queue"]["redis"], **(section.get("redis") or {})}
        if section["driver"] not in DRIVERS:
            raise ManifestError("gingee.json", "/queue/driver", f"one of {', '.join(DRIVERS)}")
        for key in ("concurrency", "default_attempts", "dlq_max"):
            if not isinstance(section[key], int) or isinstance(section[key], bool) or section[key] < 1:
                raise ManifestError("gingee.json", f"/queue/{key}", "an integer >= 1")
        ms = {}
        for key in ("default_backoff_ms", "job_timeout_ms", "lease_grace_ms", "keep_result_ms",
                    "poll_delay_ms", "drain_timeout_ms", "dlq_ttl_ms"):  # fmt: skip
            value = section[key]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ManifestError("gingee.json", f"/queue/{key}", "a number of milliseconds >= 0")
            ms[key[:-3]] = value / 1000
        if ms["job_timeout"] <= 0:
            raise ManifestError("gingee.json", "/queue/job_timeout_ms", "a number of milliseconds > 0")
        return cls(
            driver=section["driver"],
            concurrency=section["concurrency"],
            default_attempts=section["default_attempts"],
            fail_closed=bool(section["fail_closed"]),
            dlq_max=section["dlq_max"],
            prefix=str(section["prefix"]),
            redis_url=str(redis["url"]),
            wait_replicas=int(redis.get("wait_replicas", 0)),
            wait_timeout=int(redis.get("wait_timeout_ms", 500)) / 1000,
            **ms,
        )
