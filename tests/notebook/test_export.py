"""Export: the files it writes, and the round trip (exported app answers as the live one did)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from gingee_kernel import cli
from gingee_kernel.notebook import export
from gingee_kernel.notebook.export import MARKER, export_app, export_notebook

from .conftest import http_answers, live_answers, percent_cells, write_notebook

EXTRA_CELLS = [
    "## Try it",
    "%load_ext gingee_kernel",
    "app.serve()\napp.dashboard()",
    "%gingee GET /todos",
    "!ls\nlisting = !ls",
    "r = app.request('GET', '/greet')\nr.json()",
]


def _without_docstrings(folder: Path) -> dict[str, str]:
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".py", ".json"):
            lines = path.read_text().splitlines()
            files[str(path.relative_to(folder))] = "\n".join(x for x in lines if not x.startswith('"""'))
    return files


def test_export_writes_manifests_and_one_script_per_route(
    run_notebook: Callable[..., ModuleType], tmp_path: Path
) -> None:
    nb = run_notebook("nb_todo.py")
    folder = nb.app.export(tmp_path / "out")
    box = folder / "box"
    assert folder == tmp_path / "out" / "todo"
    mapping = {"cleanup": {"script": "jobs/cleanup.py", "function": "cleanup", "attempts": 3}}
    if export._queue_jobs_supported():
        assert json.loads((box / "app.json").read_text()) == nb.app.config | {"queue": {"jobs": mapping}}
    else:
        assert json.loads((box / "app.json").read_text()) == nb.app.config
    routes = json.loads((box / "routes.json").read_text())["routes"]
    assert [(r["method"], r["path"], r["script"], r["handler"]) for r in routes][:2] == [
        ("GET", "/hello/:name", "routes/hello.py", "hello"),
        ("GET", "/greet/:name?", "routes/greet.py", "greet"),
    ]
    assert [r["method"] for r in routes if r["path"] == "/echo"] == ["POST", "PUT"]
    pmft = json.loads((box / "pmft.json").read_text())
    mandatory = ["db", "queue"] if export._queue_jobs_supported() else ["db"]
    assert pmft == {"permissions": {"mandatory": mandatory, "optional": []}}
    todos = (box / "routes" / "todos.py").read_text()
    assert todos.startswith(MARKER)
    assert "from gingee_kernel import HttpError, db\n" in todos
    assert "import json" not in todos and "@app" not in todos and "app.request" not in todos
    assert "def as_todo(row):" in todos and "def status_name(done):" in todos
    assert (
        'STATUSES = {"open": 0, "done": 1}\nTABLE = "todo"\nSCHEMA = f"create table if not exists {TABLE}'
        in todos
    )
    assert "PAGE_SIZE" not in todos
    letters = (box / "routes" / "letters.py").read_text()
    assert "class Page:" in letters and "PAGE_SIZE = 2" in letters and "gingee_kernel" not in letters
    assert "import json\n" in (box / "routes" / "hello.py").read_text()
    job = (box / "jobs" / "cleanup.py").read_text()
    assert "async def cleanup(g):" in job and "async def ensure_schema():" in job
    compile(todos, "todos.py", "exec")


@pytest.mark.parametrize("source", ["live", "ipynb"])
def test_round_trip_exported_app_answers_like_the_live_one(
    source: str, run_notebook: Callable[..., ModuleType], serve: Callable[..., object], tmp_path: Path
) -> None:
    live = live_answers(run_notebook("nb_todo.py").app)
    project = tmp_path / "project"
    if source == "live":
        export_app(run_notebook("nb_todo.py", "second").app, project / "web")
    else:
        notebook = write_notebook(tmp_path / "todo.ipynb", percent_cells("nb_todo.py") + EXTRA_CELLS)
        assert cli.main(["export", str(notebook), "--out", str(project / "web")]) == 0
    server = serve(project)
    exported = http_answers(server.url("/todo"))  # type: ignore[attr-defined]
    assert exported == live
    assert live[11][:2] == (201, "application/json") and live[16][0] == 404 and live[8][0] == 405
    assert live[9] == (204, "", "")
    assert live[0] == (200, "text/plain", '{"hello": "ann"}')


def test_static_and_live_exports_are_the_same_files(
    run_notebook: Callable[..., ModuleType], tmp_path: Path
) -> None:
    notebook = write_notebook(tmp_path / "todo.ipynb", percent_cells("nb_todo.py") + EXTRA_CELLS)
    (static,) = export_notebook(notebook, tmp_path / "static")
    live = export_app(run_notebook("nb_todo.py").app, tmp_path / "live")
    assert _without_docstrings(static) == _without_docstrings(live)
    assert '"""GET /todos/:id: `todo` (cell 7)."""' in (static / "box/routes/todo.py").read_text()


def test_jobs_get_handle_when_app_json_cannot_map_them(
    run_notebook: Callable[..., ModuleType], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "_queue_jobs_supported", lambda: False)
    folder = export_app(run_notebook("nb_todo.py").app, tmp_path / "web")
    job = (folder / "box" / "jobs" / "cleanup.py").read_text()
    assert job.endswith(
        "JOB_OPTIONS = {'attempts': 3}\n\n\nasync def handle(g):\n    return await cleanup(g)\n"
    )
    assert "queue" not in json.loads((folder / "box" / "app.json").read_text())


def test_export_keeps_public_files_and_removes_only_stale_generated_scripts(
    run_notebook: Callable[..., ModuleType], tmp_path: Path
) -> None:
    folder = tmp_path / "web" / "todo"
    (folder / "box" / "routes").mkdir(parents=True)
    (folder / "index.html").write_text("<h1>todo</h1>")
    (folder / "box" / "routes" / "mine.py").write_text("def handle(g): ...\n")
    (folder / "box" / "routes" / "gone.py").write_text(MARKER + "\ndef gone(g): ...\n")
    (folder / "box" / "routes" / "todos.py").write_text(MARKER + "\nold\n")
    export_app(run_notebook("nb_todo.py").app, tmp_path / "web")
    assert (folder / "index.html").read_text() == "<h1>todo</h1>"
    assert (folder / "box" / "routes" / "mine.py").is_file()
    assert not (folder / "box" / "routes" / "gone.py").exists()
    assert "async def todos(g):" in (folder / "box" / "routes" / "todos.py").read_text()


def test_cli_export_reports_errors_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notebook = write_notebook(tmp_path / "empty.ipynb", ["x = 1"])
    assert cli.main(["export", str(notebook), "--out", str(tmp_path / "web")]) == 2
    assert "empty.ipynb defines no App(...)" in capsys.readouterr().err
    assert not (tmp_path / "web").exists()
