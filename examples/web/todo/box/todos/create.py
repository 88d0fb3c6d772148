"""POST /todo/todos {"title": "...", "done": false} -> 201 with the new todo."""

from gingee_kernel import db

from .validate import as_json, todo_fields


async def handle(g):
    fields = todo_fields(g.request.body, partial=False)
    async with db.transaction("main") as tx:
        await tx.execute(
            "insert into todo (title, done) values (:title, :done)",
            {"title": fields["title"], "done": fields.get("done", 0)},
        )
        row = await tx.query.one("select * from todo where id = last_insert_rowid()")
    g.response.headers["Location"] = f"todos/{row['id']}"
    g.response.send(as_json(row), status=201)
