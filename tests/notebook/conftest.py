"""Run notebook-like modules (`# %%` cells) live in a temp folder, build .ipynb files, compare answers."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import nbformat
import pytest

from gingee_kernel.notebook import App
from gingee_kernel.notebook.source import split_percent

HERE = Path(__file__).parent
_counter = itertools.count()

#: (method, path, JSON body): the recorded requests both the live and the exported app answer.
REQUESTS: list[tuple[str, str, Any]] = [
    ("GET", "/hello/ann", None),
    ("GET", "/greet", None),
    ("GET", "/greet/bob", None),
    ("GET", "/files/a/b/c.txt", None),
    ("GET", "/letters?page=2", None),
    ("GET", "/letters?page=9", None),
    ("POST", "/echo", {"x": [1, 2], "y": "é"}),
    ("PUT", "/echo", {"y": None}),
    ("DELETE", "/echo", None),
    ("DELETE", "/noop", None),
    ("GET", "/todos", None),
    ("POST", "/todos", {"title": "write"}),
    ("POST", "/todos", {"title": "ship", "status": "done"}),
    ("POST", "/todos", {"nope": 1}),
    ("GET", "/todos", None),
    ("GET", "/todos/2", None),
    ("GET", "/todos/99", None),
    ("GET", "/nothing/here", None),
]

Answer = tuple[int, str, Any]


def body_of(content_type: str, raw: bytes) -> Any:
    """JSON bodies parsed, others as text."""
    import json

    return json.loads(raw) if "json" in content_type else raw.decode()


def live_answers(app: App, requests: list[tuple[str, str, Any]] = REQUESTS) -> list[Answer]:
    """What the live app answers, in-process."""
    answers = []
    for method, path, payload in requests:
        reply = app.request(method, path, json=payload)
        answers.append((reply.status, reply.content_type, body_of(reply.content_type, reply.body)))
    return answers


def http_answers(base: str, requests: list[tuple[str, str, Any]] = REQUESTS) -> list[Answer]:
    """What a served app answers over HTTP at `base` (`http://127.0.0.1:port/<app>`)."""
    answers = []
    with httpx.Client(timeout=30) as client:
        for method, path, payload in requests:
            response = client.request(method, base + path, json=payload)
            kind = response.headers.get("content-type", "")
            answers.append((response.status_code, kind, body_of(kind, response.content)))
    return answers


@pytest.fixture
def run_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ModuleType]]:
    """Factory: run a notebook-like module from tests/notebook (or any path) in `tmp_path/<folder>`."""
    names: list[str] = []

    def factory(source: str | Path, folder: str = "live") -> ModuleType:
        path = Path(source) if Path(source).is_absolute() else HERE / source
        cwd = tmp_path / folder
        cwd.mkdir(parents=True, exist_ok=True)
        monkeypatch.chdir(cwd)
        name = f"gingee_nb_{path.stem}_{next(_counter)}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        names.append(name)
        spec.loader.exec_module(module)
        return module

    yield factory
    for name in names:
        module = sys.modules.pop(name, None)
        for value in vars(module or ModuleType("x")).values():
            if isinstance(value, App):
                value.stop()


def write_notebook(path: Path, cells: list[str]) -> Path:
    """An .ipynb file whose code cells hold `cells` (a `## text` cell becomes markdown)."""
    nb = nbformat.v4.new_notebook()
    for source in cells:
        if source.startswith("## "):
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(source))
    nbformat.write(nb, path)
    return path


def percent_cells(name: str) -> list[str]:
    """The cells of a `# %%` module in tests/notebook, as cell sources."""
    cells = split_percent((HERE / name).read_text(), name)
    return [c.source.removeprefix("# %%\n") for c in cells]
