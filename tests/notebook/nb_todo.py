# A notebook in percent format (`# %%` cells): the round-trip tests run it live and export it.
# %%
import json

import gingee_kernel as gk
from gingee_kernel import HttpError, db

# %%
app = gk.App("todo", description="todos from a notebook")
app.use("db", name="main", type="sqlite", database="data/todo.db")

# %%
PAGE_SIZE = 2
STATUSES = {"open": 0, "done": 1}
TABLE = "todo"
SCHEMA = f"create table if not exists {TABLE} (id integer primary key, title text not null, done integer)"


async def ensure_schema():
    await db.execute("main", SCHEMA)


def status_name(done):
    return next(name for name, value in STATUSES.items() if value == done)


class Page:
    """One page of a list, PAGE_SIZE items long."""

    def __init__(self, items, number):
        start = (number - 1) * PAGE_SIZE
        self.items = items[start : start + PAGE_SIZE]
        self.number = number

    def as_json(self):
        return {"page": self.number, "items": self.items}


def as_todo(row):
    return {"id": row["id"], "title": row["title"], "status": status_name(row["done"])}


# %%
@app.route("/hello/:name")
def hello(g):
    name = g.request.params["name"]
    g.response.send(json.dumps({"hello": name}), content_type="text/plain")


@app.route("/greet/:name?")
async def greet(g):
    return {"greeting": f"hi {g.request.params.get('name') or 'world'}"}


@app.route("/files/*")
async def files(g):
    return {"path": g.request.params["*"]}


@app.route("/letters")
async def letters(g):
    number = int(g.request.query.get("page", "1"))
    return Page(list("abcde"), number).as_json()


@app.route("/noop", methods="DELETE")
def noop(g):
    return None


@app.route("/echo", methods=["POST", "PUT"])
async def echo(g):
    g.response.send({"method": g.request.method, "got": g.request.body}, status=201)


# %%
preview = app.request("GET", "/hello/you")
preview.json()


# %%
@app.route("/todos", methods=["GET", "POST"])
async def todos(g):
    await ensure_schema()
    if g.request.method == "POST":
        body = g.request.body
        if not isinstance(body, dict) or not body.get("title"):
            raise HttpError(422, "INVALID", "a JSON body with a title is required")
        done = STATUSES[body.get("status", "open")]
        await db.execute(
            "main", "insert into todo (title, done) values (:t, :d)", {"t": body["title"], "d": done}
        )
        row = await db.query.one("main", "select * from todo order by id desc limit 1")
        g.response.send(as_todo(row), status=201)
        return None
    rows = await db.query.many("main", "select * from todo order by id")
    return [as_todo(r) for r in rows]


@app.route("/todos/:id")
async def todo(g):
    await ensure_schema()
    row = await db.query.one("main", "select * from todo where id = :id", {"id": int(g.request.params["id"])})
    if row is None:
        raise HttpError(404, "TODO_NOT_FOUND", f"no todo {g.request.params['id']}")
    return as_todo(row)


@app.job("cleanup", attempts=3)
async def cleanup(g):
    await ensure_schema()
    await db.execute("main", "delete from todo where done = 1")
