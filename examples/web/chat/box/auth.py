"""Websocket auth hook: runs before the handshake; what it returns becomes `socket.meta`.

This sample only asks for a display name and a room (`/chat/ws?name=Ada&room=lobby`). A real app would
verify a session cookie or a token here (`ctx.cookies`, `ctx.query`, `ctx.headers`) and return
`None` (401) or `{"ok": False, "status": 403, "reason": ...}` to refuse.
"""

import re

NAME = re.compile(r"^[\w .-]{1,32}$")
ROOM = re.compile(r"^[a-z0-9-]{1,32}$")


async def handle(ctx):
    name = ctx.query.get("name", "").strip()
    room = ctx.query.get("room", "lobby")
    if not NAME.match(name):
        return {"ok": False, "status": 401, "reason": "say who you are: ?name= (1-32 letters, digits, .-)"}
    if not ROOM.match(room):
        return {"ok": False, "status": 400, "reason": "rooms are 1-32 of a-z, 0-9 and -"}
    return {"name": name, "room": room}
