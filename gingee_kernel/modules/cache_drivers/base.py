"""The interface every cache driver implements: strings in, strings out, keys already namespaced."""

from __future__ import annotations

from abc import ABC, abstractmethod


class CacheDriver(ABC):
    """A project-wide cache store. `ttl` is in seconds; None means the key never expires."""

    @abstractmethod
    async def get(self, key: str) -> str | None:
        """The value stored at `key`, or None if absent or expired."""

    @abstractmethod
    async def set(self, key: str, value: str, ttl: float | None) -> None:
        """Store `value` at `key`, expiring after `ttl` seconds (never if None)."""

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove `key`; True if it was there."""

    @abstractmethod
    async def incr(self, key: str, amount: int, ttl: float | None) -> int:
        """Add `amount` to the integer at `key` (created at 0 with `ttl`); ValueError if not an integer."""

    @abstractmethod
    async def clear_prefix(self, prefix: str) -> int:
        """Remove every key starting with `prefix`; how many were removed."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections; the driver is not used afterwards."""
