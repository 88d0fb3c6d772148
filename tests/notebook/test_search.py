"""Search from a notebook: `app.use("search", ...)` names indexes like `db`, routes index and search the
todo list live, a cell searches with `app.call`, and the exported app answers the same under
`gingee serve`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from gingee_kernel import search
from gingee_kernel.errors import PermissionDenied
from gingee_kernel.notebook import App, AppConfigError
from gingee_kernel.notebook.export import export_app, export_notebook

from .conftest import percent_cells, write_notebook


@pytest.fixture
def app() -> Iterator[App]:
    made = App("searchcheck")
    yield made
    made.stop()


def test_use_search_adds_or_replaces_indexes_by_name(app: App) -> None:
    app.use("search", name="notes", fields={"body": {}})
    app.use("search", name="todos", fields={"title": {"weight": 2}})
    app.use("search", name="notes", fields={"body": {}}, filters=["lang"])
    assert app.config["search"] == [
        {"name": "todos", "fields": {"title": {"weight": 2}}},
        {"name": "notes", "fields": {"body": {}}, "filters": ["lang"]},
    ]
    with pytest.raises(AppConfigError, match=r"app.use\('search'\): at /search/2/driver"):
        app.use("search", name="x", fields={"body": {}}, driver="lucene")
    assert [index["name"] for index in app.config["search"]] == ["todos", "notes"]
    assert "search" in app.permissions


def test_a_live_route_indexes_and_searches_the_todos(run_notebook: Callable[..., ModuleType]) -> None:
    nb = run_notebook("nb_search.py")
    app = nb.app
    try:
        assert app.request("POST", "/index").json() == {"indexed": 3}
        found = app.request("GET", "/search", query={"q": "milk"}).json()
        assert found["total"] == 2 and [h["id"] for h in found["hits"]] == ["1", "3"]  # title before notes
        assert found["hits"][0]["marked"] == "Buy oat <mark>milk</mark>"
        assert app.request("GET", "/search", query={"q": "zurich"}).json()["hits"][0]["id"] == "2"
        assert app.request("GET", "/search", query={"q": "train", "open": "1"}).json()["total"] == 0
        # From a cell: the same module call, as the app.
        hits = app.call(search.query, "todos", "cafe")
        assert [h.id for h in hits.hits] == ["1"]
        assert app.call(search.count, "todos") == 3
    finally:
        app.stop()


def test_a_cell_call_keeps_the_app_s_grants(app: App) -> None:
    with pytest.raises(PermissionDenied, match="not granted the 'search' permission"):
        app.call(search.count, "todos")


@pytest.mark.parametrize("source", ["live", "ipynb"])
def test_the_exported_app_searches_under_gingee_serve(
    source: str, run_notebook: Callable[..., ModuleType], serve: Callable[..., object], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    if source == "live":
        nb = run_notebook("nb_search.py")
        folder = export_app(nb.app, project / "web")
        nb.app.stop()
    else:
        notebook = write_notebook(tmp_path / "search.ipynb", percent_cells("nb_search.py"))
        (folder,) = export_notebook(notebook, project / "web")
    app_json = json.loads((folder / "box" / "app.json").read_text())
    assert app_json["search"] == [
        {"name": "todos", "fields": {"title": {"weight": 2}, "notes": {}}, "filters": ["done"]}
    ]
    pmft = json.loads((folder / "box" / "pmft.json").read_text())
    assert "search" in pmft["permissions"]["mandatory"]
    server = serve(project)
    with httpx.Client() as client:
        indexed = client.post(server.url("/todos/index"))  # type: ignore[attr-defined]
        assert indexed.status_code == 200, indexed.text
        found = client.get(server.url("/todos/search"), params={"q": "milk", "open": "1"})  # type: ignore[attr-defined]
        assert found.status_code == 200, found.text
        assert [h["id"] for h in found.json()["hits"]] == ["1", "3"]
