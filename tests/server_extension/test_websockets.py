"""Websockets under /user/test/gingee/<app>/: an on-disk app's socket (the app's hub) and a live app's
socket relayed to its kernel, behind Jupyter's auth unless the app is public."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from gingee_kernel import live
from tests.fixtures.jupyter import JupyterServer
from tests.server_extension.conftest import FakeKernel

HANDLER = """
async def handle(socket, ctx):
    socket.send({"app": ctx.app.name, "prefix": ctx.headers.get("X-Gingee-Prefix"),
                 "auth": ctx.headers.get("Authorization")})

    @socket.on_message
    async def on_message(text):
        socket.send({"echo": text})
"""
WS = {"path": "/ws", "handler": "ws.py"}
PMFT = {"permissions": {"mandatory": ["websockets"]}}
FILES = {
    "web/chat/box/app.json": {"name": "chat", "websockets": WS},
    "web/chat/box/pmft.json": PMFT,
    "web/chat/box/ws.py": HANDLER,
    "web/lobby/box/app.json": {"name": "lobby", "public": True, "websockets": WS},
    "web/lobby/box/pmft.json": PMFT,
    "web/lobby/box/ws.py": HANDLER,
}
TIMEOUT = 10


@pytest.fixture
async def ws() -> AsyncIterator[Any]:
    """Factory: `await ws(url, headers, subprotocols)`; every connection is closed after the test."""
    opened: list[WebSocketClientConnection] = []

    async def connect(
        url: str, headers: dict[str, str] | None = None, subprotocols: list[str] | None = None
    ) -> WebSocketClientConnection:
        conn = await websocket_connect(HTTPRequest(url, headers=headers or {}), subprotocols=subprotocols)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        await shut(conn)


async def shut(conn: WebSocketClientConnection) -> None:
    """Close a client connection and read until the server's side is closed too."""
    if conn.protocol is None:
        return
    conn.close()
    try:
        while await asyncio.wait_for(conn.read_message(), TIMEOUT) is not None:
            pass
    except asyncio.TimeoutError:
        pass


def ws_url(server: JupyterServer, path: str) -> str:
    return server.url(path).replace("http://", "ws://", 1)


async def recv(conn: WebSocketClientConnection) -> Any:
    message = await asyncio.wait_for(conn.read_message(), TIMEOUT)
    assert message is not None, f"closed: {conn.close_code} {conn.close_reason}"
    if isinstance(message, str) and message.startswith("{"):
        return json.loads(message)
    return message


async def refused(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    try:
        conn = await websocket_connect(HTTPRequest(url, headers=headers or {}))
    except HTTPClientError as error:
        assert error.response is not None
        return error.code, json.loads(error.response.body)
    await shut(conn)
    raise AssertionError(f"the upgrade to {url} was accepted")


async def test_disk_app_socket_needs_login(server, ws):
    conn = await ws(ws_url(server, "gingee/chat/ws"), headers=server.auth)
    hello = await recv(conn)
    assert hello == {"app": "chat", "prefix": "/user/test/gingee/chat/", "auth": f"token {server.token}"}
    conn.write_message("hi")
    assert await recv(conn) == {"echo": "hi"}
    status, body = await refused(ws_url(server, "gingee/chat/ws"))
    assert status == 403 and body["error"] == "ACCESS_DENIED"
    status, body = await refused(ws_url(server, "gingee/chat/nope"), headers=server.auth)
    assert status == 404
    host = f"127.0.0.1:{server.port}"
    status, _ = await refused(
        ws_url(server, "gingee/chat/ws"), {**server.auth, "Origin": "http://evil.example"}
    )
    assert status == 403
    same_origin = await ws(ws_url(server, "gingee/chat/ws"), {**server.auth, "Origin": f"http://{host}"})
    assert (await recv(same_origin))["app"] == "chat"


async def test_public_app_socket_is_anonymous(server, ws):
    conn = await ws(ws_url(server, "gingee/lobby/ws"), headers={**server.auth, "Origin": "null"})
    hello = await recv(conn)
    assert hello["app"] == "lobby" and hello["auth"] is None


async def test_live_app_socket_is_relayed(server, ws):
    fake = FakeKernel().start()
    registration = live.Registration(app="livews", port=fake.port, pid=os.getpid(), secret=fake.secret)
    live.write(registration, server.runtime_dir)
    try:
        url = ws_url(server, "gingee/livews/ws?room=1")
        status, _ = await refused(url)
        assert status == 403
        conn = await ws(url, headers=server.auth, subprotocols=["first", "second"])
        assert conn.selected_subprotocol == "second"  # the kernel's choice, not the first offered
        assert await recv(conn) == {"path": "/livews/ws", "query": "room=1", "auth": f"token {server.token}"}
        conn.write_message("text")
        assert await recv(conn) == "text"
        conn.write_message(b"\x00\x01", binary=True)
        assert await recv(conn) == b"\x00\x01"
        conn.write_message("close")
        assert await asyncio.wait_for(conn.read_message(), TIMEOUT) is None
        assert conn.close_code == 4001
        fake.stop()
        status, body = await refused(url, headers=server.auth)
        assert status == 502 and "app.serve()" in body["reason"]
    finally:
        fake.stop()
        live.remove(registration, server.runtime_dir)
