"""The hub and Socket without a network: room bookkeeping, caps, encoding, close codes, envelopes, and
the same Session driven by a connection that is not Tornado's (what another host would pass)."""

from __future__ import annotations

import asyncio

import pytest

from gingee_kernel.errors import HttpError
from gingee_kernel.modules.ws.fanout import Envelope
from gingee_kernel.modules.ws.hub import Hub
from gingee_kernel.modules.ws.session import Session
from gingee_kernel.modules.ws.settings import AppSettings, ServerSettings
from gingee_kernel.modules.ws.socket import RoomDenied, Socket, SocketContext, encode
from gingee_kernel.modules.ws.upgrade import Admission, origin_allowed


class FakeConnection:
    """Anything with write_message() and close() can carry a Session."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bool]] = []
        self.closed: tuple[int | None, str | None] | None = None

    def write_message(self, message: bytes, binary: bool = False) -> None:
        self.sent.append((message, binary))

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        self.closed = (code, reason)


def socket_for(hub: Hub, app, sid: str, meta: dict | None = None) -> tuple[Socket, FakeConnection]:
    conn = FakeConnection()
    sock = Socket(sid, app, conn, hub, meta or {}, asyncio.get_running_loop())
    hub.add(sock)
    return sock, conn


async def test_rooms_are_per_app_and_emptied_on_detach(make_app):
    hub = Hub(ServerSettings())
    chat, other = make_app("chat"), make_app("other")
    a, conn_a = socket_for(hub, chat, "a")
    b, conn_b = socket_for(hub, chat, "b")
    c, conn_c = socket_for(hub, other, "c")
    for sock in (a, b, c):
        sock.join("lobby")
    assert hub.room_size("chat", "lobby") == 2 and hub.connection_count("chat") == 2
    assert a.to("lobby").send({"hi": 1}) == 1
    assert conn_b.sent == [(b'{"hi":1}', False)] and conn_a.sent == [] and conn_c.sent == []
    b.close(4001, "done")
    assert conn_b.closed == (4001, "done")
    assert hub.room_size("chat", "lobby") == 1 and hub.connection_count("chat") == 1
    a.leave("lobby")
    assert ("chat", "lobby") not in hub.rooms and hub.room_size("other", "lobby") == 1


async def test_caps_and_reservations():
    hub = Hub(ServerSettings(max_connections=2))
    first = hub.reserve("a", 1)
    with pytest.raises(HttpError) as app_full:
        hub.reserve("a", 1)
    second = hub.reserve("b", 5)
    with pytest.raises(HttpError) as server_full:
        hub.reserve("b", 5)
    assert (app_full.value.extra["scope"], server_full.value.extra["scope"]) == ("app", "server")
    first.release()
    first.release()  # once only
    assert hub.reserved == 1
    second.release()
    assert hub.reserved == 0 and hub.reserved_by_app == {"a": 0, "b": 0}


def test_encode_and_close_codes():
    assert encode({"é": [1, None]}) == ('{"é":[1,null]}'.encode(), False)
    assert encode("text") == (b"text", False)
    assert encode(b"\x00") == (b"\x00", True)
    with pytest.raises(TypeError, match="JSON"):
        encode({1, 2})
    with pytest.raises(TypeError, match="JSON"):
        encode(float("nan"))


async def test_close_codes_are_validated(make_app):
    sock, conn = socket_for(Hub(ServerSettings()), make_app("chat"), "a")
    for bad in (999, 1005, 1006, 1015, 2000, 5000, True):
        with pytest.raises(ValueError, match="close code"):
            sock.close(bad)
    with pytest.raises(ValueError, match="123 bytes"):
        sock.close(1000, "x" * 124)
    sock.close(1011, "fine")
    assert conn.closed == (1011, "fine")
    sock.send("after close")  # dropped quietly
    assert conn.sent == []


async def test_tenant_checks_and_tenant_room(make_app):
    hub = Hub(ServerSettings())
    acme, _ = socket_for(hub, make_app("chat"), "a", {"tenant": "acme"})
    assert acme.tenant_room("orders") == "t:acme:orders"
    acme.join("t:acme:orders")
    for room in ("t:acmeX:orders", "t:globex:orders", "lobby", "t:"):
        with pytest.raises(RoomDenied):
            acme.join(room)
    anon, _ = socket_for(hub, make_app("chat"), "b")
    with pytest.raises(RoomDenied, match="no tenant"):
        anon.tenant_room("orders")


def test_envelope_round_trip():
    for envelope in (
        Envelope("chat", "room", "lobby", "héllo".encode(), False, "sid"),
        Envelope("chat", "app", "", b"\x00\xff", True),
    ):
        origin, back = Envelope.loads(envelope.dumps("node-1"))
        assert (origin, back) == ("node-1", envelope)
    with pytest.raises(ValueError):
        Envelope.loads(b'{"v": 2}')


def test_origin_rule():
    assert origin_allowed(None, "h:1", ())
    assert origin_allowed("http://h:1", "H:1", ())
    assert not origin_allowed("http://h:2", "h:1", ())
    assert origin_allowed("https://x.org", "h:1", ("https://x.org",))
    assert origin_allowed("https://anything", "h:1", ("*",))


async def test_session_with_a_non_tornado_connection(make_app, tmp_path):
    """What a host does: admit (here built by hand), then drive a Session over its own connection."""
    app = make_app("chat", grants={"websockets"})
    hub = Hub(ServerSettings())
    seen: list[str] = []

    async def handle(socket, ctx):
        socket.join("r")
        socket.on_message(lambda text: seen.append(text))
        socket.send({"hello": ctx.meta["user"]})

    settings = AppSettings("/ws", tmp_path / "ws.py", None, (), 10, 0, 5)
    ctx = SocketContext(None, app.log, "/ws", {}, {}, {}, "127.0.0.1", {"user": "ann"})  # type: ignore[arg-type]
    admission = Admission(hub, app, settings, handle, {"user": "ann"}, ctx, hub.reserve("chat", 5))
    conn = FakeConnection()
    session = Session(admission, conn)
    await session.open()
    assert conn.sent == [(b'{"hello":"ann"}', False)]
    assert session.receive("ping") is None and seen == ["ping"]
    assert session.receive("x" * 11) is None  # over max_message_bytes (10)
    assert conn.closed == (1009, "message larger than 10 bytes")
    session.closed(1009, "")
    assert hub.reserved == 0 and hub.connection_count("chat") == 0
