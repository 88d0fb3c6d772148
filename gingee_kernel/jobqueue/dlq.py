"""The dead-letter queue on Redis: what arq lacks. Adding, retrying and discarding are Lua scripts, so a
job is never both retried and discarded, nor retried twice, however many operators click at once."""

from __future__ import annotations

import json
import time
from typing import Any

from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix, retry_key_prefix

from .keys import AppKeys

# KEYS: entries, dlq. ARGV: id, entry JSON, now ms, max entries, ttl ms (0: none).
_ADD = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local drop = {}
local ttl = tonumber(ARGV[5])
if ttl > 0 then drop = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[3]) - ttl) end
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if excess > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do table.insert(drop, id) end
end
for _, id in ipairs(drop) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[1], id)
end
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return #drop
"""

# KEYS: entries, dlq, job, result, queue, retry, in-progress. ARGV: id, arq id, job bytes, expires ms, score.
# Returns 1 (queued again), 0 (not dead: already retried or discarded), -1 (a live job holds the id).
_RETRY = """
if redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[4], KEYS[6], KEYS[7])
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
redis.call('ZADD', KEYS[5], ARGV[5], ARGV[2])
return 1
"""

# KEYS: entries, dlq, result. ARGV: id. Returns 1 (discarded) or 0 (not dead).
_DISCARD = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
return 1
"""


class DeadLetterQueue:
    """Per-app dead jobs: a sorted set of ids by death time and a hash of their records (keys.py)."""

    def __init__(self, redis: Any, prefix: str, max_entries: int, ttl: float) -> None:
        self.redis = redis
        self.prefix = prefix
        self.max_entries = max_entries
        self.ttl_ms = int(ttl * 1000)
        self._add = redis.register_script(_ADD)
        self._retry = redis.register_script(_RETRY)
        self._discard = redis.register_script(_DISCARD)

    async def add(self, app: str, entry: dict[str, Any]) -> None:
        """Record a dead job (an entry from `memory.dead_entry`), trimming by age and count."""
        keys = AppKeys(self.prefix, app)
        now_ms = int(time.time() * 1000)
        await self._add(
            keys=[keys.dlq_entries, keys.dlq],
            args=[entry["id"], json.dumps(entry), now_ms, self.max_entries, self.ttl_ms],
        )

    async def get(self, app: str, job_id: str) -> dict[str, Any] | None:
        """The dead job's record, if it is dead."""
        raw = await self.redis.hget(AppKeys(self.prefix, app).dlq_entries, job_id)
        return None if raw is None else json.loads(raw)

    async def list(self, app: str, limit: int) -> list[dict[str, Any]]:
        """Dead jobs, newest first."""
        keys = AppKeys(self.prefix, app)
        ids = await self.redis.zrevrange(keys.dlq, 0, limit - 1)
        if not ids:
            return []
        raws = await self.redis.hmget(keys.dlq_entries, ids)
        return [json.loads(raw) for raw in raws if raw is not None]

    async def count(self, app: str) -> int:
        """How many jobs of the app are dead."""
        return int(await self.redis.zcard(AppKeys(self.prefix, app).dlq))

    async def retry(self, app: str, job_id: str, job_bytes: bytes, expires_ms: int) -> int:
        """Atomically move a dead job back to the app's queue, due now: 1, or 0 if it is not dead, or -1 if
        a live job already holds its id."""
        keys = AppKeys(self.prefix, app)
        arq_id = keys.job_id(job_id)
        return int(
            await self._retry(
                keys=[
                    keys.dlq_entries,
                    keys.dlq,
                    job_key_prefix + arq_id,
                    result_key_prefix + arq_id,
                    keys.queue,
                    retry_key_prefix + arq_id,
                    in_progress_key_prefix + arq_id,
                ],
                args=[job_id, arq_id, job_bytes, expires_ms, int(time.time() * 1000)],
            )
        )

    async def discard(self, app: str, job_id: str) -> bool:
        """Atomically delete a dead job and its failed result; False if it is not dead."""
        keys = AppKeys(self.prefix, app)
        arq_id = keys.job_id(job_id)
        return bool(
            await self._discard(keys=[keys.dlq_entries, keys.dlq, result_key_prefix + arq_id], args=[job_id])
        )
