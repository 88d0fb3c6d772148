"""SendBuffer: how many bytes a connection was given and has not flushed to its client yet.

A client that stops reading leaves what the server writes in the server's memory. Each write is counted
here until the future the connection returned for it resolves (Tornado resolves it once the bytes are in
the kernel's socket buffer, a loop iteration or two after they went there).

Because a burst sent without yielding (a loop of `socket.send`) is counted whole before the loop gets to
resolve any of it, passing `limit` is not judged at once: `over()` asks the owner to look again after
`GRACE` seconds, and only a backlog still over the limit then is a slow consumer. Past `HARD_FACTOR`
times the limit no grace is given. Connections whose writes return no future (the kernel's in-process
one) never count anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

#: The default `max_send_buffer_bytes`: 1 MiB of unflushed messages per socket.
DEFAULT_LIMIT = 1 << 20
#: Seconds a backlog over the limit has to drain before its client counts as not reading.
GRACE = 0.05
#: A backlog this many times the limit is a slow consumer at once.
HARD_FACTOR = 4


class SendBuffer:
    """Unflushed bytes of one connection against a limit (0: none); calls `on_slow()` for a client that
    does not read. Use it on the connection's event loop."""

    __slots__ = ("_judging", "_loop", "limit", "on_slow", "pending")

    def __init__(
        self, limit: int, on_slow: Callable[[], None], loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        if limit < 0:
            raise ValueError("a send buffer limit is a number of bytes, 0 or more")
        self.limit = limit
        self.on_slow = on_slow
        self.pending = 0
        self._loop = loop
        self._judging = False

    def full(self, size: int) -> bool:
        """True if `size` more bytes would take a non-empty backlog past HARD_FACTOR times the limit;
        the caller drops the message and closes the connection (`on_slow`)."""
        return bool(self.limit and self.pending and self.pending + size > HARD_FACTOR * self.limit)

    def track(self, future: Any, size: int) -> None:
        """Count `size` bytes until `future` (what the connection's write returned) is done."""
        if future is None or not hasattr(future, "add_done_callback"):
            return
        self.pending += size
        future.add_done_callback(partial(self._flushed, size))
        if self.limit and not self._judging and self.pending > self.limit:
            self._judging = True
            loop = self._loop or asyncio.get_running_loop()
            loop.call_later(GRACE, self._judge)

    def _judge(self) -> None:
        self._judging = False
        if self.pending > self.limit:
            self.on_slow()

    def _flushed(self, size: int, future: Any) -> None:
        self.pending -= size
        if not future.cancelled():
            future.exception()  # retrieved, so a socket closed mid-send is not reported as unhandled
