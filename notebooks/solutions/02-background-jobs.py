# Solutions to the exercises of notebooks/02-background-jobs.ipynb, one block per exercise cell.

# %% exercise: gift-wrap
@app.job("gift-wrap")
async def gift_wrap(g):
    return {"wrapped": g.job.payload["order"]}


@app.route("/gifts", methods=["POST"])
async def wrap_gift(g):
    order = g.request.body["order"]
    job = await queue.add("gift-wrap", {"order": order}, job_id=f"gift-{order}")
    g.response.send({"job": job.id}, status=202)


# %% exercise: queue-stats
@app.route("/stats")
async def queue_stats(g):
    return await queue.stats()
