"""The socket API over real connections: send, rooms, to(room), callbacks in the app's context, close
codes (1009 oversize, 1001 idle, 1011 handler error, 1001 app reload), and `to_room` from HTTP scripts."""

from __future__ import annotations

import json

import httpx
import pytest

from .conftest import chat_files, close_code, recv, ws_url

SYNC_HANDLER = """
import json
import threading

def handle(socket, ctx):
    socket.join("sync-room")
    socket.send({"thread": threading.current_thread().name, "rooms": sorted(socket.rooms)})
    socket.on_message(lambda text: socket.to("sync-room").send({"relay": text}))
"""


def project_files():
    """The apps these tests run against (tests/isolation runs them again in worker processes)."""
    return {
        **chat_files("chat", max_message_bytes=1000),
        **chat_files("other"),
        **chat_files("idle", idle_timeout=0.2),
        "web/sync/box/app.json": {"name": "sync", "websockets": {"handler": "ws.py"}},
        "web/sync/box/pmft.json": {"permissions": {"mandatory": ["websockets"]}},
        "web/sync/box/ws.py": SYNC_HANDLER,
    }


@pytest.fixture
def server(make_project, serve):
    return serve(make_project(project_files()))


async def connect(ws, server, path="/chat/ws", token="anon"):
    conn = await ws(ws_url(server, f"{path}?token={token}"))
    hello = await recv(conn)
    return conn, hello["id"]


def op(conn, **command):
    conn.write_message(json.dumps(command))


async def test_send_json_text_and_binary(server, ws):
    conn, _ = await connect(ws, server)
    op(conn, op="echo", data={"n": 1, "text": "héllo"})
    assert await recv(conn) == {"n": 1, "text": "héllo"}
    op(conn, op="echo", data="plain")
    assert await recv(conn) == "plain"
    op(conn, op="binary", data=[0, 1, 255])
    assert await recv(conn) == b"\x00\x01\xff"


async def test_room_broadcast_skips_the_sender_and_other_rooms(server, ws):
    alice, _ = await connect(ws, server)
    bob, _ = await connect(ws, server)
    carol, _ = await connect(ws, server)
    for conn in (alice, bob):
        op(conn, op="join", room="lobby")
        assert await recv(conn) == {"joined": "lobby"}
    op(alice, op="to", room="lobby", data={"from": "alice"})
    assert await recv(alice) == {"sent": "lobby"}  # and not its own broadcast
    assert await recv(bob) == {"from": "alice"}
    op(carol, op="echo", data="carol got nothing before this")
    assert await recv(carol) == "carol got nothing before this"
    op(bob, op="leave", room="lobby")
    assert await recv(bob) == {"left": "lobby"}
    op(alice, op="to", room="lobby", data="after leave")
    assert await recv(alice) == {"sent": "lobby"}
    op(bob, op="echo", data="bob is out")
    assert await recv(bob) == "bob is out"


async def test_to_room_and_to_app_from_an_http_script(server, ws):
    async with httpx.AsyncClient() as http:
        conns = [(await connect(ws, server))[0] for _ in range(3)]
        other, _ = await connect(ws, server, "/other/ws")
        for conn in conns[:2]:
            op(conn, op="join", room="news")
            await recv(conn)
        op(other, op="join", room="news")  # same room name, another app
        await recv(other)
        reply = await http.post(server.url("/chat/push"), json={"room": "news", "data": {"headline": "hi"}})
        assert reply.json() == {"sent": 2}
        for conn in conns[:2]:
            assert await recv(conn) == {"headline": "hi"}
        reply = await http.post(server.url("/chat/push"), json={"data": "everyone"})
        assert reply.json() == {"sent": 3}
        for conn in conns:
            assert await recv(conn) == "everyone"
        op(other, op="echo", data="other app saw none of it")
        assert await recv(other) == "other app saw none of it"


async def test_room_size_and_connection_count_from_a_callback(server, ws):
    first, _ = await connect(ws, server)
    second, _ = await connect(ws, server)
    op(first, op="join", room="r")
    await recv(first)
    op(second, op="size", room="r")
    assert await recv(second) == {"size": 1, "count": 2}


async def test_callbacks_run_in_the_app_context(server, ws, client):
    conn, sid = await connect(ws, server)
    op(conn, op="cache", data={"x": 1})  # cache needs the current app and its grant
    assert await recv(conn) == {"cached": {"x": 1}}
    op(conn, op="close")
    assert await close_code(conn) == 4000
    # on_close ran in the app's context too: it wrote the close code into the app's cache
    for _ in range(200):
        code = client.get(server.url(f"/chat/closed?id={sid}")).json()["code"]
        if code is not None:
            break
    assert code == 4000


async def test_oversized_message_closes_with_1009(server, ws):
    conn, _ = await connect(ws, server)
    at_limit = json.dumps({"op": "echo", "data": "é" * 487}, ensure_ascii=False)  # 1000 bytes in UTF-8
    assert len(at_limit.encode()) == 1000
    conn.write_message(at_limit)
    assert await recv(conn) == "é" * 487
    conn.write_message(at_limit.replace("é", "éé", 1))  # 1002 bytes
    assert await close_code(conn) == 1009


async def test_far_oversized_frame_is_refused_by_tornado_with_1009_or_an_abort(server, ws):
    conn, _ = await connect(ws, server)
    conn.write_message(b"x" * 200_000, binary=True)
    assert await close_code(conn) in (1009, None)
    assert (await connect(ws, server))[1]  # the server is fine


async def test_idle_connection_closes_with_1001(server, ws):
    conn, _ = await connect(ws, server, "/idle/ws")
    assert await close_code(conn) == 1001
    assert conn.close_reason == "idle timeout"


async def test_handler_error_closes_with_1011(server, ws):
    conn = await ws(ws_url(server, "/chat/ws?token=anon&fail=open"))
    assert await close_code(conn) == 1011


async def test_callback_error_closes_with_1011(server, ws):
    conn, _ = await connect(ws, server)
    op(conn, op="fail")
    assert await close_code(conn) == 1011


async def test_app_reload_closes_its_sockets_with_1001(server, ws):
    conn, _ = await connect(ws, server)
    other, _ = await connect(ws, server, "/other/ws")
    server.call(server.project.reload("chat"))
    assert await close_code(conn) == 1001
    assert conn.close_reason == "app unloaded"
    op(other, op="echo", data="other app unaffected")
    assert await recv(other) == "other app unaffected"
    await connect(ws, server)  # the reloaded app accepts again


async def test_plain_def_handler_runs_in_the_script_pool(server, ws):
    first = await ws(ws_url(server, "/sync/ws"))
    hello = await recv(first)
    assert hello["thread"].startswith("gingee-script") and hello["rooms"] == ["sync-room"]
    second = await ws(ws_url(server, "/sync/ws"))
    await recv(second)
    second.write_message("ping")
    assert await recv(first) == {"relay": "ping"}
