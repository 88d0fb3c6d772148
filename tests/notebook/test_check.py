"""`gk.check(app)`: a workshop's check cell says in plain words what is wrong, and never raises."""

from __future__ import annotations

from pathlib import Path

import pytest

import gingee_kernel as gk


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> gk.App:
    monkeypatch.chdir(tmp_path)
    app = gk.App("checked")

    @app.route("/todos/:id")
    async def one(g):
        return {"id": int(g.request.params["id"]), "title": "milk"}

    @app.route("/todos", methods=["POST"])
    async def add(g):
        g.response.send({"id": 7, **(g.request.body or {})}, status=201)

    @app.route("/boom")
    async def boom(g):
        raise RuntimeError("oops")

    return app


def test_a_solved_exercise_passes(app: gk.App) -> None:
    result = gk.check(app).route("GET", "/todos/1", json_has={"id": 1})
    result.route("POST", "/todos", json={"title": "tea"}, status=201, json_has={"title": "tea"})
    assert result.ok and result.problems == []
    assert result.summary().endswith("Well done: this exercise is solved.")
    assert "✓ POST /todos answered 201 as expected" in result._repr_html_()


@pytest.mark.parametrize(
    ("call", "said"),
    [
        (dict(method="GET", path="/todos/1", json_has={"id": 2}), "expected 'id' to be 2, got 1"),
        (
            dict(method="GET", path="/todos/1", json_has={"done": False}),
            "the JSON has no key 'done' (its keys",
        ),
        (dict(method="GET", path="/todo/1"), "expected status 200, got 404 (FILE_NOT_FOUND"),
        (dict(method="DELETE", path="/todos/1"), "got 405 (METHOD_NOT_ALLOWED"),
        (dict(method="GET", path="/boom"), "got 500 (INTERNAL_SERVER_ERROR"),
        (dict(method="GET", path="/todos/1", json_equals={"id": 1}), 'expected the JSON {"id": 1}, got'),
        (dict(method="GET", path="/todos/1", text_has="tea"), "expected the body to contain 'tea'"),
        (dict(method="GET", path="/todos/1", header={"X-Kind": "todo"}), "expected the header X-Kind: todo"),
        (dict(method="GET", path="/todos/1", nonsense=1), "could not be called: TypeError"),
    ],
)
def test_what_is_wrong_is_said_and_nothing_raises(app: gk.App, call: dict, said: str) -> None:
    result = gk.check(app).route(call.pop("method"), call.pop("path"), **call)
    assert not result.ok
    assert said in result.summary(), result.summary()
    assert "Not yet: fix what is marked ✗" in result.summary()


def test_the_hint_names_what_to_do(app: gk.App) -> None:
    assert "did you run its cell?" in gk.check(app).route("GET", "/todo/1").summary()
    assert "methods=[...]" in gk.check(app).route("PUT", "/todos/1").summary()
