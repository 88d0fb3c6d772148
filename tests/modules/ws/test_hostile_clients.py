"""Hostile clients against real sockets: one that stops reading is closed with 1008 once its unsent
backlog passes `max_send_buffer_bytes` (the same for `to_room`, `socket.send` and fan-out deliveries, which
all write through `Socket.write`) while the others in its room get every message; bad UTF-8 in a text
frame gets a 1007 close frame and protocol errors a 1002 (RFC 6455 §7.1.7, §8.1), not a dropped TCP link;
a client over `max_messages_per_second` is closed with 1008."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from gingee_kernel.metrics import series as metrics

from .conftest import close_code, recv, ws_url
from .raw import RawClient

LIMIT = 262_144  # the test app's max_send_buffer_bytes
SIZE = 32_768  # one flood message
COUNT = 320  # 10 MiB in all: far past the limit and the 4 MiB the kernel's socket buffers may take

HANDLER = """
import asyncio
import json

async def handle(socket, ctx):
    socket.send("hello")

    @socket.on_message
    async def on_message(text):
        cmd = json.loads(text)
        if cmd["op"] == "join":
            socket.join(cmd["room"])
            socket.send("joined")
        elif cmd["op"] == "echo":
            socket.send(cmd["data"])
        elif cmd["op"] == "spam":
            for i in range(cmd["count"]):
                socket.send({"i": i, "pad": "x" * cmd["size"]})
                await asyncio.sleep(0.002)
        elif cmd["op"] == "burst":  # all at once, without yielding to the loop
            for i in range(cmd["count"]):
                socket.send({"i": i, "pad": "x" * cmd["size"]})
"""

FLOOD = """
import asyncio
from gingee_kernel import websockets

async def handle(g):
    body = g.request.body
    sent = []
    for i in range(body["count"]):
        sent.append(await websockets.to_room(body["room"], {"i": i, "pad": "x" * body["size"]}))
        await asyncio.sleep(0.002)
    return {"sent": sent}
