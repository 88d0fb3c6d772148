"""Streamed replies on both hosts: server-sent events arrive one by one (each before the script writes the
next), chunked framing, HEAD without a body, a failure after the stream started, and a client that leaves
mid-stream (the script's next write raises, as its slot is given back)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from .conftest import Server, raw

STREAM = """
import asyncio
from gingee_kernel.engine.context import current_app

async def events(g):
    # One event, then wait for the test to let the next one go: the client must have had the first.
    state = current_app().state
    await g.response.stream()
    for n in range(3):
        await g.response.write_sse(f"n={n}", event="tick", id=str(n))
        if n < 2:
            await state.setdefault("go", asyncio.Queue()).get()
    await g.response.end()

async def parts(g):
    await g.response.stream(content_type="text/plain; charset=utf-8")
    for n in range(3):
        await g.response.write(f"part {n}\\n")
    await g.response.end()

async def fails(g):
    await g.response.stream()
    await g.response.write_sse("first")
    raise RuntimeError("failed after the stream started")

async def endless(g):
    state = current_app().state
    await g.response.stream()
    try:
        while True:
            await g.response.write_sse("tick")
            await asyncio.sleep(0.01)
    except ConnectionResetError:
        state.setdefault("left", asyncio.Event()).set()
"""

FILES = {
    "web/s/box/app.json": {"name": "s"},
    "web/s/box/stream.py": STREAM,
    "web/s/box/routes.json": {
        "routes": [
            {"path": f"/{name}", "method": "GET", "script": "stream.py", "handler": name}
            for name in ("events", "parts", "fails", "endless")
        ]
    },
}


@pytest.fixture(scope="module")
def server(served) -> Server:
    running = served(FILES, dev=False)
    assert "s" in running.project.apps, running.project.errors
    return running


def go(server: Server) -> None:
    """Let the events script write its next event."""

    async def put() -> None:
        server.project.apps["s"].state.setdefault("go", asyncio.Queue()).put_nowait(True)

    server.call(put())


def test_events_arrive_one_by_one(server):
    with httpx.Client(timeout=10) as client, client.stream("GET", server.url("/s/events")) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert reply.headers["cache-control"] == "no-cache, no-transform"
        assert reply.headers["x-accel-buffering"] == "no"
        assert reply.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in reply.headers
        lines = reply.iter_lines()
        for n in range(3):
            event = [next(lines) for _ in range(4)]
            assert event == ["event: tick", f"id: {n}", f"data: n={n}", ""]
            if n < 2:
                go(server)  # only now may the next event be written
        assert list(lines) == []


def test_chunks_are_sent_as_written(server):
    reply = raw(server.port, "/s/parts")
    assert reply.status == 200 and reply.chunked
    assert reply.header("content-length") is None
    assert reply.header("content-type") == "text/plain; charset=utf-8"
    assert reply.chunks == [b"part 0\n", b"part 1\n", b"part 2\n"]


def test_a_stream_has_the_security_headers_of_every_reply(server):
    """The engine adds them once the script returned, too late for a stream's head: stream() adds them."""
    assert raw(server.port, "/s/parts").header("x-content-type-options") == "nosniff"
    assert raw(server.port, "/s/fails").header("x-content-type-options") == "nosniff"


def test_head_of_a_stream_has_its_headers_and_no_body(server):
    reply = raw(server.port, "/s/parts", "HEAD")
    assert reply.status == 200
    assert reply.header("content-type") == "text/plain; charset=utf-8"
    assert reply.header("cache-control") == "no-cache, no-transform"
    assert reply.header("content-length") is None and not reply.chunked
    assert reply.body == b""


def test_a_failure_after_the_stream_started_ends_the_stream(server):
    reply = raw(server.port, "/s/fails")
    assert reply.status == 200 and reply.chunked
    assert reply.body == b"data: first\n\n"  # then the terminating chunk, and nothing else


async def test_a_client_that_leaves_makes_the_next_write_raise(server):
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream("GET", server.url("/s/endless")) as reply,
    ):
        async for line in reply.aiter_lines():
            assert line == "data: tick"
            break

    async def wait_left() -> None:
        await asyncio.wait_for(server.project.apps["s"].state.setdefault("left", asyncio.Event()).wait(), 5)

    await asyncio.get_running_loop().run_in_executor(None, server.call, wait_left())
    deadline = time.monotonic() + 5
    while server.project.apps["s"].pipeline.gate.inflight and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert server.project.apps["s"].pipeline.gate.inflight == 0
