"""Streamed replies and streamed request bodies go through the relay as they come."""

from __future__ import annotations

import json

import httpx

from .conftest import app_files

SSE = """
import asyncio

async def handle(g):
    await g.response.stream()
    for n in range(3):
        await g.response.write_sse({"n": n}, event="tick")
        await asyncio.sleep(0.05)
    await g.response.end()
"""
UPLOAD = """
import hashlib

async def handle(g):
    digest, size, chunks = hashlib.sha256(), 0, 0
    async for chunk in g.request.stream():
        digest.update(chunk)
        size += len(chunk)
        chunks += 1
    return {"size": size, "sha256": digest.hexdigest(), "chunks": chunks}
"""
BIG = "def handle(g):\n    return b'x' * (3 * 1024 * 1024 + 7)\n"
ROUTES = {"routes": [{"path": "/upload", "method": "POST", "script": "upload.py", "body": "stream"}]}


def test_server_sent_events_pass_through_as_events(isolated, client: httpx.Client) -> None:
    server = isolated(app_files("live", {"events.py": SSE}))
    events: list[str] = []
    with client.stream("GET", server.url("/live/events")) as reply:
        assert reply.status_code == 200
        assert reply.headers["Content-Type"].startswith("text/event-stream")
        for line in reply.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
    assert [json.loads(e) for e in events] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_a_streamed_upload_and_a_large_reply_cross_intact(isolated, client: httpx.Client) -> None:
    import hashlib

    server = isolated(
        {**app_files("up", {"upload.py": UPLOAD, "big.py": BIG}), "web/up/box/routes.json": ROUTES}
    )
    body = bytes(range(256)) * (40 * 1024)  # 10 MiB: many frames

    def pieces():
        for offset in range(0, len(body), 100_000):
            yield body[offset : offset + 100_000]

    reply = client.post(server.url("/up/upload"), content=pieces())
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert data["size"] == len(body)
    assert data["sha256"] == hashlib.sha256(body).hexdigest()
    assert data["chunks"] > 1
    big = client.get(server.url("/up/big"))
    assert big.status_code == 200 and big.content == b"x" * (3 * 1024 * 1024 + 7)


def test_a_streamed_upload_over_the_limit_is_413(isolated, client: httpx.Client) -> None:
    server = isolated(
        {
            **app_files("up", {"upload.py": UPLOAD}, limits={"max_upload_size": "1mb"}),
            "web/up/box/routes.json": ROUTES,
        }
    )
    reply = client.post(server.url("/up/upload"), content=iter([b"y" * 600_000] * 4))
    assert reply.status_code == 413
    assert reply.json()["error"] == "PAYLOAD_TOO_LARGE"
