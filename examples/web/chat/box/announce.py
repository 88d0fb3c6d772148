"""POST /chat/announce {"text": "...", "room": "lobby"}: push a notice to a room from plain HTTP."""

from gingee_kernel import websockets


async def handle(g):
    if g.request.method != "POST":
        g.response.headers["Allow"] = "POST"
        g.response.send({"error": "METHOD_NOT_ALLOWED", "reason": "POST a JSON body"}, status=405)
        return
    body = g.request.body if isinstance(g.request.body, dict) else {}
    text = str(body.get("text", "")).strip()
    if not text:
        g.response.send({"error": "INVALID", "reason": "text is required"}, status=400)
        return
    room = str(body.get("room", "lobby"))
    sent = await websockets.to_room(room, {"type": "announcement", "text": text})
    return {"room": room, "delivered_here": sent}
