"""/metrics on both hosts: the exposition parses with prometheus-client's own parser and counts what was
just asked: requests by route pattern, method and status class, the hosts' own 413s, and websockets."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tornado.websocket import websocket_connect

from .conftest import Server, raw

FILES = {
    "gingee.json": {"max_body_size": "1kb"},
    "web/m/box/app.json": {"name": "m", "websockets": {"path": "/ws", "handler": "ws.py"}},
    "web/m/box/pmft.json": {"permissions": {"mandatory": ["websockets"]}},
    "web/m/box/routes.json": {"routes": [{"path": "/users/:id", "method": "GET", "script": "user.py"}]},
    "web/m/box/user.py": "async def handle(g):\n    return {'id': g.request.params['id']}\n",
    "web/m/box/ok.py": "async def handle(g):\n    return 'ok'\n",
    "web/m/box/boom.py": "async def handle(g):\n    raise RuntimeError('boom')\n",
    "web/m/box/ws.py": (
        "async def handle(socket, ctx):\n"
        "    socket.on_message(lambda message: socket.send('echo: ' + message))\n"
    ),
    "web/m/page.html": "<p>page</p>",
}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def server(served) -> Server:
    return served(FILES, dev=True)


def scrape(server: Server) -> Samples:
    reply = httpx.get(server.url("/metrics"), timeout=10)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert reply.headers["cache-control"] == "no-store"
    samples: Samples = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def moved(after: Samples, before: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def series(route: str, status_class: str, method: str = "GET", app: str = "m") -> dict[str, str]:
    return {"app": app, "route": route, "method": method, "status_class": status_class}


def test_requests_are_counted_by_route_pattern(server):
    before = scrape(server)
    with httpx.Client(timeout=10) as client:
        for _ in range(3):
            assert client.get(server.url("/m/ok")).text == "ok"
        assert client.post(server.url("/m/ok")).status_code == 200
        assert client.get(server.url("/m/users/u17x?secret=1")).json() == {"id": "u17x"}
        assert client.get(server.url("/m/boom")).status_code == 500
        assert client.get(server.url("/m/page.html")).status_code == 200
        assert client.get(server.url("/m/missing.txt")).status_code == 404
        assert client.get(server.url("/nope/x")).status_code == 404
    after = scrape(server)
    total = "gingee_http_requests_total"
    assert moved(after, before, total, **series("/ok", "2xx")) == 3
    assert moved(after, before, total, **series("/ok", "2xx", "POST")) == 1
    assert moved(after, before, total, **series("/users/:id", "2xx")) == 1
    assert moved(after, before, total, **series("/boom", "5xx")) == 1
    assert moved(after, before, total, **series("static", "2xx")) == 1
    assert moved(after, before, total, **series("static", "4xx")) == 1
    assert moved(after, before, total, **series("-", "4xx", app="-")) == 1
    count = "gingee_http_request_duration_seconds_count"
    assert moved(after, before, count, **series("/ok", "2xx")) == 3
    assert moved(after, before, "gingee_http_request_duration_seconds_sum", **series("/ok", "2xx")) > 0
    assert not any("u17x" in value or "secret" in value for _, labels in after for _, value in labels)


def test_a_413_the_host_refuses_is_counted(server):
    before = scrape(server)
    reply = raw(server.port, "/m/ok", "POST", {"Content-Length": "5000"})
    assert reply.status == 413
    after = scrape(server)
    assert moved(after, before, "gingee_http_requests_total", **series("-", "4xx", "POST")) == 1
    assert moved(after, before, "gingee_limit_rejections_total", app="m", limit="body_size") == 1
    duration = moved(after, before, "gingee_http_request_duration_seconds_sum", **series("-", "4xx", "POST"))
    assert duration > 0


async def test_websockets_are_counted(server):
    loop = asyncio.get_running_loop()
    before = await loop.run_in_executor(None, scrape, server)
    conn = await websocket_connect(f"ws://127.0.0.1:{server.port}/m/ws")
    try:
        conn.write_message("one")
        assert await asyncio.wait_for(conn.read_message(), 10) == "echo: one"
        during = await loop.run_in_executor(None, scrape, server)
        assert during[("gingee_websocket_connections", frozenset({("app", "m")}))] == 1
    finally:
        conn.close()
        await asyncio.wait_for(conn.read_message(), 10)
    messages = "gingee_websocket_messages_total"
    assert moved(during, before, messages, app="m", direction="in") == 1
    assert moved(during, before, messages, app="m", direction="out") == 1
    for _ in range(200):  # the server sees the close a moment later
        after = await loop.run_in_executor(None, scrape, server)
        if after[("gingee_websocket_connections", frozenset({("app", "m")}))] == 0:
            break
        await asyncio.sleep(0.01)
    assert after[("gingee_websocket_connections", frozenset({("app", "m")}))] == 0


def test_a_refused_scrape_is_json(served):
    private = served({**FILES, "gingee.json": {"metrics": {"allow_from": ["10.0.0.0/8"]}}})
    reply = httpx.get(private.url("/metrics"), timeout=10)
    assert reply.status_code == 403
    assert json.loads(reply.content)["error"] == "FORBIDDEN"
    assert reply.headers["content-type"] == "application/json; charset=utf-8"
