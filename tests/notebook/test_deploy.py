"""app.pack() and app.deploy(): the notebook app on a real `gingee serve` subprocess, answering as the
live app did (the export round trip, extended to the deployed copy), then upgraded with its data kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from gingee_kernel.lifecycle.client import DeployError
from gingee_kernel.lifecycle.package import Package

from ..fixtures.jupyter import free_port
from .conftest import http_answers, live_answers

TOKEN = "deploy-test-token-0123456789"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """An empty project served by `gingee serve` in a subprocess, with an admin token from the env."""
    project = tmp_path / "server"
    (project / "web").mkdir(parents=True)
    (project / "gingee.json").write_text(json.dumps({"admin": {"token": "env:GINGEE_DEPLOY_TEST_TOKEN"}}))
    port = free_port()
    command = [sys.executable, "-m", "gingee_kernel.cli", "serve", str(project), "--host", "127.0.0.1"]
    proc = subprocess.Popen(
        [*command, "--port", str(port)],
        env={**_env(), "GINGEE_DEPLOY_TEST_TOKEN": TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{url}/_gingee/api/apps", timeout=1, headers={"Authorization": f"Bearer {TOKEN}"})
                break
            except httpx.HTTPError:
                if proc.poll() is not None:
                    raise AssertionError(proc.communicate()[0]) from None
                time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GINGEE_ADMIN")}


def test_pack_needs_a_version_and_writes_the_exported_app(
    run_notebook: Callable[..., ModuleType], tmp_path: Path
) -> None:
    app = run_notebook("nb_todo.py").app
    with pytest.raises(ValueError, match=r'App\("todo", version="1.0.0"\)'):
        app.pack(tmp_path / "x.gin")
    app.config["version"] = "1.0.0"
    path = app.pack()
    assert path.name == "todo-1.0.0.gin" and path.parent == Path.cwd()
    with Package.open(path) as package:
        assert package.name == "todo" and package.version == "1.0.0"
        assert {"box/app.json", "box/routes.json", "box/routes/todos.py"} <= set(package.files)
        assert package.declared == {"db", "queue"} or package.declared == {"db"}


def test_deploy_serves_what_the_live_app_answered_and_upgrades_keep_its_data(
    run_notebook: Callable[..., ModuleType], server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    live = live_answers(run_notebook("nb_todo.py").app)
    app = run_notebook("nb_todo.py", "second").app
    app.config["version"] = "1.0.0"

    with pytest.raises(DeployError, match="403"):
        app.deploy(server, token="wrong-token-wrong-token")
    plan = app.deploy(server, token=TOKEN, dry_run=True, grant_declared=True)
    assert plan.action == "install" and plan.plan["dry_run"] is True
    assert "plan: install 'todo'" in capsys.readouterr().out
    assert httpx.get(f"{server}/todo/todos", timeout=5).status_code == 404  # a dry run changes nothing

    done = app.deploy(server, token=TOKEN, grant_declared=True)
    assert done.action == "install" and done.status == 201 and done.url == f"{server}/todo/"
    assert "db" in done.plan["permissions"]["granted"]
    assert http_answers(f"{server}/todo") == live

    app.config["version"] = "1.1.0"
    upgraded = app.deploy(server, token=TOKEN)
    assert upgraded.action == "upgrade" and upgraded.plan["from_version"] == "1.0.0"
    assert any(path.startswith("box/data/") for path in upgraded.plan["preserved"])
    todos = httpx.get(f"{server}/todo/todos", timeout=5).json()
    assert [t["title"] for t in todos] == ["write", "ship"]  # the todos the first run added

    with pytest.raises(DeployError, match="not newer"):
        app.deploy(server, token=TOKEN)
