"""Storage from a notebook: `app.use("storage", ...)` names stores like `db`, `@app.route(body="stream")`
is routes.json's `"body": "stream"`, and the exported app streams uploads past the buffered body limit."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from gingee_kernel.notebook import App, AppConfigError
from gingee_kernel.notebook.export import export_app, export_notebook

from .conftest import percent_cells, write_notebook

PICTURE = bytes(range(256)) * 1024  # 256 KB: four times the app's 64 KB max_body_size


def chunks(data: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for index in range(0, len(data), size):
        yield data[index : index + size]


@pytest.fixture
def app() -> Iterator[App]:
    made = App("storecheck")
    yield made
    made.stop()


def test_use_storage_adds_or_replaces_stores_by_name(app: App) -> None:
    app.use("storage", name="uploads", driver="local")
    app.use("storage", name="reports", driver="local", max_object_size="10mb")
    app.use("storage", name="uploads", driver="local", url_expires_s=60)
    assert app.config["storage"] == [
        {"name": "reports", "driver": "local", "max_object_size": "10mb"},
        {"name": "uploads", "driver": "local", "url_expires_s": 60},
    ]
    with pytest.raises(AppConfigError, match=r"app.use\('storage'\): at /storage/2/driver"):
        app.use("storage", name="ftp", driver="ftp")
    assert [store["name"] for store in app.config["storage"]] == ["reports", "uploads"]
    assert "storage" in app.permissions


def test_a_route_body_option_is_checked_in_the_defining_cell(app: App) -> None:
    with pytest.raises(AppConfigError, match='at /body: "buffer", "stream" or a JSON Schema, not \'chunks\''):
        app.route("/up", methods="PUT", body="chunks")


def test_a_live_streamed_route_stores_and_serves_the_upload(run_notebook: Callable[..., ModuleType]) -> None:
    app = run_notebook("nb_files.py").app
    put = app.request("PUT", "/up/cat.png", body=PICTURE, headers={"Content-Type": "image/png"})
    assert put.status == 200, put.text
    assert put.json() == {"key": "cat.png", "size": len(PICTURE), "etag": hashlib.md5(PICTURE).hexdigest()}
    got = app.request("GET", "/down/cat.png")
    assert got.status == 200 and got.body == PICTURE and got.content_type == "image/png"
    # Any request that is not to a streamed route keeps the buffered body limit.
    assert app.request("PUT", "/down/cat.png", body=PICTURE).status == 413


@pytest.mark.parametrize("source", ["live", "ipynb"])
def test_the_exported_app_streams_uploads_past_the_body_limit(
    source: str, run_notebook: Callable[..., ModuleType], serve: Callable[..., object], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    if source == "live":
        folder = export_app(run_notebook("nb_files.py").app, project / "web")
    else:
        notebook = write_notebook(tmp_path / "files.ipynb", percent_cells("nb_files.py"))
        (folder,) = export_notebook(notebook, project / "web")
    routes = json.loads((folder / "box" / "routes.json").read_text())["routes"]
    assert [(r["method"], r["path"], r.get("body")) for r in routes] == [
        ("PUT", "/up/:name", "stream"),
        ("GET", "/down/:name", None),
    ]
    app_json = json.loads((folder / "box" / "app.json").read_text())
    assert app_json["storage"] == [{"name": "uploads", "driver": "local"}]
    pmft = json.loads((folder / "box" / "pmft.json").read_text())
    assert "storage" in pmft["permissions"]["mandatory"]
    server = serve(project)
    with httpx.Client() as client:
        put = client.put(server.url("/files/up/cat.png"), content=chunks(PICTURE),  # type: ignore[attr-defined]
                         headers={"Content-Type": "image/png"})  # fmt: skip
        assert put.status_code == 200, put.text
        got = client.get(server.url("/files/down/cat.png"))  # type: ignore[attr-defined]
        assert got.content == PICTURE and got.headers["Content-Type"] == "image/png"
