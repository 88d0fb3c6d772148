# Solutions to the exercises of notebooks/09-metrics.ipynb, one block per exercise cell.

# %% exercise: ping-five
@app.route("/ping")
async def ping(g):
    return {"pong": True}


while requests_to("/ping") < 5:
    app.request("GET", "/ping")
print("GET /ping has answered", requests_to("/ping"), "requests")
