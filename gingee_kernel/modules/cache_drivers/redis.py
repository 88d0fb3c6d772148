"""Redis cache (redis.asyncio): SET with EX/PX, SCAN+DEL to clear; unreachable Redis fails closed."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any, TypeVar

from ... import redis_url
from ...errors import ModuleConfigError, ServiceUnavailable
from .base import CacheDriver

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import RedisError, ResponseError
except ImportError:  # pragma: no cover - exercised only without the extra
    aioredis = None  # type: ignore[assignment]

T = TypeVar("T")

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")
_INCR = """
local existed = redis.call('EXISTS', KEYS[1])
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 and tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value
"""


class RedisDriver(CacheDriver):
    """One pooled redis.asyncio client for the whole project."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        if aioredis is None:
            raise ModuleConfigError(
                "cache driver 'redis' needs the redis package: pip install 'gingee[redis]'"
            )
        self._client: Any = redis_url.client(
            url,
            decode_responses=True,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
        )
        self.where = redis_url.where(url)

    async def _call(self, what: str, awaitable: Awaitable[T]) -> T:
        """Await a Redis command; Redis failures become ServiceUnavailable (chained)."""
        try:
            return await awaitable
        except ResponseError as exc:
            if "not an integer" in str(exc):
                raise ValueError("cache.incr: the value at this key is not an integer") from exc
            raise ServiceUnavailable(f"cache: Redis at {self.where} refused to {what}: {exc}") from exc
        except RedisError as exc:
            raise ServiceUnavailable(
                f"cache: Redis at {self.where} cannot be reached ({exc}); nothing was done. Check "
                "gingee.json cache.redis.url and that the server is running"
            ) from exc

    async def get(self, key: str) -> str | None:
        """The value stored at `key`, or None if absent or expired."""
        return await self._call("get a key", self._client.get(key))

    async def set(self, key: str, value: str, ttl: float | None) -> None:
        """SET `key` with EX (or PX for fractional seconds); no expiry if `ttl` is None."""
        if ttl is None:
            expiry: dict[str, int] = {}
        elif float(ttl).is_integer():
            expiry = {"ex": int(ttl)}
        else:
            expiry = {"px": max(1, round(ttl * 1000))}
        await self._call("set a key", self._client.set(key, value, **expiry))

    async def delete(self, key: str) -> bool:
        """DEL `key`; True if it was there."""
        return bool(await self._call("delete a key", self._client.delete(key)))

    async def incr(self, key: str, amount: int, ttl: float | None) -> int:
        """INCRBY `key`; a key created by it gets `ttl`."""
        ttl_ms = 0 if ttl is None else max(1, round(ttl * 1000))
        return int(await self._call("increment a key", self._client.eval(_INCR, 1, key, amount, ttl_ms)))

    async def clear_prefix(self, prefix: str) -> int:
        """SCAN for `prefix*` and DEL in batches; how many keys were removed."""
        pattern = _GLOB_SPECIAL.sub(r"\\\1", prefix) + "*"

        async def sweep() -> int:
            removed, batch = 0, []
            async for key in self._client.scan_iter(match=pattern, count=500):
                batch.append(key)
                if len(batch) >= 500:
                    removed += await self._client.delete(*batch)
                    batch = []
            if batch:
                removed += await self._client.delete(*batch)
            return removed

        return await self._call("clear keys", sweep())

    async def close(self) -> None:
        """Close the client and its connection pool."""
        await self._client.aclose()
