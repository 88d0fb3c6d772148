"""In-process cache: an LRU bounded by `max_entries`, with per-key expiry on a monotonic clock."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from .base import CacheDriver


class MemoryDriver(CacheDriver):
    """LRU dict of key -> (value, deadline). Expired keys are dropped when read or when space is needed.

    No method awaits while holding the data, so it is consistent within an event loop; a lock also covers
    script threads.
    """

    def __init__(self, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("cache max_entries must be at least 1")
        self.max_entries = max_entries
        self._clock = clock
        self._data: OrderedDict[str, tuple[str, float | None]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def _live(self, key: str) -> str | None:
        """The unexpired value at `key`, marked most recently used; drops it if expired."""
        item = self._data.get(key)
        if item is None:
            return None
        value, deadline = item
        if deadline is not None and deadline <= self._clock():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return value

    def _store(self, key: str, value: str, deadline: float | None) -> None:
        """Put `key` as most recently used, evicting expired then least recently used entries."""
        self._data[key] = (value, deadline)
        self._data.move_to_end(key)
        if len(self._data) > self.max_entries:
            now = self._clock()
            for stale in [k for k, (_, d) in self._data.items() if d is not None and d <= now]:
                del self._data[stale]
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    def _deadline(self, ttl: float | None) -> float | None:
        """The clock time at which a value stored now with `ttl` expires."""
        return None if ttl is None else self._clock() + ttl

    async def get(self, key: str) -> str | None:
        """The value stored at `key`, or None if absent or expired."""
        with self._lock:
            return self._live(key)

    async def set(self, key: str, value: str, ttl: float | None) -> None:
        """Store `value` at `key`, expiring after `ttl` seconds (never if None)."""
        with self._lock:
            self._store(key, value, self._deadline(ttl))

    async def delete(self, key: str) -> bool:
        """Remove `key`; True if it was there (and unexpired)."""
        with self._lock:
            present = self._live(key) is not None
            self._data.pop(key, None)
            return present

    async def incr(self, key: str, amount: int, ttl: float | None) -> int:
        """Add `amount` to the integer at `key`, keeping its expiry; a new key starts at 0 with `ttl`."""
        with self._lock:
            current = self._live(key)
            if current is None:
                number, deadline = 0, self._deadline(ttl)
            else:
                try:
                    number = int(current)
                except ValueError:
                    raise ValueError("cache.incr: the value at this key is not an integer") from None
                deadline = self._data[key][1]
            self._store(key, str(number + amount), deadline)
            return number + amount

    async def clear_prefix(self, prefix: str) -> int:
        """Remove every key starting with `prefix`; how many were removed."""
        with self._lock:
            doomed = [key for key in self._data if key.startswith(prefix)]
            for key in doomed:
                del self._data[key]
            return len(doomed)

    async def close(self) -> None:
        """Drop everything."""
        with self._lock:
            self._data.clear()
