# Solutions to the exercises of notebooks/08-export-pack-deploy.ipynb, one block per exercise cell.

# %% exercise: count
@app.route("/tasks/count")
async def count_tasks(g):
    await db.execute("main", SCHEMA)
    return await db.query.one("main", "select count(*) as count from task")
