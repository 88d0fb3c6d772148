"""`websockets.to_room` from a job: a script enqueues, the job (run by the server's own queue) pushes
to the room, in the app's context."""

from __future__ import annotations

import json

import httpx

from .conftest import chat_files, recv, ws_url

ENQUEUE = """
from gingee_kernel import queue

async def handle(g):
    job = await queue.add("notify", g.request.body)
    return {"job": job.id}
"""

NOTIFY = """
from gingee_kernel import websockets

async def handle(g):
    return await websockets.to_room(g.job.payload["room"], {"from_job": g.job.payload["text"]})
"""


async def test_to_room_from_a_job(make_project, serve, ws):
    files = {
        **chat_files("chat"),
        "web/chat/box/pmft.json": {"permissions": {"mandatory": ["websockets", "cache", "queue"]}},
        "web/chat/box/enqueue.py": ENQUEUE,
        "web/chat/box/jobs/notify.py": NOTIFY,
    }
    server = serve(make_project(files))
    conn = await ws(ws_url(server, "/chat/ws?token=anon"))
    await recv(conn)
    conn.write_message(json.dumps({"op": "join", "room": "jobs"}))
    assert await recv(conn) == {"joined": "jobs"}
    async with httpx.AsyncClient() as http:
        reply = await http.post(server.url("/chat/enqueue"), json={"room": "jobs", "text": "done"})
    assert reply.status_code == 200, reply.text
    assert await recv(conn) == {"from_job": "done"}
