"""Websockets on both hosts: echo (text, JSON, binary), rooms and fan-out between two clients (and from an
HTTP script), refused upgrades with their status and JSON body, and the close codes of docs/websockets.md
(the app's own, 1009, 1011, 1001 idle and reload, the client's code as the app sees it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from tests.modules.ws.raw import RawClient

from .conftest import Server, asgi_limit

HANDLER = """
import json
from gingee_kernel.engine.context import current_app

async def handle(socket, ctx):
    if ctx.query.get("fail") == "open":
        raise RuntimeError("the handler failed on purpose")
    socket.send({"hello": socket.id, "meta": socket.meta, "path": ctx.path})

    @socket.on_message
    async def on_message(message):
        if isinstance(message, bytes):
            socket.send(message[::-1])
            return
        if not message.startswith("{"):
            socket.send("echo: " + message)
            return
        cmd = json.loads(message)
        op = cmd["op"]
        if op == "join":
            socket.join(cmd["room"])
            socket.send({"joined": cmd["room"]})
        elif op == "to":
            socket.send({"sent": socket.to(cmd["room"]).send(cmd["data"])})
        elif op == "close":
            socket.close(4000, "bye")
        elif op == "fail":
            raise RuntimeError("the callback failed on purpose")
        else:
            socket.send(cmd)

    @socket.on_close
    def closed():
        current_app().state.setdefault("closed", {})[socket.id] = [socket.close_code, socket.close_reason]
"""

AUTH = """
async def handle(ctx):
    token = ctx.query.get("token")
    if token == "anon":
        return {"user": "anon"}
    if token == "banned":
        return {"ok": False, "status": 403, "reason": "banned here", "error": "BANNED"}
    return None
"""

PUSH = """
from gingee_kernel import websockets
from gingee_kernel.engine.context import current_app

async def handle(g):
    return {"sent": await websockets.to_room(g.request.query["room"], {"pushed": g.request.query["text"]})}

async def closed(g):
    return current_app().state.get("closed", {}).get(g.request.query["id"])
