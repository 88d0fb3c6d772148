"""What a websocket handler script holds: `Socket` (one connection), `Room` and `SocketContext`.

    async def handle(socket, ctx):
        socket.join("lobby")

        @socket.on_message
        async def echo(text):
            socket.to("lobby").send({"from": socket.id, "text": text})

Rooms are per app. A socket whose auth hook returned a `tenant` may only join (and send to) rooms named
`t:<tenant>:...`; a socket without a tenant may not join any `t:` room.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ...engine.g import AppInfo
from ...errors import GingeeError
from ...metrics import series as metrics
from .send_buffer import DEFAULT_LIMIT, SendBuffer

if TYPE_CHECKING:
    import asyncio

    from ...engine.app import AppRuntime
    from .hub import Hub

Callback = Callable[..., Any]


class Connection(Protocol):
    """What a host hands over: an accepted websocket (Tornado's WebSocketHandler fits)."""

    def write_message(self, message: bytes | str, binary: bool = False) -> Any:
        """Send one message (text unless `binary`)."""

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start the closing handshake with `code` and `reason`."""


class RoomDenied(GingeeError, PermissionError):
    """A socket tried to join or send to a room its tenant may not use."""


@dataclass(frozen=True)
class SocketContext:
    """`ctx` of the handler and the auth hook: the upgrade request, the app, and the auth meta."""

    app: AppInfo
    log: logging.Logger
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    cookies: dict[str, str]
    remote_ip: str
    meta: dict[str, Any] = field(default_factory=dict)
    #: The logged-in user of an app with an app.json `auth` section (its session cookie), or None.
    user: Any = None


def _refuse(value: Any) -> Any:
    raise TypeError(f"a {type(value).__name__} is not JSON")


def encode(data: Any) -> tuple[bytes, bool]:
    """(payload, binary): bytes go as a binary message, str as text, anything else as JSON text."""
    if isinstance(data, str):
        return data.encode("utf-8"), False
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data), True
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_refuse)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"websockets: send str, bytes or JSON values (dict, list, ...): {exc}") from None
    return text.encode("utf-8"), False


#: Close codes RFC 6455 lets a server send (1004-1006 and 1015 are reserved).
_SERVER_CODES = frozenset((1000, 1001, 1002, 1003, *range(1007, 1015)))


#: The close code for a client that does not read what it is sent (RFC 6455 1008, policy violation).
CLOSE_SLOW_CONSUMER = 1008


class Socket:
    """One websocket connection of an app, as its handler sees it."""

    __slots__ = (
        "__weakref__",
        "_buffer",
        "_conn",
        "_hub",
        "_loop",
        "_thread",
        "app",
        "close_callbacks",
        "close_code",
        "close_reason",
        "closed",
        "id",
        "last_active",
        "message_callbacks",
        "meta",
        "rooms",
        "runtime",
        "tenant",
    )

    def __init__(
        self,
        sid: str,
        runtime: AppRuntime,
        conn: Connection,
        hub: Hub,
        meta: dict[str, Any],
        loop: asyncio.AbstractEventLoop,
        max_send_buffer: int = DEFAULT_LIMIT,
    ) -> None:
        self.id = sid
        self.runtime = runtime
        self.app = runtime.name
        self.meta = meta
        tenant = meta.get("tenant")
        self.tenant: str | None = None if tenant is None else str(tenant)
        self.rooms: set[str] = set()
        self.closed = False
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.message_callbacks: list[Callback] = []
        self.close_callbacks: list[Callback] = []
        self.last_active = time.monotonic()
        self._conn = conn
        self._buffer = SendBuffer(max_send_buffer, self._slow_consumer, loop)
        self._hub = hub
        self._loop = loop
        self._thread = threading.get_ident()

    def __repr__(self) -> str:
        return f"<Socket {self.id} app={self.app!r} rooms={sorted(self.rooms)}>"

    # -- sending -------------------------------------------------------------------------------------

    def send(self, data: Any) -> None:
        """Send `data` to this client: dicts and lists as JSON text, str as text, bytes as binary."""
        payload, binary = encode(data)
        self._on_loop(self._send_one, payload, binary)

    def _send_one(self, payload: bytes, binary: bool) -> None:
        if self.write(payload, binary):
            self._hub.count_out(self.app, 1)

    def write(self, payload: bytes, binary: bool) -> bool:
        """Write an encoded message (hub use); False if the socket is closing, or is being closed because
        its client does not read what it is sent (see `send_buffer`)."""
        if self.closed:
            return False
        size = len(payload)
        if self._buffer.full(size):
            self._slow_consumer()
            return False
        try:
            future = self._conn.write_message(payload, binary)
        except Exception:  # the connection is going away; its close callback will clean up
            return False
        self._buffer.track(future, size)
        self.last_active = time.monotonic()
        return True

    def _slow_consumer(self) -> None:
        if self.closed:
            return
        self._hub.log.warning(
            "websocket %s of app '%s': its client has not read %d bytes (app.json websockets."
            "max_send_buffer_bytes is %d); closing it with 1008",
            self.id,
            self.app,
            self._buffer.pending,
            self._buffer.limit,
        )
        self._close(CLOSE_SLOW_CONSUMER, "send buffer full", cause="slow_consumer")

    def to(self, room: str) -> Room:
        """Everyone in `room` but this socket, in every process: `socket.to("lobby").send(data)`."""
        self.check_room(room)
        return Room(self, room)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with a close code (1000 normal, 1001-1014 as RFC 6455 says, 3000-4999 your own)."""
        if (
            isinstance(code, bool)
            or not isinstance(code, int)
            or not (code in _SERVER_CODES or 3000 <= code <= 4999)
        ):
            raise ValueError(
                f"websockets: {code!r} is not a close code a server may send (1000-1014, 3000-4999)"
            )
        if len(reason.encode("utf-8")) > 123:
            raise ValueError("websockets: a close reason is at most 123 bytes of UTF-8")
        self._on_loop(self._close, code, reason)

    def _close(self, code: int, reason: str, cause: str | None = None) -> None:
        """Close on the loop; `cause` (a reason the server closes for) is counted in the metrics."""
        if self.closed:
            return
        if cause is not None:
            metrics.record_ws_close(self.app, cause)
        self.closed = True
        self.close_code, self.close_reason = code, reason
        self._hub.detach(self)
        try:
            self._conn.close(code, reason)
        except Exception:
            self._hub.log.debug("closing socket %s failed", self.id, exc_info=True)

    # -- rooms ----------------------------------------------------------------------------------------

    def join(self, room: str) -> None:
        """Join `room` (per app); RoomDenied if this socket's tenant may not use it."""
        self.check_room(room)
        self._on_loop(self._hub.join, self, room)

    def leave(self, room: str) -> None:
        """Leave `room` (no error if not in it)."""
        self._on_loop(self._hub.leave, self, room)

    def tenant_room(self, name: str) -> str:
        """The name of this socket's tenant room `name`: `t:<tenant>:<name>`."""
        if self.tenant is None:
            raise RoomDenied(f"socket {self.id} has no tenant (its auth hook returned none)")
        return f"t:{self.tenant}:{name}"

    def check_room(self, room: str) -> None:
        """Raise unless this socket may use `room` (tenant rooms are `t:<tenant>:...`)."""
        if not isinstance(room, str) or not room:
            raise TypeError("websockets: a room is a non-empty string")
        if self.tenant is None:
            if room.startswith("t:"):
                raise RoomDenied(
                    f"room '{room}' is a tenant room (t:<tenant>:...), and socket {self.id} has no tenant; "
                    "only sockets whose auth hook returned that tenant may use it"
                )
        elif not room.startswith(f"t:{self.tenant}:"):
            raise RoomDenied(
                f"socket {self.id} belongs to tenant '{self.tenant}' and may only use rooms named "
                f"'t:{self.tenant}:<name>', not '{room}' (socket.tenant_room(name) builds one)"
            )

    # -- callbacks ------------------------------------------------------------------------------------

    def on_message(self, callback: Callback) -> Callback:
        """Call `callback(message)` (str or bytes) for each message, in the app's context; a decorator."""
        self.message_callbacks.append(callback)
        return callback

    def on_close(self, callback: Callback) -> Callback:
        """Call `callback()` once the connection closed (see `close_code`); usable as a decorator."""
        self.close_callbacks.append(callback)
        return callback

    def _on_loop(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run `func` on the server's event loop (waiting for it when called from a script thread)."""
        if threading.get_ident() == self._thread:
            return func(*args)
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(func(*args))
            except BaseException as exc:
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return done.result()


class Room:
    """`socket.to(room)`: send to every socket of the room except the sender, in every process."""

    __slots__ = ("name", "sender")

    def __init__(self, sender: Socket, name: str) -> None:
        self.sender = sender
        self.name = name

    def send(self, data: Any) -> int:
        """Send `data` (JSON, str or bytes); returns how many sockets of this process received it."""
        payload, binary = encode(data)
        sender = self.sender
        return int(sender._on_loop(sender._hub.broadcast, sender.app, self.name, payload, binary, sender.id))
