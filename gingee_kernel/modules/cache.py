"""`cache`: a JSON key/value cache shared by the project, namespaced per app.

One backend per project (gingee.json `cache.driver`: memory or redis) lives in `app.shared["cache"]`.
Keys are stored as `{prefix}{app}:{key}`, so apps never see each other's keys and `clear()` only
removes the current app's. Values are JSON; `ttl` is in seconds (None: the configured default, 0: never).

    await cache.set("user:42", {"name": "Ada"}, ttl=60)
    user = await cache.get("user:42")
"""

from __future__ import annotations

import json
from typing import Any

from ..engine.app import AppRuntime
from ..engine.context import require
from ..errors import ModuleConfigError
from ..metrics.series import record_cache_lookup
from .cache_drivers.base import CacheDriver

__all__ = ["clear", "close_backend", "delete", "get", "incr", "set"]

_SHARED_KEY = "cache"


def _settings(app: AppRuntime) -> dict[str, Any]:
    """The server's `cache` section."""
    settings = app.server_config.get("cache") or {}
    if not isinstance(settings, dict):
        raise ModuleConfigError("gingee.json: 'cache' must be an object")
    return settings


def _create(settings: dict[str, Any]) -> CacheDriver:
    """A new backend as configured by the server's `cache` section."""
    driver = settings.get("driver", "memory")
    if driver == "memory":
        from .cache_drivers.memory import MemoryDriver

        try:
            return MemoryDriver(int(settings.get("max_entries") or 10_000))
        except ValueError as exc:
            raise ModuleConfigError(f"gingee.json cache.max_entries: {exc}") from exc
    if driver == "redis":
        from .cache_drivers.redis import RedisDriver

        url = (settings.get("redis") or {}).get("url") or "redis://127.0.0.1:6379/0"
        return RedisDriver(str(url))
    raise ModuleConfigError(f"gingee.json cache.driver is {driver!r}; use 'memory' or 'redis'")


def _backend(app: AppRuntime) -> CacheDriver:
    """The project's backend, created on first use."""
    backend = app.shared.get(_SHARED_KEY)
    if backend is None:
        backend = app.shared[_SHARED_KEY] = _create(_settings(app))
    return backend


def _namespace(app: AppRuntime) -> str:
    """`{prefix}{app}:`, the start of every key of the current app (':' in an app name is escaped)."""
    prefix = str(_settings(app).get("prefix") or "")
    return f"{prefix}{app.name.replace('%', '%25').replace(':', '%3A')}:"


def _key(app: AppRuntime, key: str) -> str:
    """The stored name of the app's `key`."""
    if not isinstance(key, str) or not key:
        raise TypeError(f"cache: keys must be non-empty strings, not {type(key).__name__}")
    return _namespace(app) + key


def _ttl(app: AppRuntime, ttl: float | None) -> float | None:
    """Seconds until expiry: None → the configured default, 0 → never (None)."""
    if ttl is None:
        ttl = _settings(app).get("ttl") or 0
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise TypeError(f"cache: ttl must be a number of seconds, not {type(ttl).__name__}")
    if ttl < 0:
        raise ValueError("cache: ttl must be >= 0 seconds (0 means no expiry)")
    return None if ttl == 0 else ttl


def _refuse(value: Any) -> Any:
    """json.dumps hook: anything not JSON is refused by name."""
    raise TypeError(f"a {type(value).__name__} is not JSON")


def _encode(value: Any) -> str:
    """The JSON text of `value`; TypeError naming the offending type."""
    try:
        return json.dumps(value, default=_refuse, allow_nan=False, separators=(",", ":"))
    except TypeError as exc:
        raise TypeError(
            f"cache.set: values must be JSON (dict, list, str, int, float, bool or None): {exc}"
        ) from None


async def get(key: str, default: Any = None) -> Any:
    """The value cached at `key`, or `default` if missing or expired."""
    app = require("cache")
    raw = await _backend(app).get(_key(app, key))
    record_cache_lookup(app.name, raw is not None)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return default


async def set(key: str, value: Any, ttl: float | None = None) -> None:
    """Cache the JSON `value` at `key` for `ttl` seconds (None: configured default; 0: no expiry)."""
    app = require("cache")
    await _backend(app).set(_key(app, key), _encode(value), _ttl(app, ttl))


async def delete(key: str) -> bool:
    """Remove `key`; True if it was cached."""
    app = require("cache")
    return await _backend(app).delete(_key(app, key))


async def clear() -> int:
    """Remove every key of the current app (and only its keys); how many were removed."""
    app = require("cache")
    return await _backend(app).clear_prefix(_namespace(app))


async def incr(key: str, amount: int = 1, ttl: float | None = None) -> int:
    """Add `amount` to the integer at `key` and return it; a new key starts at 0 and gets `ttl`."""
    app = require("cache")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"cache.incr: amount must be an int, not {type(amount).__name__}")
    return await _backend(app).incr(_key(app, key), amount, _ttl(app, ttl))


async def close_backend(shared: dict[str, Any]) -> None:
    """Close the project's cache backend, if one was created (the engine calls it at shutdown)."""
    backend = shared.pop(_SHARED_KEY, None)
    if backend is not None:
        await backend.close()
