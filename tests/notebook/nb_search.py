# A notebook with a search box over its todo list: the todos indexed from a route, searched from a route.
# %%
import gingee_kernel as gk
from gingee_kernel import search

# %%
app = gk.App("todos")
app.use("search", name="todos", fields={"title": {"weight": 2}, "notes": {}}, filters=["done"])

TODOS = [
    {"id": 1, "title": "Buy oat milk", "notes": "the café on the corner", "done": False},
    {"id": 2, "title": "Book the Zürich train", "notes": "window seat", "done": True},
    {
        "id": 3,
        "title": "Write the workshop notes",
        "notes": "milk the examples for all they are worth",
        "done": False,
    },
]


# %%
@app.route("/index", methods="POST")
async def reindex(g):
    return {"indexed": await search.index("todos", TODOS)}


@app.route("/search")
async def find(g):
    open_only = g.request.query.get("open") == "1"
    found = await search.query(
        "todos", g.request.query.get("q", ""), filters={"done": False} if open_only else None
    )
    hits = [{"id": h.id, "title": h.fields["title"], "marked": h.highlights.get("title")} for h in found.hits]
    return {"total": found.total, "hits": hits}
