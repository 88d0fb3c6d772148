# Solutions to the exercises of notebooks/04-a-rest-api.ipynb, one block per exercise cell.

# %% exercise: empty-title
NEW_TODO = {
    "type": "object",
    "required": ["title"],
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "done": {"type": "boolean"},
    },
    "additionalProperties": False,
}


@app.route("/todos", methods=["POST"], body=NEW_TODO)
async def create_todo(g):
    todo = {"title": g.request.body["title"], "done": g.request.body.get("done", False)}
    await ready()
    row = await db.query.one(
        "main", "insert into todo (title, done) values (:title, :done) returning id, title, done", todo
    )
    g.response.set_header("Location", f"{g.request.app_url}/todos/{row['id']}")
    g.response.send(as_todo(row), status=201)


# %% exercise: delete-204
@app.route("/todos/:id", methods=["DELETE"])
async def delete_todo(g):
    todo = await fetch(g)
    await db.execute("main", "delete from todo where id = :id", {"id": todo["id"]})
    g.response.send(b"", status=204)
