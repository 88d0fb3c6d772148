"""What export refuses, and how it says so: the name, the function that needs it and the cell."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from gingee_kernel.notebook.export import ExportError, export_app, export_notebook

from .conftest import write_notebook

HEAD = "import gingee_kernel as gk\napp = gk.App('demo')"
DATA = "def load_rows():\n    return [{'id': 1}]\n\nrows = load_rows()"
ROUTE = "@app.route('/rows')\ndef get_rows(g):\n    return first(rows)"
HELPER = "def first(items):\n    return items[0]"


def _module(tmp_path: Path, cells: list[str]) -> Path:
    path = tmp_path / "nb_case.py"
    path.write_text("".join(f"# %%\n{textwrap.dedent(c)}\n\n" for c in cells))
    return path


def _both(tmp_path: Path, run_notebook: Callable[..., ModuleType], cells: list[str]) -> list[str]:
    """The ExportError messages of the static export and the live export of the same cells."""
    messages = []
    with pytest.raises(ExportError) as static:
        export_notebook(write_notebook(tmp_path / "case.ipynb", cells), tmp_path / "static")
    messages.append(str(static.value))
    module = run_notebook(_module(tmp_path, cells), "run")
    with pytest.raises(ExportError) as live:
        export_app(module.app, tmp_path / "live")
    messages.append(str(live.value))
    assert not (tmp_path / "static").exists() and not (tmp_path / "live").exists()
    return messages


def test_a_global_computed_at_runtime_names_the_name_the_function_and_the_cell(
    tmp_path: Path, run_notebook: Callable[..., ModuleType]
) -> None:
    static, live = _both(tmp_path, run_notebook, [HEAD, DATA, HELPER, ROUTE])
    assert static.startswith("`rows`, used by `get_rows` (cell 4), is computed at runtime in cell 2")
    assert live.startswith("`rows`, used by `get_rows` (nb_case.py cell 4), is computed at runtime in")
    assert "(`rows = load_rows()`)" in static and "compute the value inside the function" in static


def test_a_name_no_cell_defines_is_reported_through_the_helper_that_needs_it(
    tmp_path: Path, run_notebook: Callable[..., ModuleType]
) -> None:
    helper = "def first(items):\n    return items[0] if items else missing_default"
    route = "@app.route('/rows')\ndef get_rows(g):\n    return first([])"
    static, live = _both(tmp_path, run_notebook, [HEAD, helper, route])
    assert static == (
        "`missing_default`, used by `first` (cell 2, needed by route `get_rows`), is not defined by any "
        "cell; define or import it in a cell"
    )
    assert "`missing_default`, used by `first`" in live


def test_the_app_object_inside_a_route_points_to_g_app(
    tmp_path: Path, run_notebook: Callable[..., ModuleType]
) -> None:
    route = "@app.route('/name')\ndef name(g):\n    return {'name': app.name}"
    static, live = _both(tmp_path, run_notebook, [HEAD, route])
    assert "`app`, used by `name` (cell 2), is the notebook's App object (cell 1)" in static
    assert "use `g.app`" in live


def test_state_two_scripts_would_each_copy_is_refused(
    tmp_path: Path, run_notebook: Callable[..., ModuleType]
) -> None:
    state = "TODOS = []"
    add = "@app.route('/todos', methods=['POST'])\ndef add(g):\n    TODOS.append(g.request.body)"
    show = "@app.route('/todos')\ndef show(g):\n    return TODOS"
    static, live = _both(tmp_path, run_notebook, [HEAD, state, add, show])
    assert static.startswith(
        "`TODOS` (cell 2) is changed by `add` and read by box/routes/add.py, box/routes/show.py"
    )
    assert "keep this state in db or cache" in live


def test_a_route_named_handle_would_leak_through_file_routing(
    tmp_path: Path, run_notebook: Callable[..., ModuleType]
) -> None:
    route = "@app.route('/x')\ndef handle(g):\n    return {}"
    static, _ = _both(tmp_path, run_notebook, [HEAD, route])
    assert static == (
        "rename `handle` (cell 2): in box/routes/handle.py it would also answer /demo/routes/handle "
        "by file routing"
    )


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("app = gk.App('demo', description=describe())", "cell 1: App(...) needs literal arguments"),
        ("app = gk.App('demo')\napp.use('db', name='main', database=PATH)", "`PATH` is not one"),
        ("app = gk.App('demo')\napp.use('db', **OPTIONS)", "app.use(...) takes `**OPTIONS`"),
        ("app = gk.App('demo')\napp.use('db', name=1)", "cell 1: app.use('db'): "),
        ("app = gk.App('demo', limits={'max_body_size': 'lots'})", "cell 1: App('demo'): "),
        ("app = gk.App('demo')\n@app.route('/a/:')\ndef a(g): ...", "cell 1: @app.route on `a`: "),
    ],
)
def test_config_export_cannot_read_without_running_names_the_cell(
    tmp_path: Path, cell: str, expected: str
) -> None:
    notebook = write_notebook(tmp_path / "bad.ipynb", ["import gingee_kernel as gk\nPATH = make()\n" + cell])
    with pytest.raises(ExportError) as caught:
        export_notebook(notebook, tmp_path / "web")
    assert expected in str(caught.value)


def test_literal_constants_may_feed_the_config(tmp_path: Path) -> None:
    cells = [
        "import gingee_kernel as gk\nDB = 'data/x.db'",
        "app = gk.App('demo')\napp.use('db', name='m', database=DB)",
    ]
    (folder,) = export_notebook(write_notebook(tmp_path / "ok.ipynb", cells), tmp_path / "web")
    assert '"database": "data/x.db"' in (folder / "box" / "app.json").read_text()


def test_a_route_closing_over_locals_is_refused(tmp_path: Path) -> None:
    import gingee_kernel as gk

    app = gk.App("closure", root=tmp_path / "web" / "closure")
    prefix = "hi "

    @app.route("/x")
    def greet(g: object) -> str:
        return prefix

    with pytest.raises(ExportError, match=r"`greet` uses prefix from the function that defined it"):
        app.export(tmp_path / "out")


def test_a_cell_that_is_not_python_is_named(tmp_path: Path) -> None:
    notebook = write_notebook(
        tmp_path / "bad.ipynb", ["import gingee_kernel as gk", "def broken(:\n    pass"]
    )
    with pytest.raises(ExportError, match=r"^cell 2 is not valid Python \(line 1\): "):
        export_notebook(notebook, tmp_path / "web")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            "N = len([1, 2])\nLIMIT = N * 2",
            "`N`, used by `LIMIT` (cell 2, needed by route `limit`), is computed at",
        ),
        (
            "LIMIT = 1\nLIMIT = LIMIT + 1",
            "`LIMIT`, used by `limit` (cell 3), is computed at runtime in cell 2",
        ),
    ],
)
def test_constants_built_from_runtime_values_name_the_value(tmp_path: Path, data: str, expected: str) -> None:
    route = "@app.route('/limit')\ndef limit(g):\n    return {'limit': LIMIT}"
    with pytest.raises(ExportError) as caught:
        export_notebook(write_notebook(tmp_path / "case.ipynb", [HEAD, data, route]), tmp_path / "web")
    assert str(caught.value).startswith(expected)
