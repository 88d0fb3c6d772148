"""The ASGI host under a real uvicorn (subprocess on a free 127.0.0.1 port): app routes, the bridged
operator/health endpoints, the Tornado host's refusals (405, 413, box/), and a websocket echo."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
import tornado.httpclient
import tornado.websocket

from tests.fixtures.jupyter import free_port
from tests.test_cli import wait_for

pytest.importorskip("uvicorn")

FILES = {
    "gingee.json": {"max_body_size": "1kb"},
    "web/a/box/app.json": {"name": "a", "websockets": {"path": "/ws", "handler": "ws.py"}},
    "web/a/box/pmft.json": {"permissions": {"mandatory": ["websockets"]}},
    "web/a/box/hi.py": "async def handle(g):\n    return {'hi': g.request.query.get('n', '')}\n",
    "web/a/box/ws.py": (
        "async def handle(socket, ctx):\n"
        "    async def echo(message):\n"
        "        socket.send({'echo': message})\n"
        "    socket.on_message(echo)\n"
    ),
    "settings/permissions.json": {"a": {"granted": ["websockets"]}},
}


@pytest.fixture
def uvicorn_server(make_project, tmp_path):
    root = make_project(FILES)
    log = (tmp_path / "uvicorn.log").open("wb")
    port = free_port()
    env = {**os.environ, "GINGEE_PROJECT": str(root)}
    command = [sys.executable, "-m", "uvicorn", "gingee_kernel.asgi:app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/_gingee/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            pytest.fail(f"uvicorn did not start: {(tmp_path / 'uvicorn.log').read_text()[-2000:]}")
        time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)
    log.close()


def test_routes_refusals_and_bridged_endpoints(uvicorn_server: str) -> None:
    with httpx.Client(base_url=uvicorn_server, timeout=10) as client:
        assert client.get("/a/hi?n=1").json() == {"hi": "1"}
        assert client.get("/a/hi").headers["x-content-type-options"] == "nosniff"
        assert client.head("/a/hi").content == b""
        assert client.request("PROPFIND", "/a/hi").json()["error"] == "METHOD_NOT_ALLOWED"
        big = client.post("/a/hi", content=b"x" * 4096)
        assert big.status_code == 413 and big.json()["error"] == "PAYLOAD_TOO_LARGE"
        assert client.get("/a/box/app.json").status_code == 403
        assert client.get("/nope/x").json()["error"] == "APP_NOT_FOUND"
        health = client.get("/_gingee/health")
        assert health.json()["status"] == "ok" and health.headers.get_list("server") == ["uvicorn"]
        apps = client.get("/_gingee/api/apps").json()["apps"]  # loopback, no token: the operator
        assert [app["name"] for app in apps] == ["a"]


def test_a_websocket_echoes_and_an_unknown_path_is_refused(uvicorn_server: str) -> None:
    async def talk() -> tuple[str | None, int]:
        ws_url = uvicorn_server.replace("http://", "ws://")
        socket = await tornado.websocket.websocket_connect(ws_url + "/a/ws")
        await socket.write_message("hello")
        answer = await socket.read_message()
        socket.close()
        try:
            await tornado.websocket.websocket_connect(ws_url + "/a/elsewhere")
        except tornado.httpclient.HTTPClientError as error:
            return answer, error.code
        return answer, 0

    answer, refused = asyncio.run(talk())
    assert json.loads(answer or "null") == {"echo": "hello"}
    assert refused == 404


def test_gingee_serve_asgi_closes_websockets_with_1001_and_exits_0_on_sigterm(make_project, tmp_path) -> None:
    """`gingee serve --server asgi`: its start line, and a stop that closes open websockets as the
    Tornado host does (1001 "app unloaded", not uvicorn's 1012) before exiting 0."""
    root = make_project(FILES)
    port = free_port()
    command = [sys.executable, "-m", "gingee_kernel", "serve", str(root), "--server", "asgi"]
    proc = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"ws://127.0.0.1:{port}/a/ws"

    async def talk() -> tuple[int | None, str | None]:
        socket = await tornado.websocket.websocket_connect(url)
        await socket.write_message("hi")
        assert json.loads(await socket.read_message() or "null") == {"echo": "hi"}
        proc.send_signal(signal.SIGTERM)
        while await socket.read_message() is not None:
            pass
        socket.close()
        return socket.close_code, socket.close_reason

    try:
        wait_for(f"http://127.0.0.1:{port}/_gingee/health", proc)
        code, reason = asyncio.run(talk())
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert (code, reason) == (1001, "app unloaded")
    assert proc.returncode == 0, out
    assert f"on http://127.0.0.1:{port}/ (apps: a) under uvicorn" in out
