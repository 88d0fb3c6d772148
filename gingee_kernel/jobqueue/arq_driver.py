"""The production driver: arq on Redis. Jobs are arq jobs (`enqueue_job` with `_job_id`, arq's leases,
retries and results); we add per-app queues and ids (keys.py), the dead-letter queue (dlq.py), job
listings and JSON (not pickle) in Redis. Redis errors become ServiceUnavailable: nothing fails silently."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix, retry_key_prefix
from arq.jobs import serialize_job
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .. import redis_url
from ..errors import ServiceUnavailable

try:
    import orjson
except ImportError:  # pragma: no cover - optional speed-up
    orjson = None  # type: ignore[assignment]

from .base import QueueDriver
from .dlq import DeadLetterQueue
from .errors import JobFailed, JobNotFound
from .job import JobInfo, JobSpec, JobStatus
from .keys import AppKeys
from .runner import JobRunner
from .settings import QueueSettings

#: The one arq function every Gingee job runs through (worker.py); its args are (name, payload, meta).
FUNCTION = "gingee"
#: A job waiting longer than this (ms) past its run time is dropped by arq ("job expired").
EXPIRES_EXTRA_MS = 7 * 86_400_000
#: How long a schedule tick's lock lives (ms): longer than any clock skew between workers.
TICK_LOCK_MS = 300_000
_STATS_SAMPLE = 1000  # due jobs checked for a lease when counting running ones


def dumps(data: dict[str, Any]) -> bytes:
    """arq's job serializer: JSON (orjson when installed: faster than arq's default, pickle), exceptions
    as {"error", "message"}."""
    if orjson is not None:
        try:
            return orjson.dumps(data, default=_extra)
        except TypeError:
            pass  # e.g. an integer beyond 64 bits: the standard library handles it
    return json.dumps(data, separators=(",", ":"), default=_extra).encode()


def loads(raw: bytes) -> dict[str, Any]:
    """arq's job deserializer."""
    return orjson.loads(raw) if orjson is not None else json.loads(raw)


def _extra(value: Any) -> Any:
    if isinstance(value, BaseException):
        return {"error": type(value).__name__, "message": str(value)}
    raise TypeError(f"a {type(value).__name__} is not JSON")


