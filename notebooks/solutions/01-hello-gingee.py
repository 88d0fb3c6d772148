# Solutions to the exercises of notebooks/01-hello-gingee.ipynb, one block per exercise cell.

# %% exercise: bye-route
@app.route("/bye/:name")
async def bye(g):
    return {"message": f"Goodbye, {g.request.params['name']}!"}


# %% exercise: count-notes
@app.route("/notes/count")
async def count_notes(g):
    await db.execute("main", "create table if not exists note (id integer primary key, text text not null)")
    row = await db.query.one("main", "select count(*) as n from note")
    return {"count": row["n"]}