"""


def ws_app(name: str, **settings: Any) -> dict[str, Any]:
    return {
        f"web/{name}/box/app.json": {
            "name": name,
            "websockets": {"path": "/ws", "handler": "ws.py", "auth": "auth.py", **settings},
        },
        f"web/{name}/box/pmft.json": {"permissions": {"mandatory": ["websockets"]}},
        f"web/{name}/box/ws.py": HANDLER,
        f"web/{name}/box/auth.py": AUTH,
        f"web/{name}/box/push.py": PUSH,
        f"web/{name}/box/routes.json": {
            "routes": [{"path": "/closed", "script": "push.py", "handler": "closed"}]
        },
    }


FILES = {
    **ws_app("chat", max_message_bytes=1000),
    **ws_app("idle", idle_timeout=0.2),
    **ws_app("other"),
    **ws_app("nogrant"),
    **ws_app("down"),
    "web/down/box/app.json": {"name": "down", "maintenance": True, "websockets": {"handler": "ws.py"}},
    "settings/permissions.json": {
        "chat": {"granted": ["websockets"]},
        "idle": {"granted": ["websockets"]},
        "other": {"granted": ["websockets"]},
        "down": {"granted": ["websockets"]},
    },
}

TIMEOUT = 10


@pytest.fixture(scope="module")
def server(served) -> Server:
    running = served(FILES, dev=False)
    assert sorted(running.project.apps) == ["chat", "down", "idle", "nogrant", "other"], (
        running.project.errors
    )
    return running


@pytest.fixture
async def ws(server) -> AsyncIterator[Any]:
    """Factory: `await ws(path)` opens a client connection to the server; all are closed afterwards."""
    opened: list[WebSocketClientConnection] = []

    async def connect(path: str = "/chat/ws?token=anon") -> WebSocketClientConnection:
        conn = await websocket_connect(f"ws://127.0.0.1:{server.port}{path}")
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:  # close, then read to the end (the server's close) if it was still open
        if conn.protocol is None:
            continue  # closed already
        stream = conn.protocol.stream
        ended = stream is None or stream.closed()
        conn.close()
        if not ended:
            with contextlib.suppress(asyncio.TimeoutError):
                while await asyncio.wait_for(conn.read_message(), TIMEOUT) is not None:
                    pass


async def recv(conn: WebSocketClientConnection) -> Any:
    message = await asyncio.wait_for(conn.read_message(), TIMEOUT)
    assert message is not None, f"closed: {conn.close_code} {conn.close_reason}"
    if isinstance(message, str) and message.startswith("{"):
        return json.loads(message)
    return message


async def closing(conn: WebSocketClientConnection) -> tuple[int | None, str | None]:
    """Read until the server closes; its close code and reason."""
    while await asyncio.wait_for(conn.read_message(), TIMEOUT) is not None:
        pass
    return conn.close_code, conn.close_reason


async def hello(ws: Any, path: str = "/chat/ws?token=anon") -> tuple[WebSocketClientConnection, str]:
    conn = await ws(path)
    first = await recv(conn)
    return conn, first["hello"]


def send(conn: WebSocketClientConnection, **command: Any) -> None:
    conn.write_message(json.dumps(command))


async def test_echo_of_text_json_and_binary(ws):
    conn = await ws("/chat/ws/?token=anon")  # a trailing slash is accepted
    assert {k: v for k, v in (await recv(conn)).items() if k != "hello"} == {
        "meta": {"user": "anon"},
        "path": "/ws",
    }
    conn.write_message("héllo")
    assert await recv(conn) == "echo: héllo"
    send(conn, op="data", n=[1, 2])
    assert await recv(conn) == {"op": "data", "n": [1, 2]}
    conn.write_message(b"\x00\x01\xff", binary=True)
    assert await recv(conn) == b"\xff\x01\x00"


async def test_rooms_fan_out_between_two_clients_and_from_http(server, ws):
    alice, _ = await hello(ws)
    bob, _ = await hello(ws)
    carol, _ = await hello(ws)
    for conn in (alice, bob):
        send(conn, op="join", room="lobby")
        assert await recv(conn) == {"joined": "lobby"}
    send(alice, op="to", room="lobby", data={"from": "alice"})
    assert await recv(bob) == {"from": "alice"}
    assert await recv(alice) == {"sent": 1}  # and not its own broadcast
    loop = asyncio.get_running_loop()
    url = server.url("/chat/push?room=lobby&text=hi")
    reply = await loop.run_in_executor(None, lambda: httpx.get(url, timeout=TIMEOUT))
    assert reply.json() == {"sent": 2}
    assert await recv(alice) == {"pushed": "hi"}
    assert await recv(bob) == {"pushed": "hi"}
    carol.write_message("carol got none of it")
    assert await recv(carol) == "echo: carol got none of it"


async def refusal(server: Server, path: str) -> tuple[int, Any, Any]:
    try:
        conn = await websocket_connect(HTTPRequest(f"ws://127.0.0.1:{server.port}{path}"))
    except HTTPClientError as error:
        assert error.response is not None
        return error.code, error.response.headers, json.loads(error.response.body)
    conn.close()
    raise AssertionError(f"the upgrade to {path} was accepted")


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/nope/ws", 404, "APP_NOT_FOUND"),
        ("/chat/elsewhere?token=anon", 404, "WEBSOCKET_NOT_FOUND"),
        ("/chat/%2e%2e/ws", 404, "WEBSOCKET_NOT_FOUND"),
        ("/nogrant/ws?token=anon", 403, "ACCESS_DENIED"),
        ("/chat/ws", 401, "UNAUTHORIZED"),
        ("/chat/ws?token=wrong", 401, "UNAUTHORIZED"),
        ("/chat/ws?token=banned", 403, "BANNED"),
        ("/down/ws", 503, "MAINTENANCE"),
    ],
)
async def test_refused_upgrades_answer_with_status_and_json(server, path, status, code):
    got, headers, body = await refusal(server, path)
    assert (got, body["error"]) == (status, code)
    assert set(body) == {"error", "reason"}
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(json.dumps(body)))
    if status == 503:
        assert headers["Retry-After"] == "30"
    if code == "BANNED":
        assert body["reason"] == "banned here"


async def test_the_app_closes_with_its_own_code(ws):
    conn, _ = await hello(ws)
    send(conn, op="close")
    assert await closing(conn) == (4000, "bye")


async def test_a_failing_handler_or_callback_closes_with_1011(ws):
    conn = await ws("/chat/ws?token=anon&fail=open")
    assert await closing(conn) == (1011, "handler error")
    conn, _ = await hello(ws)
    send(conn, op="fail")
    assert await closing(conn) == (1011, "handler error")


async def test_an_oversized_message_closes_with_1009(ws):
    conn, _ = await hello(ws)
    conn.write_message("x" * 1000)
    assert await recv(conn) == "echo: " + "x" * 1000
    conn.write_message("x" * 1001)
    assert await closing(conn) == (1009, "message larger than 1000 bytes")


async def test_an_idle_socket_closes_with_1001(ws):
    conn, _ = await hello(ws, "/idle/ws?token=anon")
    assert await closing(conn) == (1001, "idle timeout")


async def test_the_app_sees_the_clients_close_code(server, ws):
    conn, sid = await hello(ws)
    conn.close(4001, "later")
    loop = asyncio.get_running_loop()
    url = server.url(f"/chat/closed?id={sid}")
    seen = None
    for _ in range(200):
        seen = (await loop.run_in_executor(None, lambda: httpx.get(url, timeout=TIMEOUT))).content
        if seen:
            break
        await asyncio.sleep(0.01)
    assert json.loads(seen or b"null") == [4001, "later"]


async def test_a_reload_closes_the_apps_sockets_with_1001(server, ws):
    conn, _ = await hello(ws, "/other/ws?token=anon")
    unaffected, _ = await hello(ws)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, server.call, server.project.reload("other"))
    assert await closing(conn) == (1001, "app unloaded")
    unaffected.write_message("still here")
    assert await recv(unaffected) == "echo: still here"


async def test_stopping_the_server_closes_its_sockets_with_1001(served):
    running = served({**ws_app("chat"), "settings/permissions.json": {"chat": {"granted": ["websockets"]}}})
    conn = await websocket_connect(f"ws://127.0.0.1:{running.port}/chat/ws?token=anon")
    await recv(conn)
    loop = asyncio.get_running_loop()
    stopping = loop.run_in_executor(None, running.stop)
    try:
        assert await closing(conn) == (1001, "app unloaded")
    finally:
        conn.close()
        await stopping


# -- frames a client library would never send (tests/modules/ws/raw.py) -------------------------------


def raw_client(server: Server, path: str = "/chat/ws?token=anon") -> RawClient:
    client = RawClient(server.port, path)
    assert json.loads(client.text())["meta"] == {"user": "anon"}
    return client


def closes(server: Server, reason: str) -> float:
    text = httpx.get(server.url("/metrics"), timeout=TIMEOUT).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gingee_websocket_closes_total" and sample.labels == {
                "app": "chat",
                "reason": reason,
            }:
                return sample.value
    return 0.0


FRAMES = {
    "invalid UTF-8": (1007, "invalid UTF-8 in a text message", [(0x1, b"\xff\xfe", True, 0)]),
    "reserved bits": (1002, "protocol error", [(0x1, b"hi", True, 0x40)]),
    "an unknown opcode": (1002, "protocol error", [(0x3, b"hi", True, 0)]),
    "a continuation of nothing": (1002, "protocol error", [(0x0, b"hi", True, 0)]),
    "a fragmented ping": (1002, "protocol error", [(0x9, b"hi", False, 0)]),
    "a message inside a fragmented one": (
        1002,
        "protocol error",
        [(0x1, b"a", False, 0), (0x1, b"b", True, 0)],
    ),
}


@pytest.mark.parametrize("what", list(FRAMES))
def test_a_broken_frame_gets_its_close_code(server, what):
    code, _, frames = FRAMES[what]
    client = raw_client(server)
    try:
        for opcode, payload, fin, rsv in frames:
            client.send_frame(opcode, payload, fin=fin, rsv=rsv)
        assert client.close_frame()[0] == code
        assert client.ended()
    finally:
        client.close()


@pytest.mark.parametrize("what", ["invalid UTF-8", "reserved bits"])
def test_a_broken_frame_is_named_and_counted(server, request, host, what):
    asgi_limit(
        request, host, "uvicorn closes for the protocol itself: its own reason, and the app is not told why"
    )
    code, reason, frames = FRAMES[what]
    counted = "invalid_utf8" if code == 1007 else "protocol_error"
    before = closes(server, counted)
    client = raw_client(server)
    try:
        for opcode, payload, fin, rsv in frames:
            client.send_frame(opcode, payload, fin=fin, rsv=rsv)
        assert client.close_frame() == (code, reason, 0)
    finally:
        client.close()
    assert closes(server, counted) == before + 1


def test_a_clients_close_code_is_echoed(server):
    client = raw_client(server)
    try:
        client.send_frame(0x8, (1000).to_bytes(2, "big") + b"bye")
        assert client.close_frame()[0] == 1000  # RFC 6455 5.5.1
        assert client.ended()
    finally:
        client.close()


@pytest.mark.parametrize(
    ("payload", "code"),
    [((999).to_bytes(2, "big"), 1002), ((1005).to_bytes(2, "big"), 1002), ((2999).to_bytes(2, "big"), 1002),
     ((5000).to_bytes(2, "big"), 1002), (b"\x03", 1002), ((1000).to_bytes(2, "big") + b"\xff", 1007),
     ((3000).to_bytes(2, "big"), 3000), ((4999).to_bytes(2, "big") + b"ok", 4999)],
    ids=["999", "1005", "2999", "5000", "one byte", "reason not UTF-8", "3000", "4999"],
)  # fmt: skip
def test_a_close_frame_rfc_6455_does_not_allow_fails_the_connection(server, payload, code):
    """RFC 6455 7.4: a close code no endpoint may send, or a reason that is not UTF-8, is not echoed."""
    client = raw_client(server)
    try:
        client.send_frame(0x8, payload)
        assert client.close_frame()[0] == code
    finally:
        client.close()


def test_a_far_oversized_frame_closes_with_1009(server):
    client = raw_client(server)
    try:
        client.send_frame(0x2, b"x" * 200_000)
        assert client.close_frame()[0] == 1009
    finally:
        client.close()


def test_no_compression_is_negotiated(server):
    """Tornado's handler offers none: a client offering permessage-deflate gets a plain connection."""
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
    }
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        lines = [
            "GET /chat/ws?token=anon HTTP/1.1",
            "Host: 127.0.0.1",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"sec-websocket-extensions" not in head.lower()
