"""GET, PATCH and DELETE /todo/todos/:id (routes.json names the function for each method)."""

from gingee_kernel import HttpError, db

from .validate import as_json, todo_fields, todo_id


async def _load(todo: int) -> dict:
    row = await db.query.one("main", "select * from todo where id = :id", {"id": todo})
    if row is None:
        raise HttpError(404, "TODO_NOT_FOUND", f"no todo with id {todo}")
    return row


async def get(g):
    g.response.send(as_json(await _load(todo_id(g.request.params))))


async def update(g):
    todo = todo_id(g.request.params)
    fields = todo_fields(g.request.body, partial=True)
    await _load(todo)
    if fields:
        assignments = ", ".join(f"{name} = :{name}" for name in fields)
        await db.execute("main", f"update todo set {assignments} where id = :id", {**fields, "id": todo})
    g.response.send(as_json(await _load(todo)))


async def delete(g):
    todo = todo_id(g.request.params)
    if await db.execute("main", "delete from todo where id = :id", {"id": todo}) == 0:
        raise HttpError(404, "TODO_NOT_FOUND", f"no todo with id {todo}")
    g.response.send(b"", status=204)
