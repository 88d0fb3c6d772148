"""Projects whose apps run in worker processes (gingee.json `isolation`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.servers import RunningServer

Files = dict[str, Any]


def app_files(name: str, scripts: dict[str, str], **app_json: Any) -> Files:
    """The files of app `name`: its app.json and box scripts (`{"hello.py": "..."}`)."""
    files: Files = {f"web/{name}/box/app.json": {"name": name, **app_json}}
    for rel, text in scripts.items():
        files[f"web/{name}/box/{rel}"] = text
    return files


@pytest.fixture
def isolated(make_project: Callable[..., Path], serve: Callable[..., RunningServer]) -> Callable[..., RunningServer]:
    """Factory: `isolated(files, isolation={...}, dev=False, **gingee_json)` serves a project whose
    gingee.json has that `isolation` section (every app isolated by default)."""

    def factory(files: Files, *, isolation: dict[str, Any] | None = None, dev: bool = False, **config: Any):
        gingee = {"isolation": isolation or {"mode": "process"}, **config}
        project = make_project({"gingee.json": gingee, **files})
        return serve(project, dev=dev)

    return factory
