"""Whatever a caller hands `storage.put`, as an async iterator of byte chunks, nothing read whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any

CHUNK = 256 * 1024


def as_chunks(data: Any) -> AsyncIterator[bytes]:
    """bytes, str (UTF-8), a binary file object (read in a thread, CHUNK at a time), an async iterable of
    bytes (an upload's `g.request.stream()`), `g.request` itself, or a sync iterable of bytes."""
    if isinstance(data, bytes | bytearray | memoryview):
        return _one(bytes(data))
    if isinstance(data, str):
        return _one(data.encode("utf-8"))
    stream = getattr(data, "stream", None)
    if callable(stream) and hasattr(data, "headers"):  # g.request: its (possibly streamed) body
        data = stream()
    if isinstance(data, AsyncIterable):
        return _checked(aiter(data))
    if callable(getattr(data, "read", None)):
        return _file(data)
    if isinstance(data, Iterable):
        return _checked(_sync(data))
    raise TypeError(
        f"storage.put: data must be bytes, str, a binary file, or an (async) iterator of bytes, not "
        f"{type(data).__name__}"
    )


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _file(handle: Any) -> AsyncIterator[bytes]:
    while True:
        chunk = await asyncio.to_thread(handle.read, CHUNK)
        if not chunk:
            return
        if isinstance(chunk, str):
            raise TypeError("storage.put: the file was opened in text mode; open it with 'rb'")
        yield chunk


async def _sync(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


async def _checked(chunks: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        if isinstance(chunk, bytes):
            yield chunk
        elif isinstance(chunk, bytearray | memoryview):
            yield bytes(chunk)
        else:
            raise TypeError(f"storage.put: the iterator yielded {type(chunk).__name__}; yield bytes")
