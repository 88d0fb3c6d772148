"""GET /todo/todos[?done=true|false]"""

from gingee_kernel import db

from .validate import as_json


async def handle(g):
    done = g.request.query.get("done")
    if done in ("true", "false"):
        rows = await db.query.many(
            "main", "select * from todo where done = :done order by id", {"done": int(done == "true")}
        )
    else:
        rows = await db.query.many("main", "select * from todo order by id")
    g.response.send([as_json(r) for r in rows])