class ArqDriver(QueueDriver):
    """Jobs in Redis through arq; `start` runs arq workers in this process (worker.py)."""

    name = "arq"

    def __init__(self, settings: QueueSettings) -> None:
        self.settings = settings
        # Like arq's create_pool: a connect timeout, no per-read timeout (it costs a timer per reply).
        # redis+sentinel:// URLs give a pool that follows the master (redis_url.py).
        pool = redis_url.pool(settings.redis_url, socket_connect_timeout=5)
        self.where = redis_url.where(settings.redis_url)
        self.redis = ArqRedis(
            pool, job_serializer=dumps, job_deserializer=loads, expires_extra_ms=EXPIRES_EXTRA_MS
        )
        self.dlq = DeadLetterQueue(self.redis, settings.prefix, settings.dlq_max, settings.dlq_ttl)
        self.workers: Any = None

    @contextlib.contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Turn Redis failures into ServiceUnavailable naming the server and what was being done."""
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise ServiceUnavailable(
                f"queue: Redis at {self.where} cannot be reached ({exc}); nothing was done: check "
                "gingee.json queue.redis.url and that Redis is running"
            ) from exc
        except RedisError as exc:
            raise ServiceUnavailable(
                f"queue: Redis at {self.where} failed while trying to {what} ({type(exc).__name__}: {exc}); "
                "check gingee.json queue.redis.url and that Redis is running"
            ) from exc

    def keys(self, app: str) -> AppKeys:
        """The app's key names."""
        return AppKeys(self.settings.prefix, app)

    async def check(self) -> None:
        """PING Redis."""
        with self.errors("connect"):
            await self.redis.ping()

    async def enqueue(self, app: str, spec: JobSpec, delay: float) -> bool:
        """arq's `enqueue_job` with the app's queue and id (None from arq: the id is taken)."""
        keys = self.keys(app)
        with self.errors("enqueue a job"):
            job = await self.redis.enqueue_job(
                FUNCTION,
                spec.name,
                spec.payload,
                spec.meta(),
                _job_id=keys.job_id(spec.id),
                _queue_name=keys.queue,
                _defer_by=delay or None,
            )
        if job is None:
            # arq answers None for a taken id, and also when the connection broke during its transaction
            # (redis-py's WatchError): believe it only if the job or its result is really there.
            job_id = keys.job_id(spec.id)
            with self.errors("check a job id"):
                taken = await self.redis.exists(job_key_prefix + job_id, result_key_prefix + job_id)
            if not taken:
                raise ServiceUnavailable(
                    f"queue: the connection to Redis at {self.where} broke while enqueueing a job; "
                    "it was not added"
                )
            return False
        if self.settings.wait_replicas:
            await self._confirm()
        return True

    async def _confirm(self) -> None:
        """Wait until `wait_replicas` replicas hold the job. WAIT covers the writes of its own connection,
        so one tiny write goes with it: the replication stream is ordered, so once that write is on the
        replicas, the job (written before it) is too."""
        wanted, timeout = self.settings.wait_replicas, self.settings.wait_timeout
        with self.errors("confirm a job on the replicas"):
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.incr(f"{self.settings.prefix}replicated")
                pipe.execute_command("WAIT", wanted, max(1, int(timeout * 1000)))
                _, confirmed = await pipe.execute()
        if int(confirmed) < wanted:
            raise ServiceUnavailable(
                f"queue: the job was written to the Redis master but only {confirmed} of {wanted} replicas "
                f"confirmed it within {timeout * 1000:g} ms (gingee.json queue.redis.wait_replicas); it may "
                "still run: retry, and expect it at least once"
            )

    async def info(self, app: str, job_id: str) -> JobInfo | None:
        """Read the job's arq keys, lease, attempts, last error and progress in one round trip."""
        keys = self.keys(app)
        arq_id = keys.job_id(job_id)
        with self.errors("read a job"):
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hget(keys.dlq_entries, job_id)
                pipe.get(result_key_prefix + arq_id)
                pipe.get(job_key_prefix + arq_id)
                pipe.exists(in_progress_key_prefix + arq_id)
                pipe.zscore(keys.queue, arq_id)
                pipe.get(retry_key_prefix + arq_id)
                pipe.hget(keys.errors, arq_id)
                pipe.hget(keys.progress, arq_id)
                dead, result, job, leased, score, tries, error, progress = await pipe.execute()
        if dead is not None:
            entry = json.loads(dead)
            return JobInfo(job_id, entry["name"], JobStatus.dead, entry["attempts_made"], entry["attempts"],
                           entry["payload"], entry["enqueued_at"], None, entry["error"])  # fmt: skip
        if result is not None:
            data = loads(result)
            name, payload, meta = data["a"]
            failure = None if data["s"] else _message(data["r"])
            status = JobStatus.done if data["s"] else JobStatus.dead
            return JobInfo(job_id, name, status, int(data["t"]), int(meta["attempts"]), payload, meta["at"],
                           None, failure)  # fmt: skip
        if job is None:
            return None
        name, payload, meta = loads(job)["a"]
        attempt = int(tries or 0)
        run_at = None if score is None else score / 1000
        if leased:
            status = JobStatus.running
        elif attempt:
            status = JobStatus.retrying
        elif run_at is not None and run_at > time.time():
            status = JobStatus.delayed
        else:
            status = JobStatus.queued
        last_error = error.decode() if error else None
        return JobInfo(job_id, name, status, attempt, int(meta["attempts"]), payload, meta["at"], run_at,
                       last_error, json.loads(progress) if progress else None)  # fmt: skip

    async def result(self, app: str, job_id: str, timeout: float | None) -> Any:
        """Poll for the result (every 5 ms at first, backing off to 250 ms)."""
        keys = self.keys(app)
        arq_id = keys.job_id(job_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.005
        while True:
            with self.errors("read a job result"):
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.get(result_key_prefix + arq_id)
                    pipe.exists(job_key_prefix + arq_id)
                    pipe.hexists(keys.dlq_entries, job_id)
                    result, queued, dead = await pipe.execute()
            if result is not None:
                data = loads(result)
                if data["s"]:
                    return data["r"]
                raise JobFailed(job_id, _message(data["r"]))
            if dead:
                entry = await self.dlq.get(app, job_id)
                raise JobFailed(job_id, entry["error"] if entry else "unknown error")
            if not queued:
                raise JobNotFound(app, job_id)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} did not finish within {timeout:g} s")
            await asyncio.sleep(
                pause if deadline is None else min(pause, max(0, deadline - time.monotonic()))
            )
            pause = min(pause * 1.5, 0.25)

    async def stats(self, app: str) -> dict[str, int]:
        """Counts from the app's queue; running jobs are those of the oldest due ones holding a lease."""
        keys = self.keys(app)
        now_ms = int(time.time() * 1000)
        with self.errors("count jobs"):
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zcount(keys.queue, "-inf", now_ms)
                pipe.zcount(keys.queue, f"({now_ms}", "+inf")
                pipe.zcard(keys.dlq)
                pipe.zrangebyscore(keys.queue, "-inf", now_ms, start=0, num=_STATS_SAMPLE)
                due, delayed, dead, sample = await pipe.execute()
            running = 0
            if sample:
                running = await self.redis.exists(*(in_progress_key_prefix + i.decode() for i in sample))
        return {"queued": due - running, "delayed": delayed, "running": running, "dead": dead}

    async def jobs(self, app: str, limit: int) -> list[JobInfo]:
        """The first `limit` jobs of the app's queue, then the latest finished ones (worker.py)."""
        keys = self.keys(app)
        with self.errors("list jobs"):
            ids = await self.redis.zrange(keys.queue, 0, limit - 1)
            live = [await self.info(app, keys.user_id(i.decode())) for i in ids]
            recent = (
                await self.redis.lrange(keys.recent, 0, max(0, limit - len(ids)) - 1)
                if len(ids) < limit
                else []
            )
        infos = [i for i in live if i is not None]
        for raw in recent:
            data = json.loads(raw)
            data["status"] = JobStatus(data["status"])
            infos.append(JobInfo(**data))
        return infos[:limit]

    async def dlq_list(self, app: str, limit: int) -> list[dict[str, Any]]:
        """Dead jobs, newest first."""
        with self.errors("list dead jobs"):
            return await self.dlq.list(app, limit)

    async def dlq_retry(self, app: str, job_id: str) -> bool:
        """Re-enqueue a dead job (Lua, atomic) with a fresh attempt budget, due now."""
        with self.errors("retry a dead job"):
            entry = await self.dlq.get(app, job_id)
            if entry is None:
                return False
            spec = JobSpec(job_id, entry["name"], entry["payload"], entry["attempts"], entry["backoff"])
            now_ms = int(time.time() * 1000)
            job = serialize_job(
                FUNCTION, (spec.name, spec.payload, spec.meta()), {}, None, now_ms, serializer=dumps
            )
            done = await self.dlq.retry(app, job_id, job, EXPIRES_EXTRA_MS)
        if done < 0:
            raise ValueError(
                f"queue.dlq.retry: a live job already uses the id {job_id!r}; wait for it to finish, "
                "or discard the dead one"
            )
        return done == 1

    async def dlq_discard(self, app: str, job_id: str) -> bool:
        """Delete a dead job (Lua, atomic)."""
        with self.errors("discard a dead job"):
            return await self.dlq.discard(app, job_id)

    async def claim_tick(self, app: str, schedule: str, tick_ms: int) -> bool:
        """SET NX PX on the tick's lock key."""
        with self.errors("take a schedule lock"):
            return bool(
                await self.redis.set(self.keys(app).tick(schedule, tick_ms), b"1", nx=True, px=TICK_LOCK_MS)
            )

    async def start(self, runner: JobRunner) -> None:
        """Run arq workers for the runner's apps in this process."""
        from .worker import WorkerPool

        if self.workers is None:
            self.workers = WorkerPool(self, runner)
            await self.workers.start()

    async def stop(self, drain: float) -> None:
        """Drain and stop the in-process workers."""
        if self.workers is not None:
            workers, self.workers = self.workers, None
            await workers.stop(drain)

    async def close(self) -> None:
        """Close the Redis connections."""
        await self.redis.aclose(close_connection_pool=True)


def _message(result: Any) -> str:
    if isinstance(result, dict) and "message" in result:
        return str(result["message"])
    return str(result)
