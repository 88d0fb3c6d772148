"""The chat's websocket handler: join the room, replay its history, relay messages, announce presence.

Callbacks run as the app, so the cache (history) and `websockets.to_room` work inside them.
"""

import json
import time

from gingee_kernel import cache, websockets

HISTORY = 50


async def handle(socket, ctx):
    name, room = socket.meta["name"], socket.meta["room"]
    socket.join(room)
    socket.send({"type": "history", "room": room, "messages": await cache.get(f"history:{room}", [])})
    await presence(room, f"{name} joined")

    @socket.on_message
    async def on_message(raw):
        try:
            text = str(json.loads(raw)["text"]).strip()
        except (ValueError, KeyError, TypeError):
            socket.send({"type": "error", "reason": 'send {"text": "..."}'})
            return
        if text:
            message = {"type": "message", "from": name, "text": text[:1000], "at": time.time()}
            history = (await cache.get(f"history:{room}", []))[-(HISTORY - 1) :]
            await cache.set(f"history:{room}", [*history, message], ttl=0)
            await websockets.to_room(room, message)

    @socket.on_close
    async def on_close():
        await presence(room, f"{name} left")


async def presence(room, event):
    online = await websockets.room_size(room)
    await websockets.to_room(room, {"type": "presence", "event": event, "online": online})
