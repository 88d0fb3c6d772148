"""The sample project of the quick start: hello (file routes, static page, SSE), todo (REST on SQLite)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def server(tmp_path, serve):
    project = tmp_path / "examples"
    shutil.copytree(EXAMPLES, project, ignore=shutil.ignore_patterns("data", "__pycache__"))
    return serve(project, dev=False)  # the grants in examples/settings suffice without --dev


def test_hello_routes_and_page(server, client):
    assert client.get(server.url("/hello/hello")).json() == {"message": "Hello, world!"}
    assert client.post(server.url("/hello/greet"), json={"name": "Ada"}).json() == {
        "message": "Hello, Ada!",
        "method": "POST",
    }
    page = client.get(server.url("/hello/"))
    assert page.status_code == 200 and "<h1>Hello from Gingee</h1>" in page.text
    assert client.get(server.url("/")).headers["location"] == "hello/"


def test_hello_clock_streams_events(server, client):
    with client.stream("GET", server.url("/hello/clock")) as reply:
        first = next(reply.iter_lines())
    assert first == "event: tick"


def test_todo_rest_api(server, client):
    base = server.url("/todo/todos")
    assert client.get(base).json() == []
    created = client.post(base, json={"title": "  Buy milk "})
    assert created.status_code == 201
    todo = created.json()
    assert todo == {"id": todo["id"], "title": "Buy milk", "done": False}
    assert created.headers["location"] == f"todos/{todo['id']}"
    item = f"{base}/{todo['id']}"
    assert client.patch(item, json={"done": True}).json()["done"] is True
    assert client.get(f"{base}?done=true").json() == [{**todo, "done": True}]
    assert client.get(f"{base}?done=false").json() == []
    assert client.delete(item).status_code == 204
    assert client.get(item).status_code == 404
    assert client.delete(item).json()["error"] == "TODO_NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"title": "required"}),
        ({"title": ""}, {"title": "a non-empty string"}),
        ({"title": 5, "done": "yes"}, {"title": "a non-empty string", "done": "true or false"}),
        ({"title": "x", "colour": "red"}, {"colour": "unknown field"}),
        ({"title": "x" * 201}, {"title": "at most 200 characters"}),
    ],
)
def test_todo_validation_errors(server, client, body, fields):
    reply = client.post(server.url("/todo/todos"), json=body)
    assert reply.status_code == 422
    assert reply.json() == {"error": "VALIDATION_FAILED", "reason": "the todo is not valid", "fields": fields}


def test_todo_rejects_bad_json_wrong_method_and_big_bodies(server, client):
    base = server.url("/todo/todos")
    assert client.post(base, content=b"{", headers={"Content-Type": "application/json"}).status_code == 400
    assert client.put(base).status_code == 405
    assert client.post(base, json={"title": "x" * 70_000}).status_code == 413  # app limit: 64kb
    assert client.get(server.url("/todo/todos/abc")).status_code == 404


def test_todo_data_stays_in_the_box(server, client):
    client.post(server.url("/todo/todos"), json={"title": "persisted"})
    database = server.project.apps["todo"].box / "data" / "todo.db"
    assert database.is_file()
    assert client.get(server.url("/todo/box/data/todo.db")).status_code == 403
