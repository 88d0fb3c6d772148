"""The local socket between the master and an isolated worker: framed, multiplexed, bounded.

A frame is `>II` (header length, payload length), a JSON header and raw payload bytes. Frames belong to
*exchanges* (a relayed request, a job, a module call back to the master): either side opens one, both may
send several frames on it, each side ends its half with `end=True`. Exchange ids are even when the master
opened them and odd when the worker did, so they never collide.

Flow control is per exchange: a sender has at most `WINDOW` frames on the way that the other side's reader
has not taken, so a slow consumer (a slow client reading a streamed reply) slows its own sender down and
never the other exchanges on the channel; the reader loop itself never waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import socket
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("gingee.isolation")

_PREFIX = struct.Struct(">II")
#: Frames a sender may have unread by the other side, per exchange.
WINDOW = 32
#: The receiver says how many frames it took once it took this many (one ack per ACK_EVERY frames).
ACK_EVERY = 8
#: No header is longer than this; a longer one is a broken or hostile peer.
MAX_HEADER = 1024 * 1024
#: Payload bytes per frame; bodies longer than this travel as several frames.
CHUNK = 256 * 1024
#: The largest payload a side accepts unless told otherwise (a worker is told the server's body limit).
MAX_PAYLOAD = 16 * 1024 * 1024
#: Exchanges the other side may have open with us at once (each is served by a task): what a worker may
#: ask of the master. A worker serves what the master sends (requests, and each websocket for its life),
#: which the master's own caps bound.
MAX_SERVED = 256

Header = dict[str, Any]
Handler = Callable[["Exchange", Header, bytes], Awaitable[None]]


class IsolationError(Exception):
    """Something is wrong between the master and a worker."""


class ProtocolError(IsolationError):
    """The peer sent something that is not a frame of this protocol."""


class ChannelClosed(IsolationError):
    """The channel closed (the worker exited, or was stopped) before the exchange ended."""


class RemoteError(IsolationError):
    """The other side failed to serve a call; `kind` is its exception's class name."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {message}")