"""


def app_files(app: str, **websockets) -> dict:
    return {
        f"web/{app}/box/app.json": {"name": app, "websockets": {"handler": "ws.py", **websockets}},
        f"web/{app}/box/pmft.json": {"permissions": {"mandatory": ["websockets"]}},
        f"web/{app}/box/ws.py": HANDLER,
        f"web/{app}/box/flood.py": FLOOD,
    }


@pytest.fixture
def server(make_project, serve):
    files = {
        **app_files("flood", max_send_buffer_bytes=LIMIT),
        **app_files("strict", max_messages_per_second=5),
        **app_files("plain"),
    }
    return serve(make_project(files))


def closes(app: str, reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value("gingee_websocket_closes_total", {"app": app, "reason": reason})
    return value or 0.0


async def until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the server never closed the socket"
        await asyncio.sleep(0.02)


def raw(server, path: str, **kwargs) -> RawClient:
    client = RawClient(server.port, path, **kwargs)
    assert client.text() == "hello"
    return client


def command(client: RawClient, **cmd) -> None:
    client.send_text(json.dumps(cmd))


# -- a client that stops reading ---------------------------------------------------------------------


async def test_a_client_that_stops_reading_is_closed_while_its_room_gets_every_broadcast(server, ws):
    before = closes("flood", "slow_consumer")
    stuck = raw(server, "/flood/ws", rcvbuf=4096)
    command(stuck, op="join", room="r")
    assert stuck.text() == "joined"
    healthy = await ws(ws_url(server, "/flood/ws"))
    assert await recv(healthy) == "hello"
    healthy.write_message(json.dumps({"op": "join", "room": "r"}))
    assert await recv(healthy) == "joined"

    async def read_all() -> list[int]:
        return [(await recv(healthy))["i"] for _ in range(COUNT)]

    try:
        reading = asyncio.ensure_future(read_all())  # the healthy client reads all along
        async with httpx.AsyncClient(timeout=30) as http:
            reply = await http.post(
                server.url("/flood/flood"), json={"room": "r", "count": COUNT, "size": SIZE}
            )
        sent = reply.json()["sent"]
        # both sockets got the first broadcasts; the stuck one left the room once its backlog passed the
        # limit, and the healthy one got every broadcast, in order
        assert sent[0] == 2 and sent[-1] == 1, sent
        assert await reading == list(range(COUNT))
        assert closes("flood", "slow_consumer") == before + 1
        # what was written before the limit is still delivered, then the close frame: 1008
        code, reason, delivered = stuck.close_frame()
        assert (code, reason) == (1008, "send buffer full")
        assert delivered < COUNT
        assert stuck.ended()
    finally:
        stuck.close()


async def test_socket_send_to_a_client_that_stops_reading_closes_it_too(server):
    before = closes("flood", "slow_consumer")
    stuck = raw(server, "/flood/ws", rcvbuf=4096)
    try:
        command(stuck, op="spam", count=COUNT, size=SIZE)
        await until(lambda: closes("flood", "slow_consumer") == before + 1)
        code, reason, delivered = stuck.close_frame()  # read only after the server gave up on it
        assert (code, reason) == (1008, "send buffer full")
        assert delivered < COUNT
    finally:
        stuck.close()


async def test_a_burst_past_the_limit_to_a_client_that_reads_is_delivered_whole(server, ws):
    # 3 MiB sent without yielding to a reading client: the default limit (1 MiB) is judged after the
    # loop had the chance to flush, so a reader is not taken for a slow consumer
    before = closes("plain", "slow_consumer")
    conn = await ws(ws_url(server, "/plain/ws"))
    assert await recv(conn) == "hello"
    conn.write_message(json.dumps({"op": "burst", "count": 96, "size": SIZE}))
    assert [(await recv(conn))["i"] for _ in range(96)] == list(range(96))
    assert closes("plain", "slow_consumer") == before


# -- RFC 6455 close codes ----------------------------------------------------------------------------


def test_invalid_utf8_in_a_text_frame_gets_a_1007_close_frame(server):
    before = closes("plain", "invalid_utf8")
    client = raw(server, "/plain/ws")
    try:
        command(client, op="echo", data="héllo")
        assert client.text() == "héllo"
        client.send_frame(0x1, b'{"op": "echo", "data": "\xff\xfe"}')
        assert client.close_frame() == (1007, "invalid UTF-8 in a text message", 0)
        assert client.ended()
        assert closes("plain", "invalid_utf8") == before + 1
    finally:
        client.close()


def test_invalid_utf8_across_fragments_gets_1007(server):
    client = raw(server, "/plain/ws")
    try:
        client.send_frame(0x1, b'{"op": "echo", "data": "\xe2', fin=False)  # a 3-byte sequence, cut
        client.send_frame(0x0, b'\x28\xa1"}')  # continued with bytes that do not complete it
        assert client.close_frame()[0] == 1007
    finally:
        client.close()


@pytest.mark.parametrize(
    ("what", "frames"),
    [
        ("reserved bits without an extension", [(0x1, b"hi", True, 0x40)]),
        ("an unknown opcode", [(0x3, b"hi", True, 0)]),
        ("a continuation of nothing", [(0x0, b"hi", True, 0)]),
        ("a fragmented ping", [(0x9, b"hi", False, 0)]),
        ("a new message inside a fragmented one", [(0x1, b"a", False, 0), (0x1, b"b", True, 0)]),
    ],
)
def test_protocol_errors_get_a_1002_close_frame(server, what, frames):
    before = closes("plain", "protocol_error")
    client = raw(server, "/plain/ws")
    try:
        for opcode, payload, fin, rsv in frames:
            client.send_frame(opcode, payload, fin=fin, rsv=rsv)
        assert client.close_frame() == (1002, "protocol error", 0), what
        assert client.ended()
        assert closes("plain", "protocol_error") == before + 1
    finally:
        client.close()


def test_a_client_closing_normally_is_not_counted_as_a_protocol_error(server):
    before = closes("plain", "protocol_error")
    client = raw(server, "/plain/ws")
    try:
        client.send_frame(0x8, (1000).to_bytes(2, "big") + b"bye")
        assert client.close_frame()[0] == 1000  # the server echoes the code (RFC 6455 §5.5.1)
        assert client.ended()
    finally:
        client.close()
    assert closes("plain", "protocol_error") == before


# -- inbound rate ------------------------------------------------------------------------------------


async def test_a_client_over_max_messages_per_second_is_closed_with_1008(server, ws):
    before = closes("strict", "rate_limited")
    conn = await ws(ws_url(server, "/strict/ws"))
    assert await recv(conn) == "hello"
    for n in range(5):  # the bucket holds one second's worth: 5 pass at once
        conn.write_message(json.dumps({"op": "echo", "data": n}))
    assert [await recv(conn) for _ in range(5)] == [0, 1, 2, 3, 4]
    for n in range(50):
        conn.write_message(json.dumps({"op": "echo", "data": n}))
    assert await close_code(conn) == 1008
    assert conn.close_reason == "more than 5 messages per second"
    assert closes("strict", "rate_limited") == before + 1
