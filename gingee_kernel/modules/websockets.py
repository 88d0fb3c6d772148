"""`websockets`: push to the current app's websocket clients from any script, job or callback.

    from gingee_kernel import websockets

    async def handle(g):
        sent = await websockets.to_room("lobby", {"type": "notice", "text": "deploy at 5"})

Dicts and lists go as JSON text, str as text, bytes as binary. With `gingee.json` `websockets.fanout`
set to redis, `to_room` and `to_app` reach sockets in every process; the numbers returned and the
counts are those of this process. The app's handler script (`app.json` `websockets.handler`) receives
each connection as a `Socket`. Needs the `websockets` grant.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..engine.app import AppRuntime
from ..engine.context import require
from .ws.hub import Hub, hub_for
from .ws.socket import Room, RoomDenied, Socket, SocketContext, encode

__all__ = [
    "Room",
    "RoomDenied",
    "Socket",
    "SocketContext",
    "connection_count",
    "room_size",
    "to_app",
    "to_room",
]


def _hub(app: AppRuntime) -> Hub:
    return hub_for(app.shared, app.server_config)


async def _value(result: Any) -> Any:
    """What a hub returned: at once from this process's hub, awaited from an isolated app's (a call back
    to the master that holds the sockets, isolation/remote.py)."""
    return await result if inspect.isawaitable(result) else result


def _room(room: str) -> str:
    if not isinstance(room, str) or not room:
        raise TypeError("websockets: a room is a non-empty string")
    return room


async def to_room(room: str, data: Any) -> int:
    """Send `data` to every socket of the current app in `room`; how many in this process got it."""
    app = require("websockets")
    payload, binary = encode(data)
    return await _value(_hub(app).broadcast(app.name, _room(room), payload, binary))


async def to_app(data: Any) -> int:
    """Send `data` to every socket of the current app; how many in this process got it."""
    app = require("websockets")
    payload, binary = encode(data)
    return await _value(_hub(app).broadcast(app.name, None, payload, binary))


async def room_size(room: str) -> int:
    """How many sockets of the current app are in `room`, in this process."""
    app = require("websockets")
    return await _value(_hub(app).room_size(app.name, _room(room)))


async def connection_count() -> int:
    """How many sockets of the current app are open, in this process."""
    app = require("websockets")
    return await _value(_hub(app).connection_count(app.name))
