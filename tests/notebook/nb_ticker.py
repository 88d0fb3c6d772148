# A notebook in percent format (`# %%` cells): an app with a websocket handler, an auth function and a
# route that pushes to the handler's room. The websocket tests run it live and export it.
# %%
import json

import gingee_kernel as gk
from gingee_kernel import websockets

# %%
app = gk.App("ticker")

# %%
ROOM = "prices"


def stamp(data):
    return {"room": ROOM, **data}


def check(ctx):
    user = ctx.query.get("user")
    return {"user": user} if user else None


@app.websocket("/live", auth=check, idle_timeout=60, max_message_bytes="4kb")
async def on_connect(socket, ctx):
    socket.join(ROOM)
    socket.send(stamp({"hello": socket.meta["user"]}))

    @socket.on_message
    async def echo(text):
        socket.send(stamp({"echo": json.loads(text)}))


# %%
@app.route("/push", methods=["POST"])
async def push(g):
    return {"sent": await websockets.to_room(ROOM, stamp(g.request.body))}