class Exchange:
    """One conversation on a channel: `send` frames, `recv` the other side's until it ends."""

    __slots__ = (
        "_acked", "_credit", "_inbox", "_sent", "_taken", "_waiter", "channel", "ended", "id", "local_end"
    )  # fmt: skip

    def __init__(self, channel: Channel, exchange_id: int) -> None:
        self.channel = channel
        self.id = exchange_id
        self._inbox: deque[tuple[Header, bytes]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._credit: asyncio.Future[None] | None = None
        self._acked = 0  # frames we sent that the other side took
        self._taken = 0  # frames we took and have not acknowledged yet
        self.ended = False  # the other side ended its half
        self.local_end = False
        self._sent = 0  # frames we sent

    async def send(self, header: Header, payload: bytes = b"", *, end: bool = False) -> None:
        """Send one frame; waits while `WINDOW` frames are unread on the other side."""
        if self.local_end:
            raise IsolationError(f"exchange {self.id} was ended already")
        while self._sent - self._acked >= WINDOW:
            if self.channel.closed:
                raise ChannelClosed("the worker channel closed")
            self._credit = asyncio.get_running_loop().create_future()
            await self._credit
        header["x"] = self.id
        if self._sent == 0 and self.id % 2 == self.channel.parity:
            header["o"] = 1  # the frame that opens the exchange on the other side
        if end:
            header["e"] = 1
            self.local_end = True
        self._sent += 1
        await self.channel._write(header, payload)
        if end and self.ended:
            self.channel._forget(self.id)

    async def recv(self) -> tuple[Header, bytes]:
        """The next frame of the other side; raises ChannelClosed if it ends the channel first, and
        RemoteError for an error frame."""
        while not self._inbox:
            if self.ended:
                raise IsolationError(f"exchange {self.id}: the other side sent everything already")
            if self.channel.closed:
                raise ChannelClosed("the worker channel closed before it answered")
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        header, payload = self._inbox.popleft()
        self._taken += 1
        if self._taken >= ACK_EVERY and not self.ended and not self.channel.closed:
            taken, self._taken = self._taken, 0
            self.channel._write_nowait({"x": self.id, "k": "ack", "n": taken}, b"")
        if header.get("k") == "error":
            raise RemoteError(str(header.get("type", "Error")), str(header.get("message", "")))
        return header, payload

    async def fail(self, exc: BaseException) -> None:
        """End our half with an error frame naming `exc` (what the other side's `recv` raises)."""
        if not self.local_end and not self.channel.closed:
            await self.send({"k": "error", "type": type(exc).__name__, "message": str(exc)}, end=True)

    def _deliver(self, header: Header, payload: bytes) -> None:
        if header.get("k") == "ack":
            self._acked += int(header.get("n", 0))
            self._wake_sender()
            return
        if len(self._inbox) >= WINDOW + ACK_EVERY:
            raise ProtocolError(f"exchange {self.id}: the peer sent past its flow-control window")
        self._inbox.append((header, payload))
        if header.get("e"):
            self.ended = True
        self._wake_reader()

    def _wake_reader(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _wake_sender(self) -> None:
        if self._credit is not None and not self._credit.done():
            self._credit.set_result(None)


class Channel:
    """Frames over one connected stream socket; `handler` serves the exchanges the other side opens."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        master: bool,
        handler: Handler | None = None,
        max_payload: int = MAX_PAYLOAD,
        max_served: int = MAX_SERVED,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._handler = handler
        self.max_payload = max_payload
        self.max_served = max_served
        #: Our exchange ids are even (the master's) or odd (the worker's).
        self.parity = 0 if master else 1
        self._ids = itertools.count(self.parity, 2)
        self._exchanges: dict[int, Exchange] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = False
        self._closed_event = asyncio.Event()
        self._read_task = asyncio.get_running_loop().create_task(self._read_loop())

    def open(self) -> Exchange:
        """A new exchange opened by this side."""
        if self.closed:
            raise ChannelClosed("the worker channel is closed")
        exchange = Exchange(self, next(self._ids))
        self._exchanges[exchange.id] = exchange
        return exchange

    async def call(self, header: Header, payload: bytes = b"") -> tuple[Header, bytes]:
        """Send one frame on a new exchange and return the one frame that answers it."""
        exchange = self.open()
        try:
            await exchange.send(header, payload, end=True)
            return await exchange.recv()
        finally:
            self._forget(exchange.id)

    def finished(self, exchange: Exchange) -> None:
        """Forget `exchange` (its owner is done with it, whatever the other side still sends)."""
        self._forget(exchange.id)

    async def wait_closed(self) -> None:
        """Return once the channel is closed."""
        await self._closed_event.wait()

    async def close(self) -> None:
        """Close the socket; every exchange waiting for a frame raises ChannelClosed."""
        self._mark_closed()
        self._read_task.cancel()
        with contextlib.suppress(BaseException):
            await self._read_task
        for task in list(self._tasks):
            task.cancel()

    # -- frames ----------------------------------------------------------------------------------------
    async def _write(self, header: Header, payload: bytes) -> None:
        if self.closed:
            raise ChannelClosed("the worker channel is closed")
        self._write_nowait(header, payload)
        try:
            await self._writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            self._mark_closed()
            raise ChannelClosed(f"the worker channel closed: {exc}") from None

    def _write_nowait(self, header: Header, payload: bytes) -> None:
        data = json.dumps(header, separators=(",", ":")).encode()
        self._writer.writelines((_PREFIX.pack(len(data), len(payload)), data, payload))

    async def _read_loop(self) -> None:
        reader = self._reader
        try:
            while True:
                prefix = await reader.readexactly(_PREFIX.size)
                header_size, payload_size = _PREFIX.unpack(prefix)
                if header_size > MAX_HEADER or payload_size > self.max_payload:
                    raise ProtocolError(f"a frame of {header_size}+{payload_size} bytes is over the limit")
                header = json.loads(await reader.readexactly(header_size))
                payload = await reader.readexactly(payload_size) if payload_size else b""
                self._dispatch(header, payload)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the other side went away
        except asyncio.CancelledError:
            pass
        except (ProtocolError, ValueError, TypeError) as exc:
            log.error("isolation channel: %s; closing it", exc)
        finally:
            self._mark_closed()

    def _dispatch(self, header: Header, payload: bytes) -> None:
        exchange_id = header.get("x")
        if not isinstance(exchange_id, int):
            raise ProtocolError("a frame without an exchange id")
        exchange = self._exchanges.get(exchange_id)
        if exchange is not None:
            exchange._deliver(header, payload)
            if exchange.ended and exchange.local_end:
                self._forget(exchange_id)
            return
        if not header.get("o") or exchange_id % 2 == self.parity or self._handler is None:
            return  # a late frame (or ack) of an exchange one side is done with
        exchange = Exchange(self, exchange_id)
        if len(self._tasks) >= self.max_served:  # a peer opening exchanges faster than they are served
            exchange.local_end = True
            refusal = {"x": exchange_id, "k": "error", "type": "IsolationError", "e": 1}
            refusal["message"] = f"more than {self.max_served} calls in flight; retry"
            self._write_nowait(refusal, b"")
            return
        self._exchanges[exchange_id] = exchange
        exchange._deliver(header, payload)
        first = exchange._inbox.popleft()
        task = asyncio.get_running_loop().create_task(self._serve(exchange, *first))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, exchange: Exchange, header: Header, payload: bytes) -> None:
        assert self._handler is not None
        try:
            await self._handler(exchange, header, payload)
        except (ChannelClosed, asyncio.CancelledError):
            pass
        except Exception as exc:
            log.exception("isolation channel: serving a %r frame failed", header.get("k"))
            with contextlib.suppress(IsolationError):
                await exchange.fail(exc)
        finally:
            if exchange.local_end or self.closed:
                self._forget(exchange.id)

    def _forget(self, exchange_id: int) -> None:
        self._exchanges.pop(exchange_id, None)

    def _mark_closed(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._closed_event.set()
        for exchange in list(self._exchanges.values()):
            exchange._wake_reader()
            exchange._wake_sender()
        self._exchanges.clear()
        with contextlib.suppress(Exception):
            self._writer.close()


async def open_channel(
    sock: socket.socket,
    *,
    master: bool,
    handler: Handler | None = None,
    max_payload: int = MAX_PAYLOAD,
    max_served: int = MAX_SERVED,
) -> Channel:
    """A Channel over a connected stream socket (one end of `socket.socketpair()`)."""
    reader, writer = await asyncio.open_unix_connection(sock=sock, limit=CHUNK * 2)
    return Channel(
        reader, writer, master=master, handler=handler, max_payload=max_payload, max_served=max_served
    )
