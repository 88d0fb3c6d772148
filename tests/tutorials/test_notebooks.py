"""Every tutorial in notebooks/ runs clean from top to bottom in a real kernel (nbclient), and what the first
one exports is served by `gingee serve` with the answers the notebook showed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from gingee_kernel.cli import main

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def execute(source: Path, workdir: Path) -> nbformat.NotebookNode:
    shutil.copy(source, workdir / source.name)
    nb = nbformat.read(workdir / source.name, as_version=4)
    NotebookClient(
        nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": str(workdir)}}
    ).execute()
    return nb


def plain(cell: nbformat.NotebookNode) -> str:
    return "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in cell.outputs
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_tutorial_runs_clean(notebook: Path, tmp_path: Path) -> None:
    nb = execute(notebook, tmp_path)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []


def test_first_tutorial_exports_an_app_gingee_serve_answers(tmp_path: Path, serve, client) -> None:
    nb = execute(NOTEBOOKS[0], tmp_path)
    text = "\n".join(plain(c) for c in nb.cells if c.cell_type == "code")
    assert '"message": "Hello, Ada!"' in text
    assert "HTTP 422" in text and "INVALID_NOTE" in text
    assert "Gingee app 'greetings' is live at /gingee/greetings/" in text
    assert "box/routes.json" in text
    assert main(["grant", str(tmp_path), "greetings", "db"]) == 0
    server = serve(tmp_path, dev=False)
    assert client.get(server.url("/greetings/hello?name=Ada")).json() == {"message": "Hello, Ada!"}
    assert client.get(server.url("/greetings/greet/Grace/hi")).json() == {"message": "Hi, Grace!"}
    notes = client.get(server.url("/greetings/notes")).json()
    assert notes == [{"id": 1, "text": "Gingee runs in my notebook"}]  # the notebook's SQLite data, served
    bad = client.post(server.url("/greetings/notes"), json={"text": ""})
    assert bad.status_code == 422 and bad.json()["error"] == "INVALID_NOTE"
    assert json.loads((tmp_path / "web/greetings/box/pmft.json").read_text())["permissions"]["mandatory"] == [
        "db"
    ]
