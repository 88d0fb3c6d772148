"""In a worker: an isolated app's websocket auth hook and handler, and the `socket` they are given.

`WorkerSocket` has the Socket API (send, to(room).send, join, leave, close, tenant_room, on_message,
on_close, id, meta, tenant, rooms); what the script does goes to the master, in order, as frames on the
socket's exchange (sockets_master.py). Room and close-code checks run here first (the same code as
Socket's), so a script gets its error at once, and again in the master.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from typing import TYPE_CHECKING, Any

from tornado.httputil import HTTPHeaders

from ..engine.context import app_context
from ..errors import HttpError
from ..modules.login.session import user_from_cookies
from ..modules.ws.calls import run_script
from ..modules.ws.settings import app_settings
from ..modules.ws.socket import Socket, SocketContext, encode
from ..modules.ws.upgrade import _function
from .channel import Exchange, Header, IsolationError

if TYPE_CHECKING:
    from ..engine.app import AppRuntime

log = logging.getLogger("gingee.isolation.worker")


def build_context(app: AppRuntime, frame: dict[str, Any]) -> SocketContext:
    """The handler's ctx from the master's description of the upgrade."""
    headers = HTTPHeaders()
    for name, value in frame["headers"]:
        headers.add(name, value)
    cookies = dict(frame.get("cookies") or {})
    login = app.pipeline.login
    user = user_from_cookies(login, cookies) if login is not None else None
    return SocketContext(
        app.pipeline.info, app.log, frame["path"], dict(frame.get("query") or {}), headers, cookies,
        frame.get("remote_ip", ""), meta=dict(frame.get("meta") or {}), user=user,
    )  # fmt: skip


async def authenticate(app: AppRuntime, frame: dict[str, Any]) -> Header:
    """Run the app's auth hook; its answer (`r`), or the refusal the master answers (`http`)."""
    settings = app_settings(app)
    try:
        hook = _function(app, settings, "auth")
        with app_context(app):
            return {"k": "ret", "r": await run_script(app, hook, build_context(app, frame))}
    except HttpError as error:
        return {"k": "ret", "http": [error.status, error.code, error.reason]}
    except Exception:
        app.log.exception("app '%s': the websocket auth hook failed; refusing with 401", app.name)
        return {"k": "ret", "http": [401, "UNAUTHORIZED", "the connection was refused"]}


class WorkerSocket:
    """One websocket of an isolated app, as its handler sees it in the worker."""

    def __init__(self, sid: str, app: AppRuntime, meta: dict[str, Any], outbox: asyncio.Queue[Any]) -> None:
        self.id = sid
        self.runtime = app
        self.app = app.name
        self.meta = meta
        tenant = meta.get("tenant")
        self.tenant: str | None = None if tenant is None else str(tenant)
        self.rooms: set[str] = set()
        self.closed = False
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.message_callbacks: list[Any] = []
        self.close_callbacks: list[Any] = []
        self._outbox = outbox
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()

    def __repr__(self) -> str:
        return f"<Socket {self.id} app={self.app!r} rooms={sorted(self.rooms)} (isolated)>"

    def _post(self, header: Header, payload: bytes = b"") -> None:
        if threading.get_ident() == self._thread:
            self._outbox.put_nowait((header, payload))
        else:  # from a sync script in the thread pool
            self._loop.call_soon_threadsafe(self._outbox.put_nowait, (header, payload))

    def send(self, data: Any) -> None:
        """Send `data` to this client (JSON for dicts and lists, text for str, binary for bytes)."""
        payload, binary = encode(data)
        if not self.closed:
            self._post({"k": "send", "b": int(binary)}, payload)

    def to(self, room: str) -> _Room:
        """Everyone in `room` but this socket: `socket.to("lobby").send(data)`."""
        self.check_room(room)
        return _Room(self, room)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with a close code (1000 normal, 1001-1014, 3000-4999 your own)."""
        Socket.close(self, code, reason)  # type: ignore[arg-type]  # its checks, then _on_loop(_close)

    def _on_loop(self, func: Any, *args: Any) -> Any:
        return func(*args)

    def _close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.close_code, self.close_reason = code, reason
            self._post({"k": "close", "code": code, "reason": reason})

    def join(self, room: str) -> None:
        """Join `room`; RoomDenied if this socket's tenant may not use it."""
        self.check_room(room)
        self.rooms.add(room)
        self._post({"k": "join", "room": room})

    def leave(self, room: str) -> None:
        """Leave `room`."""
        self.rooms.discard(room)
        self._post({"k": "leave", "room": room})

    def tenant_room(self, name: str) -> str:
        """`t:<tenant>:<name>`."""
        return Socket.tenant_room(self, name)  # type: ignore[arg-type]

    def check_room(self, room: str) -> None:
        """Raise unless this socket may use `room`."""
        Socket.check_room(self, room)  # type: ignore[arg-type]

    def on_message(self, callback: Any) -> Any:
        """Call `callback(message)` for each message; a decorator."""
        self.message_callbacks.append(callback)
        return callback

    def on_close(self, callback: Any) -> Any:
        """Call `callback()` once the connection closed; a decorator."""
        self.close_callbacks.append(callback)
        return callback


