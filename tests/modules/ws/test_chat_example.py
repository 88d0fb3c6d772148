"""The sample chat app (examples/web/chat) served like the quick start: join, history, presence,
messages to the room, announcements from HTTP, and the auth hook's refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from .conftest import recv, refused, ws_url

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture
def server(tmp_path, serve):
    project = tmp_path / "examples"
    shutil.copytree(EXAMPLES, project, ignore=shutil.ignore_patterns("data", "__pycache__"))
    return serve(project, dev=False)  # examples/settings/permissions.json grants the chat app


async def test_chat_round_trip(server, ws, client):
    assert "<h1>Gingee chat</h1>" in client.get(server.url("/chat/")).text
    ada = await ws(ws_url(server, "/chat/ws?name=Ada"))
    assert await recv(ada) == {"type": "history", "room": "lobby", "messages": []}
    assert await recv(ada) == {"type": "presence", "event": "Ada joined", "online": 1}
    bob = await ws(ws_url(server, "/chat/ws?name=Bob"))
    assert (await recv(bob))["type"] == "history"
    assert await recv(ada) == await recv(bob) == {"type": "presence", "event": "Bob joined", "online": 2}

    ada.write_message(json.dumps({"text": " hello Bob "}))
    for conn in (ada, bob):
        message = await recv(conn)
        assert (message["type"], message["from"], message["text"]) == ("message", "Ada", "hello Bob")

    async with httpx.AsyncClient() as http:
        reply = await http.post(server.url("/chat/announce"), json={"text": "maintenance at 5"})
    assert reply.json() == {"room": "lobby", "delivered_here": 2}
    assert await recv(bob) == {"type": "announcement", "text": "maintenance at 5"}

    bob.close()
    assert (await recv(ada))["type"] == "announcement"
    assert await recv(ada) == {"type": "presence", "event": "Bob left", "online": 1}

    carol = await ws(ws_url(server, "/chat/ws?name=Carol"))  # history comes from the cache
    history = await recv(carol)
    assert [m["text"] for m in history["messages"]] == ["hello Bob"]


async def test_chat_auth_hook_refuses_without_a_name(server):
    status, body, _ = await refused(ws_url(server, "/chat/ws"))
    assert (status, body["error"]) == (401, "UNAUTHORIZED")
    assert "?name=" in body["reason"]
    status, _, _ = await refused(ws_url(server, "/chat/ws?name=Ada&room=Not%20Valid"))
    assert status == 400
