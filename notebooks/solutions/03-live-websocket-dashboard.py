# Solutions to the exercises of notebooks/03-live-websocket-dashboard.ipynb, one block per exercise cell.

# %% exercise: viewers
@app.route("/viewers")
async def viewers(g):
    return {"viewers": await websockets.room_size(ROOM)}


# %% exercise: alert
@app.route("/alerts", methods=["POST"])
async def add_alert(g):
    text = (g.request.body or {}).get("text")
    if not isinstance(text, str):
        raise HttpError(422, "INVALID_ALERT", "send {'text': ...}")
    return {"sent": await websockets.to_room(ROOM, {"alert": text})}
