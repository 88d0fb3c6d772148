"""Websocket test helpers: a chat-like test app, a client factory that closes every connection, readers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

READ_TIMEOUT = 10

AUTH = """
async def handle(ctx):
    token = ctx.query.get("token")
    if token in ("acme", "globex"):
        return {"user": "u-" + token, "tenant": token}
    if token == "anon":
        return True
    if token == "banned":
        return {"ok": False, "status": 403, "reason": "banned here"}
    if token == "boom":
        raise RuntimeError("auth exploded")
    if token == "bad-tenant":
        return {"tenant": "a:b"}
    return None
"""

HANDLER = """
import json
from gingee_kernel import cache, websockets

async def handle(socket, ctx):
    if ctx.query.get("fail") == "open":
        raise RuntimeError("handler failed on purpose")
    socket.send({"id": socket.id, "meta": socket.meta, "tenant": socket.tenant, "path": ctx.path,
                 "app": ctx.app.name})

    @socket.on_message
    async def on_message(text):
        cmd = json.loads(text)
        op = cmd["op"]
        try:
            if op == "join":
                socket.join(cmd["room"])
                socket.send({"joined": cmd["room"]})
            elif op == "leave":
                socket.leave(cmd["room"])
                socket.send({"left": cmd["room"]})
            elif op == "to":
                socket.to(cmd["room"]).send(cmd["data"])
                socket.send({"sent": cmd["room"]})
            elif op == "echo":
                socket.send(cmd["data"])
            elif op == "binary":
                socket.send(bytes(cmd["data"]))
            elif op == "cache":
                await cache.set("k", cmd["data"])
                socket.send({"cached": await cache.get("k")})
            elif op == "size":
                socket.send({"size": await websockets.room_size(cmd["room"]),
                             "count": await websockets.connection_count()})
            elif op == "close":
                socket.close(4000, "bye")
            elif op == "fail":
                raise RuntimeError("callback failed on purpose")
        except websockets.RoomDenied as exc:
            socket.send({"denied": str(exc)})

    @socket.on_close
    async def closed():
        await cache.set("closed:" + socket.id, socket.close_code)
"""

PUSH = """
from gingee_kernel import cache, websockets

async def handle(g):
    body = g.request.body or {}
    if body.get("room"):
        sent = await websockets.to_room(body["room"], body["data"])
    else:
        sent = await websockets.to_app(body["data"])
    return {"sent": sent}

async def closed(g):
    return {"code": await cache.get("closed:" + g.request.query["id"])}
"""

PMFT = {"permissions": {"mandatory": ["websockets", "cache"]}}


def chat_files(app: str = "chat", **websockets: Any) -> dict[str, Any]:
    """A test app with the handler above, an auth hook, and an HTTP `push` script."""
    settings = {"path": "/ws", "handler": "ws.py", "auth": "auth.py", **websockets}
    return {
        f"web/{app}/box/app.json": {"name": app, "websockets": settings},
        f"web/{app}/box/pmft.json": PMFT,
        f"web/{app}/box/ws.py": HANDLER,
        f"web/{app}/box/auth.py": AUTH,
        f"web/{app}/box/push.py": PUSH,
        f"web/{app}/box/routes.json": {
            "routes": [{"path": "/closed", "script": "push.py", "handler": "closed"}]
        },
    }


def ws_url(server: Any, path: str) -> str:
    """The ws:// URL of `path` on a RunningServer."""
    return f"ws://127.0.0.1:{server.port}{path}"


async def shut(conn: WebSocketClientConnection) -> None:
    """Close a client connection and wait until the server has closed it too."""
    if conn.protocol is None:
        return  # closed by us already
    stream = conn.protocol.stream
    ended = stream is None or stream.closed()
    conn.close()  # always: it releases the client's protocol object
    if ended:
        return  # the server closed it, and its end was read
    try:
        while await asyncio.wait_for(conn.read_message(), READ_TIMEOUT) is not None:
            pass
    except asyncio.TimeoutError:
        pass


async def recv(conn: WebSocketClientConnection) -> Any:
    """The next message (text that is JSON decoded); fails if the connection closed instead."""
    message = await asyncio.wait_for(conn.read_message(), READ_TIMEOUT)
    assert message is not None, f"the connection closed ({conn.close_code} {conn.close_reason})"
    if isinstance(message, str):
        try:
            return json.loads(message)
        except ValueError:
            return message
    return message


async def close_code(conn: WebSocketClientConnection) -> int | None:
    """Read until the server closes the connection; its close code."""
    while await asyncio.wait_for(conn.read_message(), READ_TIMEOUT) is not None:
        pass
    return conn.close_code


async def refused(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], Any]:
    """(status, JSON body, headers) of a refused upgrade; fails if the upgrade succeeds."""
    try:
        conn = await websocket_connect(HTTPRequest(url, headers=headers or {}))
    except HTTPClientError as error:
        assert error.response is not None
        return error.code, json.loads(error.response.body), error.response.headers
    await shut(conn)
    raise AssertionError(f"the upgrade to {url} was accepted")


Connect = Callable[..., Awaitable[WebSocketClientConnection]]


@pytest.fixture
async def ws() -> AsyncIterator[Connect]:
    """Factory: `await ws(url, headers={...})` opens a client connection; all are closed after the test."""
    opened: list[WebSocketClientConnection] = []

    async def connect(url: str, headers: dict[str, str] | None = None) -> WebSocketClientConnection:
        conn = await websocket_connect(HTTPRequest(url, headers=headers or {}))
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        await shut(conn)
