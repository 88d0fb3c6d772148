"""The hub: every websocket of one server process, by app and room, with the connection caps and fan-out.

One hub per project, kept in `project.shared["websockets"]` and closed with the project. Everything
here runs on the server's event loop; `Socket` marshals calls made from script threads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket as _socket
import uuid
import weakref
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from ...errors import HttpError
from ...metrics import series as metrics
from .fanout import Envelope, Fanout, LocalFanout
from .settings import ServerSettings

if TYPE_CHECKING:
    from ...engine.app import AppRuntime
    from .socket import Socket

log = logging.getLogger("gingee.websockets")

SHARED_KEY = "websockets"
_WATCHED = "websockets.watched"


def hub_for(shared: dict[str, Any], server_config: dict[str, Any]) -> Hub:
    """The project's hub, created on first use from the server's `websockets` settings."""
    hub = shared.get(SHARED_KEY)
    if hub is None:
        hub = shared[SHARED_KEY] = Hub(ServerSettings.from_config(server_config))
    return hub


def make_fanout(settings: ServerSettings, node: str) -> Fanout:
    """The configured fan-out driver."""
    if settings.driver == "redis":
        from .fanout_redis import RedisFanout

        return RedisFanout(
            settings.redis_url,
            settings.channel_prefix,
            node,
            project=settings.project_dir,
            retry_seconds=settings.retry_seconds,
            max_pending=settings.max_pending,
        )
    return LocalFanout()


class Reservation:
    """A connection slot taken at upgrade time; `release()` gives it back (once)."""

    __slots__ = ("app", "hub", "released")

    def __init__(self, hub: Hub, app: str) -> None:
        self.hub = hub
        self.app = app
        self.released = False

    def release(self) -> None:
        """Give the slot back; later calls do nothing."""
        if not self.released:
            self.released = True
            self.hub.reserved -= 1
            self.hub.reserved_by_app[self.app] -= 1


class Hub:
    """Sockets by app and room, connection caps, local delivery and fan-out to other processes."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.node = f"{_socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.log = log
        self.sockets: dict[str, dict[str, Socket]] = {}
        self.rooms: dict[tuple[str, str], dict[str, Socket]] = {}
        self.reserved = 0
        self.reserved_by_app: dict[str, int] = {}
        self.fanout = make_fanout(settings, self.node)
        self._started = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unloaded: weakref.WeakSet[AppRuntime] = weakref.WeakSet()

    # -- capacity -----------------------------------------------------------------------------------

    def reserve(self, app: str, app_cap: int) -> Reservation:
        """Take a slot for a new connection, or raise 503 TOO_MANY_CONNECTIONS (server cap first)."""
        cap = self.settings.max_connections
        if self.reserved >= cap:
            raise _full("server", cap, "gingee.json websockets.max_connections")
        if self.reserved_by_app.get(app, 0) >= app_cap:
            raise _full("app", app_cap, "app.json websockets.max_connections")
        self.reserved += 1
        self.reserved_by_app[app] = self.reserved_by_app.get(app, 0) + 1
        return Reservation(self, app)

    # -- registry -----------------------------------------------------------------------------------

    def add(self, sock: Socket) -> None:
        """Register an open socket."""
        self.sockets.setdefault(sock.app, {})[sock.id] = sock

    def detach(self, sock: Socket) -> None:
        """Forget a closing socket: out of every room and the app's list (idempotent)."""
        for room in sock.rooms:
            members = self.rooms.get((sock.app, room))
            if members is not None:
                members.pop(sock.id, None)
                if not members:
                    del self.rooms[(sock.app, room)]
        sock.rooms.clear()
        by_id = self.sockets.get(sock.app)
        if by_id is not None and by_id.pop(sock.id, None) is not None and not by_id:
            del self.sockets[sock.app]

    def join(self, sock: Socket, room: str) -> None:
        """Put `sock` in `room` (a closed socket joins nothing)."""
        if sock.closed:
            return
        self.rooms.setdefault((sock.app, room), {})[sock.id] = sock
        sock.rooms.add(room)

    def leave(self, sock: Socket, room: str) -> None:
        """Take `sock` out of `room`."""
        sock.rooms.discard(room)
        members = self.rooms.get((sock.app, room))
        if members is not None:
            members.pop(sock.id, None)
            if not members:
                del self.rooms[(sock.app, room)]

    def room_size(self, app: str, room: str) -> int:
        """Sockets of `app` in `room`, in this process."""
        return len(self.rooms.get((app, room), ()))

    def connection_count(self, app: str) -> int:
        """Open sockets of `app` in this process."""
        return len(self.sockets.get(app, ()))

    # -- delivery -----------------------------------------------------------------------------------

    def deliver(self, app: str, room: str | None, payload: bytes, binary: bool, exclude: str | None) -> int:
        """Write an encoded message to this process's sockets of a room (or of the app); how many."""
        members = self.sockets.get(app) if room is None else self.rooms.get((app, room))
        if not members:
            return 0
        sent = 0
        for sock in tuple(members.values()):
            if sock.id != exclude and sock.write(payload, binary):
                sent += 1
        if sent:
            metrics.record_ws_message(app, "out", sent)
        return sent

    def broadcast(
        self, app: str, room: str | None, payload: bytes, binary: bool, exclude: str | None = None
    ) -> int:
        """Deliver here, then hand to the fan-out for the other processes; how many sockets here got it."""
        sent = self.deliver(app, room, payload, binary, exclude)
        if self.fanout.remote:
            scope = "app" if room is None else "room"
            self.fanout.publish(Envelope(app, scope, room or "", payload, binary, exclude))
        return sent

    def count_out(self, app: str, count: int) -> None:
        """Count messages sent to single sockets."""
        metrics.record_ws_message(app, "out", count)

    def _deliver_envelope(self, envelope: Envelope) -> None:
        room = envelope.room if envelope.scope == "room" else None
        self.deliver(envelope.app, room, envelope.payload, envelope.binary, envelope.exclude)

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start receiving other processes' broadcasts (once; the local driver has none)."""
        if not self._started:
            self._started = True
            await self.fanout.start(self._deliver_envelope)

    def watch(self, app: AppRuntime) -> bool:
        """Close the app's sockets with 1001 when this loaded app is reloaded or unloaded; False if it
        already was (an upgrade that raced a reload)."""
        if app in self._unloaded:
            return False
        if not app.state.get(_WATCHED):
            app.state[_WATCHED] = True
            app.on_close(lambda: self.close_app(app))
        return True

    def close_app(self, app: AppRuntime, code: int = 1001, reason: str = "app unloaded") -> None:
        """Close every socket opened by this loaded instance of the app (reloaded, or the server stops)."""
        self._unloaded.add(app)
        for sock in tuple(self.sockets.get(app.name, {}).values()):
            if sock.runtime is app:
                sock._close(code, reason)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run `coro` as a task the hub keeps a reference to until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """Close every socket (1001), wait briefly for close callbacks, stop the fan-out."""
        for by_id in tuple(self.sockets.values()):
            for sock in tuple(by_id.values()):
                sock._close(1001, "server shutting down")
        if self._tasks:
            await asyncio.wait(tuple(self._tasks), timeout=2)
        await self.fanout.close()


def _full(scope: str, cap: int, setting: str) -> HttpError:
    return HttpError(
        503,
        "TOO_MANY_CONNECTIONS",
        f"too many websocket connections ({scope} limit {cap}, {setting}); retry shortly",
        headers={"Retry-After": "1"},
        extra={"scope": scope},
    )
