"""In the master: the websockets of an isolated app. The socket stays here (with the hub, rooms, limits
and the upgrade checks); its auth hook and handler run in the worker, and what they do with the socket
(send, to(room).send, join, leave, close) comes back as frames on the socket's exchange, applied here,
where the room checks run again. Each client message goes to the worker before the next is read."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import HttpError
from .channel import Exchange, IsolationError, RemoteError

if TYPE_CHECKING:
    from ..engine.app import AppRuntime
    from ..modules.ws.socket import Socket, SocketContext
    from .host import IsolationHost

log = logging.getLogger("gingee.isolation")

#: Close code when the worker behind a socket goes away (RFC 6455: the server hit an unexpected condition).
CLOSE_WORKER_GONE = 1011
_following: set[asyncio.Task[None]] = set()


def relay_function(app: AppRuntime, key: str) -> Callable[..., Any]:
    """What the upgrade calls for an isolated app's websocket `key` ("auth" or "handler")."""
    host: IsolationHost = app.shared["isolation"]
    if key == "auth":

        async def auth(ctx: SocketContext) -> Any:
            return await _auth(host, app, ctx)

        return auth

    async def handler(socket: Socket, ctx: SocketContext) -> None:
        await _open(host, app, socket, ctx)

    return handler


def context_frame(ctx: SocketContext) -> dict[str, Any]:
    """The handler's `ctx` as the worker rebuilds it (it finds the logged-in user from the cookies)."""
    get_all = getattr(ctx.headers, "get_all", None)
    headers = list(get_all()) if get_all is not None else list(ctx.headers.items())
    return {"path": ctx.path, "query": ctx.query, "headers": headers, "cookies": ctx.cookies,
            "remote_ip": ctx.remote_ip, "meta": ctx.meta}  # fmt: skip


async def _auth(host: IsolationHost, app: AppRuntime, ctx: SocketContext) -> Any:
    channel = await host.worker(app.name).ensure()
    header, _ = await channel.call({"k": "ws-auth", "app": app.name, "ctx": context_frame(ctx)})
    refused = header.get("http")
    if refused:
        raise HttpError(int(refused[0]), str(refused[1]), str(refused[2]))
    return header.get("r")


async def _open(host: IsolationHost, app: AppRuntime, socket: Socket, ctx: SocketContext) -> None:
    channel = await host.worker(app.name).ensure()
    exchange = channel.open()
    await exchange.send(
        {"k": "ws-open", "app": app.name, "sid": socket.id, "ctx": context_frame(ctx), "meta": socket.meta}
    )

    async def message(text_or_bytes: str | bytes) -> None:
        binary = isinstance(text_or_bytes, bytes)
        payload = text_or_bytes if isinstance(text_or_bytes, bytes) else text_or_bytes.encode("utf-8")
        try:
            await exchange.send({"k": "ws-msg", "b": int(binary)}, payload)
        except IsolationError:
            _gone(socket)

    async def closed() -> None:
        with contextlib.suppress(IsolationError):
            if not exchange.local_end:
                await exchange.send({"k": "ws-close", "code": socket.close_code}, end=True)

    socket.on_message(message)
    socket.on_close(closed)
    task = asyncio.get_running_loop().create_task(_follow(exchange, socket))
    _following.add(task)
    task.add_done_callback(_following.discard)


async def _follow(exchange: Exchange, socket: Socket) -> None:
    """Apply what the worker's script does with the socket, until either side ends."""
    try:
        while True:
            header, payload = await exchange.recv()
            kind = header.get("k")
            if kind == "ws-ready":
                continue
            if kind == "ws-end":
                return
            if kind == "ws-error":  # its handler failed: closed with 1011, as in process
                log.error("websocket %s of app '%s': %s", socket.id, socket.app, header.get("message"))
                if not socket.closed:
                    socket.close(CLOSE_WORKER_GONE, "handler error")
                continue
            data: Any = payload if header.get("b") else payload.decode("utf-8")
            try:
                if kind == "send":
                    socket.send(data)
                elif kind == "room":
                    socket.to(str(header["room"])).send(data)
                elif kind == "join":
                    socket.join(str(header["room"]))
                elif kind == "leave":
                    socket.leave(str(header["room"]))
                elif kind == "close":
                    socket.close(int(header.get("code", 1000)), str(header.get("reason", "")))
            except Exception as exc:  # a room it may not use, a bad close code: the worker checked first
                log.warning("websocket %s of app '%s': refused %s from its worker: %s", socket.id, socket.app,
                            kind, exc)  # fmt: skip
    except RemoteError as error:
        log.warning("websocket %s of app '%s': %s", socket.id, socket.app, error)
        _gone(socket)
    except IsolationError:
        _gone(socket)
    finally:
        exchange.channel.finished(exchange)


def _gone(socket: Socket) -> None:
    if not socket.closed:
        socket.close(CLOSE_WORKER_GONE, "the app's worker process ended")
