"""Tenant rooms are enforced: a socket with a tenant uses only `t:<its tenant>:...` rooms, a socket
without one uses no `t:` room, and broadcasts to one tenant's room never reach another tenant."""

from __future__ import annotations

import json

import httpx
import pytest

from gingee_kernel import websockets
from gingee_kernel.engine.context import app_context
from gingee_kernel.errors import NoAppContext, PermissionDenied

from .conftest import chat_files, recv, ws_url


def project_files():
    """The app these tests run against (tests/isolation runs them again in a worker process)."""
    return chat_files("chat")


@pytest.fixture
def server(make_project, serve):
    return serve(make_project(project_files()))


async def tenant_socket(ws, server, token):
    conn = await ws(ws_url(server, f"/chat/ws?token={token}"))
    await recv(conn)
    return conn


async def ask(conn, **command):
    conn.write_message(json.dumps(command))
    return await recv(conn)


async def test_a_tenant_joins_only_its_own_rooms(server, ws):
    acme = await tenant_socket(ws, server, "acme")
    assert await ask(acme, op="join", room="t:acme:orders") == {"joined": "t:acme:orders"}
    denied = await ask(acme, op="join", room="t:globex:orders")
    assert (
        "tenant 'acme' and may only use rooms named 't:acme:<name>', not 't:globex:orders'"
        in denied["denied"]
    )
    assert "denied" in await ask(acme, op="join", room="lobby")
    assert "denied" in await ask(acme, op="join", room="t:acme")  # no prefix trickery
    assert "denied" in await ask(acme, op="to", room="t:globex:orders", data="leak")


async def test_a_socket_without_tenant_cannot_use_tenant_rooms(server, ws):
    anon = await tenant_socket(ws, server, "anon")
    denied = await ask(anon, op="join", room="t:acme:orders")
    assert "is a tenant room" in denied["denied"]
    assert await ask(anon, op="join", room="lobby") == {"joined": "lobby"}


async def test_broadcasts_stay_inside_the_tenant(server, ws):
    acme = await tenant_socket(ws, server, "acme")
    acme2 = await tenant_socket(ws, server, "acme")
    globex = await tenant_socket(ws, server, "globex")
    for conn, room in ((acme, "t:acme:feed"), (acme2, "t:acme:feed"), (globex, "t:globex:feed")):
        assert await ask(conn, op="join", room=room) == {"joined": room}
    assert await ask(acme, op="to", room="t:acme:feed", data="from acme") == {"sent": "t:acme:feed"}
    assert await recv(acme2) == "from acme"
    async with httpx.AsyncClient() as http:
        reply = await http.post(server.url("/chat/push"), json={"room": "t:acme:feed", "data": "server news"})
    assert reply.json() == {"sent": 2}
    assert await recv(acme) == "server news"
    assert await recv(acme2) == "server news"
    # globex received none of it: the next message it sees is its own echo
    assert await ask(globex, op="echo", data="globex only") == "globex only"


async def test_module_needs_an_app_context_and_the_grant(make_app):
    with pytest.raises(NoAppContext):
        await websockets.to_room("lobby", {"x": 1})
    with app_context(make_app("nogrant")), pytest.raises(PermissionDenied, match="'websockets'"):
        await websockets.connection_count()
    with app_context(make_app("granted", grants={"websockets"})):
        assert await websockets.to_room("lobby", "nobody here") == 0
        assert await websockets.room_size("lobby") == 0
        with pytest.raises(TypeError, match="JSON"):
            await websockets.to_app({"when": object()})
        with pytest.raises(TypeError, match="non-empty string"):
            await websockets.to_room("", "x")