class _Room:
    def __init__(self, sender: WorkerSocket, name: str) -> None:
        self.sender = sender
        self.name = name

    def send(self, data: Any) -> int:
        """Send to the room's other sockets (in the master); the count is not known here: 0."""
        payload, binary = encode(data)
        self.sender._post({"k": "room", "room": self.name, "b": int(binary)}, payload)
        return 0


async def serve_socket(app: AppRuntime, exchange: Exchange, frame: Header) -> None:
    """Run the handler for one socket, then its callbacks for each message, until the client leaves."""
    outbox: asyncio.Queue[Any] = asyncio.Queue()
    sock = WorkerSocket(str(frame["sid"]), app, dict(frame.get("meta") or {}), outbox)
    pump = asyncio.ensure_future(_pump(exchange, outbox))
    try:
        try:
            handler = _function(app, app_settings(app), "handler")
            with app_context(app):
                await run_script(app, handler, sock, build_context(app, frame["ctx"]))
            outbox.put_nowait(({"k": "ws-ready"}, b""))
        except Exception as exc:
            app.log.exception("websocket %s of app '%s': handle(socket, ctx) failed", sock.id, app.name)
            outbox.put_nowait(({"k": "ws-error", "message": f"{type(exc).__name__}: {exc}"}, b""))
        while True:
            header, payload = await exchange.recv()
            if header.get("k") == "ws-close":
                sock.closed = True
                sock.close_code = header.get("code")
                await _run_all(app, sock, sock.close_callbacks)
                return
            message: str | bytes = payload if header.get("b") else payload.decode("utf-8")
            await _run_all(app, sock, sock.message_callbacks, message)
    finally:
        outbox.put_nowait(None)
        await pump


async def _run_all(app: AppRuntime, sock: WorkerSocket, callbacks: list[Any], *args: Any) -> None:
    for callback in tuple(callbacks):
        with app_context(app):
            try:
                result = callback(*args)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                app.log.exception("websocket %s: a callback failed; closing with 1011", sock.id)
                sock._post({"k": "ws-error", "message": f"{type(exc).__name__}: {exc}"})
                return


async def _pump(exchange: Exchange, outbox: asyncio.Queue[Any]) -> None:
    """Send what the script did, in order; the last frame ends our half."""
    while True:
        item = await outbox.get()
        if item is None:
            if not exchange.local_end and not exchange.channel.closed:
                await exchange.send({"k": "ws-end"}, end=True)
            return
        header, payload = item
        try:
            await exchange.send(header, payload)
        except IsolationError:  # the master went away: nothing is left to tell
            return
