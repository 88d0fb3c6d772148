"""Notebook 04 (a REST API over SQLite): what it shows, and its export served by `gingee serve` answering the
same requests the same way, from the same SQLite file."""

from __future__ import annotations

import json

from gingee_kernel.cli import main

TODOS = [
    {"id": 1, "title": "Buy oat milk", "done": True},
    {"id": 2, "title": "Water the plants", "done": False},
    {"id": 3, "title": "Book the train to Zürich", "done": False},
    {"id": 4, "title": "Write the workshop notes", "done": False},
    {"id": 5, "title": "Call Ada", "done": True},
]


def body(shown: str) -> object:
    """The JSON body of a reply as a cell shows it: the status line and headers, a blank line, the body."""
    return json.loads(shown.split("\n\n", 1)[1])


def test_rest_api_tutorial_answers_each_request_and_gingee_serve_answers_the_same(
    tutorial, serve, client
) -> None:
    run = tutorial("04-a-rest-api")
    tmp_path, out = run.workdir, run.outputs_by_cell()
    [created] = [text for first, text in out.items() if first.startswith("for title in")]
    assert "HTTP 201" in created and "Location: http://notebook/todo-api/todos/5" in created
    assert body(created) == TODOS[4]
    untitled = out['app.request("POST", "/todos", json={"done": True})  # no title']
    assert "HTTP 422" in untitled and "'title' is a required property" in untitled
    [unknown] = [text for first, text in out.items() if first.endswith("# an unknown key")]
    assert "HTTP 422" in unknown and "('priority' was unexpected)" in unknown
    assert body(out['@app.route("/todos/:id")']) == TODOS[2]
    missing = out['app.request("GET", "/todos/42")  # there is no todo 42: a JSON 404']
    assert "HTTP 404" in missing and body(missing)["error"] == "TODO_NOT_FOUND"
    first_page = body(out["PAGE_SIZE = 10"])
    assert first_page["next"] == "/todos?limit=2&offset=2" and first_page["total"] == 5
    assert [t["id"] for t in body(out['app.request("GET", first.json()["next"])'])["items"]] == [3, 4]
    assert body(out['app.request("GET", "/todos", query={"limit": 0})  # not a page size: 400'])["error"] == (
        "BAD_PAGE"
    )
    assert body(out["CHANGES = {"]) == {**TODOS[0], "done": True}
    [refused] = [text for first, text in out.items() if first.startswith('app.request("PATCH", "/todos/1"')]
    assert body(refused)["pointer"] == "/done"
    everything = body(out['app.request("GET", "/todos")'])  # after the delete exercise's own todo went
    assert everything == {"items": TODOS, "total": 5, "limit": 10, "offset": 0, "next": None}
    paths = "{'/todos': ['get', 'post'], '/todos/{id}': ['delete', 'get', 'patch']}"
    assert out["spec = app.openapi()"].strip() == paths
    [schema] = [text for first, text in out.items() if first.startswith('spec["paths"]["/todos"]["post"]')]
    assert "'minLength': 1" in schema
    assert "Gingee app 'todo-api' is live at /gingee/todo-api/" in out["live = app.serve()"]
    assert "'box/routes/delete_todo.py'" in out['folder = app.export("web")']

    assert main(["grant", str(tmp_path), "todo-api", "db"]) == 0
    server = serve(tmp_path, dev=False)

    def url(path: str) -> str:
        return server.url(f"/todo-api{path}")

    # What the notebook left in its SQLite file is what the exported app lists, a page at a time.
    assert client.get(url("/todos")).json() == everything
    last = client.get(url("/todos"), params={"limit": 2, "offset": 4}).json()
    assert last == {"items": [TODOS[4]], "total": 5, "limit": 2, "offset": 4, "next": None}
    assert client.get(url("/todos?limit=0")).json()["error"] == "BAD_PAGE"
    assert client.get(url("/todos/3")).json() == TODOS[2]
    for absent in ("/todos/42", "/todos/abc"):
        reply = client.get(url(absent))
        assert reply.status_code == 404 and reply.json()["error"] == "TODO_NOT_FOUND", reply.text

    empty = client.post(url("/todos"), json={"title": ""})
    assert empty.status_code == 422 and empty.json()["pointer"] == "/title"
    made = client.post(url("/todos"), json={"title": "Served by gingee serve"})
    assert made.status_code == 201, made.text
    assert made.json() == {"id": 6, "title": "Served by gingee serve", "done": False}
    assert made.headers["location"] == url("/todos/6")
    assert client.patch(url("/todos/6"), json={"done": True}).json()["done"] is True
    assert client.patch(url("/todos/6"), json={}).status_code == 422  # minProperties: nothing to change
    gone = client.delete(url("/todos/6"))
    assert gone.status_code == 204 and gone.content == b""
    assert client.get(url("/todos/6")).status_code == 404
    assert client.delete(url("/todos/6")).json()["error"] == "TODO_NOT_FOUND"

    # The served OpenAPI document (the operator's: a loopback client) has the notebook's paths.
    spec = client.get(url("/_gingee/openapi.json")).json()
    assert str({path: sorted(ops) for path, ops in spec["paths"].items()}) == paths
    pmft = json.loads((tmp_path / "web/todo-api/box/pmft.json").read_text())
    assert pmft["permissions"]["mandatory"] == ["db"]
