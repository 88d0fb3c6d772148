"""Redis fan-out: two `gingee serve` processes sharing a real Redis deliver each other's broadcasts, and a
Redis that goes away briefly delays broadcasts (held, retried, logged, counted) or, past `retry_ms`,
drops them with a log line and a metric; nothing disappears silently."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from gingee_kernel.metrics import series as metrics

from .conftest import chat_files, recv, ws_url

pytestmark = pytest.mark.redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fanout_config(url: str, prefix: str, retry_ms: int = 30_000) -> dict:
    return {"websockets": {"fanout": {"driver": "redis", "redis": {"url": url}, "channel_prefix": prefix,
                                      "retry_ms": retry_ms}}}  # fmt: skip


def fanout_errors(app: str, outcome: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "gingee_websocket_fanout_errors_total", {"app": app, "outcome": outcome}
    )
    return value or 0.0


async def joined(conn, room: str) -> None:
    conn.write_message(json.dumps({"op": "join", "room": room}))
    assert await recv(conn) == {"joined": room}


async def push(base_url: str, room: str, data) -> dict:
    async with httpx.AsyncClient() as http:
        return (await http.post(f"{base_url}/chat/push", json={"room": room, "data": data})).json()


# -- two real `gingee serve` processes -------------------------------------------------------------


def start_serve(project: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gingee_kernel.cli", "serve", str(project), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"gingee serve exited: {log.read_text()}")
            try:
                await http.get(f"http://127.0.0.1:{port}/chat/push")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise AssertionError(f"gingee serve on port {port} never answered: {log.read_text()}")


class Served:
    """Just enough of RunningServer for ws_url()."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"


async def test_broadcasts_cross_two_gingee_serve_processes(
    make_project, redis_url, redis_prefix, ws, tmp_path
):
    files = {
        **chat_files("chat"),
        "gingee.json": fanout_config(redis_url, redis_prefix),
        "settings/permissions.json": {"chat": {"granted": ["websockets", "cache"]}},
    }
    project = make_project(files)
    ports = [free_port(), free_port()]
    procs = [start_serve(project, port, tmp_path / f"serve-{port}.log") for port in ports]
    try:
        for port, proc in zip(ports, procs, strict=True):
            await wait_ready(port, proc, tmp_path / f"serve-{port}.log")
        a, b = Served(ports[0]), Served(ports[1])
        on_a = await ws(ws_url(a, "/chat/ws?token=acme"))
        on_b = await ws(ws_url(b, "/chat/ws?token=acme"))
        globex_b = await ws(ws_url(b, "/chat/ws?token=globex"))
        for conn in (on_a, on_b, globex_b):
            await recv(conn)
        await joined(on_a, "t:acme:news")
        await joined(on_b, "t:acme:news")
        await joined(globex_b, "t:globex:news")

        # to_room from an HTTP script on A reaches the room on A (counted) and on B (through Redis)
        assert await push(a.base, "t:acme:news", {"n": 1}) == {"sent": 1}
        assert await recv(on_a) == {"n": 1}
        assert await recv(on_b) == {"n": 1}

        # socket.to(room) on B reaches A, never the sender
        on_b.write_message(json.dumps({"op": "to", "room": "t:acme:news", "data": "from b"}))
        assert await recv(on_b) == {"sent": "t:acme:news"}
        assert await recv(on_a) == "from b"

        # the other tenant on B saw nothing: its next message is its own echo
        globex_b.write_message(json.dumps({"op": "echo", "data": "only mine"}))
        assert await recv(globex_b) == "only mine"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)


# -- Redis going away: a TCP proxy in front of Redis that the test turns off and on ----------------


class Proxy:
    """Forwards a loopback port to Redis; `down()` refuses and cuts connections, `up()` restores them."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.host, self.target_port = parts.hostname or "127.0.0.1", parts.port or 6379
        self.db = parts.path
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self.db}"

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self.writers.discard(writer)
            writer.transport.abort()


@pytest.fixture
async def proxy(redis_url):
    proxy = Proxy(redis_url)
    await proxy.up()
    yield proxy
    await proxy.down()


async def two_servers(make_project, serve, proxy, redis_url, redis_prefix, retry_ms):
    """A reaches Redis through the proxy, B directly; one socket on each in room "news"."""
    a = serve(
        make_project({**chat_files(), "gingee.json": fanout_config(proxy.url, redis_prefix, retry_ms)}, "a")
    )
    b = serve(make_project({**chat_files(), "gingee.json": fanout_config(redis_url, redis_prefix)}, "b"))
    return a, b


async def until(predicate, what: str) -> None:
    deadline = time.monotonic() + 15
    while not predicate():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.02)


async def test_broadcasts_held_while_redis_is_away_go_out_when_it_is_back(
    make_project, serve, proxy, redis_url, redis_prefix, ws, caplog
):
    caplog.set_level(logging.INFO, "gingee.websockets.fanout")
    a, b = await two_servers(make_project, serve, proxy, redis_url, redis_prefix, retry_ms=60_000)
    on_a, on_b = await ws(ws_url(a, "/chat/ws?token=anon")), await ws(ws_url(b, "/chat/ws?token=anon"))
    for conn in (on_a, on_b):
        await recv(conn)
        await joined(conn, "news")
    assert await push(a.url(""), "news", "before") == {"sent": 1}
    assert await recv(on_a) == "before"
    assert await recv(on_b) == "before"

    delayed = fanout_errors("chat", "delayed")
    await proxy.down()
    assert await push(a.url(""), "news", "during") == {"sent": 1}  # local delivery never waits for Redis
    assert await recv(on_a) == "during"
    await until(lambda: fanout_errors("chat", "delayed") > delayed, "the broadcast counted as delayed")
    assert "cannot publish to Redis" in caplog.text

    await proxy.up()
    assert await recv(on_b) == "during"  # held, then published once Redis answered again
    await until(lambda: "held broadcasts were published" in caplog.text, "the recovery logged")


async def test_broadcasts_are_dropped_with_a_log_and_a_metric_after_retry_ms(
    make_project, serve, proxy, redis_url, redis_prefix, ws, caplog
):
    a, b = await two_servers(make_project, serve, proxy, redis_url, redis_prefix, retry_ms=100)
    on_b = await ws(ws_url(b, "/chat/ws?token=anon"))
    await recv(on_b)
    await joined(on_b, "news")
    assert await push(a.url(""), "news", "warm-up") == {"sent": 0}
    assert await recv(on_b) == "warm-up"

    dropped = fanout_errors("chat", "dropped")
    await proxy.down()
    await push(a.url(""), "news", "lost")
    await until(lambda: fanout_errors("chat", "dropped") > dropped, "the broadcast counted as dropped")
    assert "dropped 1 broadcast(s) for other processes (apps: chat)" in caplog.text

    await proxy.up()
    assert await push(a.url(""), "news", "after") == {"sent": 0}
    assert await recv(on_b) == "after"  # and "lost" never arrived late
