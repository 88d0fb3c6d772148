"""Projects whose apps run in worker processes (gingee.json `isolation`)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.servers import RunningServer
from tests.modules.ws.conftest import ws  # noqa: F401  (the websocket client fixture, for test_websockets)

Files = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]


def app_files(name: str, scripts: dict[str, str], **app_json: Any) -> Files:
    """The files of app `name`: its app.json and box scripts (`{"hello.py": "..."}`)."""
    files: Files = {f"web/{name}/box/app.json": {"name": name, **app_json}}
    for rel, text in scripts.items():
        files[f"web/{name}/box/{rel}"] = text
    return files


@pytest.fixture
def isolated(
    make_project: Callable[..., Path], serve: Callable[..., RunningServer]
) -> Callable[..., RunningServer]:
    """Factory: `isolated(files, isolation={...}, dev=False, **gingee_json)` serves a project whose
    gingee.json has that `isolation` section (every app isolated by default)."""

    def factory(files: Files, *, isolation: dict[str, Any] | None = None, dev: bool = False, **config: Any):
        gingee = {"isolation": isolation or {"mode": "process"}, **config}
        project = make_project({"gingee.json": gingee, **files})
        return serve(project, dev=dev)

    return factory


def _open_for_traversal(path: Path, opened: list[tuple[Path, int]]) -> None:
    """Let other users pass through (not list) every folder above `path` (o+x), remembering the modes."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode & 0o7777
        if not mode & 0o001:
            opened.append((folder, mode))
            folder.chmod(mode | 0o001)


@pytest.fixture(scope="session")
def worker_user() -> Iterator[str]:
    """A Unix user for `isolation.user` (nobody), with this Python reachable by it.

    Switching users needs root; CI runs as root. The interpreter must be readable by the worker's user,
    as it is where Python lives in /usr or /opt; on this machine it lives under /root (mode 0700), so the
    folders above it are opened for traversal (o+x: pass through, not list) for the session and restored."""
    if os.geteuid() != 0:
        pytest.skip("switching the worker's user needs the tests to run as root")
    opened: list[tuple[Path, int]] = []
    for path in {Path(sys.executable).resolve().parent, Path(sys.prefix).resolve(), ROOT}:
        _open_for_traversal(path, opened)
    try:
        yield "nobody"
    finally:
        for folder, mode in reversed(opened):
            folder.chmod(mode)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A project folder that other users can reach (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="gingee-iso-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
