"""What every storage driver implements, and the values it returns.

Keys reach a driver checked (keys.py) and relative to the store; the driver adds its own namespace (the
local driver's root folder, the S3 driver's `<prefix><app>/<store>/`), so no key can name another app's
object. Data reaches `put` as an async iterator of byte chunks (chunks.py), whatever the caller passed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Method = Literal["GET", "PUT"]


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object. `etag` is unquoted; `list` items carry no content type nor metadata."""

    key: str
    size: int
    etag: str
    content_type: str | None = None
    modified: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what a route can return as is)."""
        return {
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "content_type": self.content_type,
            "modified": self.modified.isoformat() if self.modified else None,
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True)
class Page:
    """One page of `list`: the objects, in key order, and the cursor for the next page (None at the end)."""

    items: list[ObjectInfo]
    cursor: str | None

    def __iter__(self) -> Iterator[ObjectInfo]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class Opened:
    """An object being read: its info, the byte range being sent (`start` to `stop`, exclusive) and the
    chunks. Iterate it, or `await read()`; `aclose()` (also `async with`) releases the file or connection."""

    def __init__(
        self,
        info: ObjectInfo,
        start: int,
        stop: int,
        chunks: AsyncIterator[bytes],
        release: Callable[[], object] | None = None,
    ) -> None:
        self.info = info
        self.start = start
        self.stop = stop
        self._chunks = chunks
        #: Frees what `chunks` holds even if it never started (a generator's `finally` would not run).
        self._release = release

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks

    async def read(self) -> bytes:
        """Every remaining byte of the range, joined."""
        try:
            return b"".join([chunk async for chunk in self._chunks])
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        closer = getattr(self._chunks, "aclose", None)
        try:
            if closer is not None:
                await closer()
        finally:
            if self._release is not None:
                self._release()

    async def __aenter__(self) -> Opened:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class StorageDriver(ABC):
    """One configured store of one app."""

    #: The driver's name in errors and metrics ("local", "s3").
    name: str

    @abstractmethod
    async def put(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        content_type: str,
        metadata: dict[str, str],
        limit: int | None,
    ) -> ObjectInfo:
        """Store the chunks under `key`, all or nothing: if the chunks raise, the provider fails or `limit`
        bytes are passed (ObjectTooLarge), nothing is left under `key` and what was there stays."""

    @abstractmethod
    async def stat(self, key: str) -> ObjectInfo:
        """The object's info; ObjectNotFound if there is none."""

    @abstractmethod
    async def open(self, key: str, start: int = 0, stop: int | None = None) -> Opened:
        """The object's bytes `start` to `stop` (exclusive; None: the end), streamed; ObjectNotFound."""

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove the object; True if there was one."""

    @abstractmethod
    async def copy(self, source: str, target: str) -> ObjectInfo:
        """Copy an object, its content type and metadata, to another key of the same store."""

    @abstractmethod
    async def list(self, prefix: str, cursor: str | None, limit: int) -> Page:
        """Up to `limit` objects whose key starts with `prefix`, in key order, after `cursor`."""

    @abstractmethod
    async def url(self, key: str, method: Method, expires: int, content_type: str | None) -> str:
        """A URL that lets its holder GET (or PUT) this one key for `expires` seconds, with no other
        credential."""

    async def close(self) -> None:  # noqa: B027 - optional: a driver with nothing to release keeps it
        """Release connections and threads (the app is unloading)."""
