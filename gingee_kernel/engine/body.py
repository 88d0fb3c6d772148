"""A request body that a script reads while it arrives (routes with `"body": "stream"`).

The host feeds chunks as they come off the socket and the script iterates `g.request.stream()`. At most
`high_water` bytes wait between them: past that, `feed` hands the host a future to await, so a slow
reader (a store writing to disk or S3) slows the client down instead of filling memory.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

HIGH_WATER = 4 * 1024 * 1024


class BodyStream:
    """Chunks from the host to one reader; ends with `finish()`, or with `fail(error)` raised in it."""

    __slots__ = ("_chunks", "_done", "_error", "_held", "_read", "_reader", "_room", "high_water")

    def __init__(self, high_water: int = HIGH_WATER) -> None:
        self.high_water = high_water
        self._chunks: deque[bytes] = deque()
        self._held = 0
        self._done = False
        self._error: BaseException | None = None
        self._reader: asyncio.Future[None] | None = None  # the reader waits for data
        self._room: asyncio.Future[None] | None = None  # the host waits for room
        self._read = False

    # -- the host ---------------------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> asyncio.Future[None] | None:
        """Queue one chunk; returns a future to await before the next if the reader is behind."""
        if self._done:
            return None  # the reader stopped (the script answered without reading it all): drop it
        self._chunks.append(chunk)
        self._held += len(chunk)
        self._wake_reader()
        if self._held < self.high_water:
            return None
        self._room = asyncio.get_running_loop().create_future()
        return self._room

    def finish(self) -> None:
        """The body is complete."""
        self._done = True
        self._wake_reader()

    def fail(self, error: BaseException) -> None:
        """The body will not complete (too large, the client went away): the reader raises `error`."""
        if self._error is None and not (self._done and not self._chunks):
            self._error = error
        self._done = True
        self._chunks.clear()
        self._wake_reader()
        self._make_room()

    def close(self) -> None:
        """The reader is done with it (the script finished): drop what is queued and what still comes."""
        self._done = True
        self._chunks.clear()
        self._make_room()

    # -- the reader -------------------------------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._read:
            raise RuntimeError("the request body was read already; g.request.stream() reads it once")
        self._read = True
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while True:
            if self._error is not None:
                raise self._error
            if self._chunks:
                chunk = self._chunks.popleft()
                self._held -= len(chunk)
                if self._held < self.high_water:
                    self._make_room()
                yield chunk
                continue
            if self._done:
                return
            self._reader = asyncio.get_running_loop().create_future()
            await self._reader

    def _wake_reader(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)
        self._reader = None

    def _make_room(self) -> None:
        if self._room is not None and not self._room.done():
            self._room.set_result(None)
        self._room = None
