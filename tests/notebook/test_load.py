"""App.load: an exported (or hand-written) app folder back in a notebook, answering as before."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from gingee_kernel.notebook import App, AppConfigError, ExportError

from .conftest import http_answers, live_answers
from .test_export import _without_docstrings

EXAMPLES = Path(__file__).parents[2] / "examples" / "web"


def test_export_then_load_answers_the_same_and_exports_the_same(
    run_notebook: Callable[..., ModuleType], tmp_path: Path
) -> None:
    before = live_answers(run_notebook("nb_todo.py").app)
    folder = run_notebook("nb_todo.py", "second").app.export(tmp_path / "web")
    loaded = App.load(folder)
    try:
        assert App.latest is loaded and loaded.name == "todo" and loaded.root == folder.resolve()
        assert [(r.path, r.methods, r.key) for r in loaded.routes][-2:] == [
            ("/todos", ("GET", "POST"), "todos"),
            ("/todos/:id", ("GET",), "todo"),
        ]
        assert list(loaded.jobs) == ["cleanup"] and loaded.permissions >= {"db"}
        assert live_answers(loaded) == before
        again = loaded.export(tmp_path / "again")
        assert _without_docstrings(again) == _without_docstrings(folder)
    finally:
        loaded.stop()


def test_load_a_hand_written_app_with_startup_scripts_and_shared_handler_names(
    tmp_path: Path, serve: Callable[..., object]
) -> None:
    for project in ("served", "loaded"):
        shutil.copytree(
            EXAMPLES / "todo", tmp_path / project / "web" / "todo", ignore=shutil.ignore_patterns("data")
        )
    requests = [
        ("GET", "/todos", None),
        ("POST", "/todos", {"title": "one"}),
        ("POST", "/todos", {"title": ""}),
        ("PATCH", "/todos/1", {"done": True}),
        ("GET", "/todos/1", None),
        ("GET", "/todos?done=true", None),
        ("DELETE", "/todos/1", None),
        ("GET", "/todos/1", None),
        ("PUT", "/todos/1", None),
    ]
    server = serve(tmp_path / "served")
    expected = http_answers(server.url("/todo"), requests)  # type: ignore[attr-defined]
    loaded = App.load(tmp_path / "loaded" / "web" / "todo")
    try:
        assert sorted(r.key for r in loaded.routes) == ["delete", "get", "handle", "handle_2", "update"]
        assert live_answers(loaded, requests) == expected
        assert expected[1][0] == 201 and expected[7][0] == 404 and expected[8][0] == 405
    finally:
        loaded.stop()


def test_load_needs_an_app_folder(tmp_path: Path) -> None:
    with pytest.raises(AppConfigError, match=r"an app folder holding box/app\.json"):
        App.load(tmp_path)


def test_handlers_sharing_a_name_are_told_apart_and_export_asks_to_rename(tmp_path: Path) -> None:
    box = tmp_path / "web" / "pair" / "box"
    box.mkdir(parents=True)
    (box / "app.json").write_text('{"name": "pair"}')
    (box / "a.py").write_text("def get(g):\n    return {'from': 'a'}\n")
    (box / "b.py").write_text("async def get(g):\n    return {'from': 'b'}\n")
    routes = [
        {"path": "/a", "script": "a.py", "handler": "get"},
        {"path": "/b", "script": "b", "handler": "get"},
    ]
    (box / "routes.json").write_text(json.dumps({"routes": routes}))
    loaded = App.load(box.parent)
    try:
        assert [r.key for r in loaded.routes] == ["get", "get_2"]
        assert loaded.request("GET", "/a").json() == {"from": "a"}
        assert loaded.request("GET", "/b").json() == {"from": "b"}
        with pytest.raises(ExportError, match=r"two route functions are named `get` \(a\.py and b\.py\)"):
            loaded.export(tmp_path / "out")
    finally:
        loaded.stop()
