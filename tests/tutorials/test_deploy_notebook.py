"""notebooks/08-export-pack-deploy.ipynb: an app packed, deployed to a `gingee serve` the notebook starts,
upgraded with its data kept, rolled back, the audit log read, and the server stopped at the end; the
server's folder holds what it did, and the notebook's final export is served by `gingee serve`."""

from __future__ import annotations

import json
import re
import zipfile

import httpx
import pytest

from gingee_kernel.cli import main

from .workshop import plain


@pytest.fixture
def run(tutorial):
    return tutorial("08-export-pack-deploy")


def starting(run, prefix: str) -> str:
    """The output of the one code cell whose source starts with `prefix`."""
    (found,) = [plain(c) for c in run.code_cells() if c.source.startswith(prefix)]
    return found


def test_the_app_is_packed_deployed_upgraded_and_rolled_back(run) -> None:
    out = run.outputs_by_cell()
    packed = starting(run, 'folder = app.export("web")\npackage')
    assert "tasks-1.0.0.gin ['.gingee-package.json', 'box/app.json'" in packed
    assert "'includes_data': False" in packed and "'mandatory': ['db']" in packed
    with zipfile.ZipFile(run.workdir / "tasks-1.0.0.gin") as archive:
        assert not [n for n in archive.namelist() if "/data/" in n]  # the notebook's database stays out

    planned = out["plan = app.deploy(URL, dry_run=True)"]
    assert "plan: install 'tasks' (1.0.0)" in planned and "NOT granted" in planned
    installed = out["deployed = app.deploy(URL, grant_declared=True)"]
    assert "install 'tasks' (1.0.0)" in installed and "granted: db" in installed
    called = starting(run, 'print(httpx.post(f"{URL}/tasks/tasks"')
    assert "[{'id': 1, 'title': 'written on the server'}]" in called  # the server's own database
    assert "{'app': 'tasks', 'version': '1.0.0'}" in called

    upgraded = out['app.config["version"] = "1.1.0"']
    assert "upgrade 'tasks' (1.0.0 -> 1.1.0)" in upgraded and "box/data/tasks.db" in upgraded
    assert "backup: backups/tasks/tasks-1.0.0-" in upgraded
    counted = starting(run, 'print(httpx.get(f"{URL}/tasks/version").json())\ncount')
    assert "{'app': 'tasks', 'version': '1.1.0'}" in counted and "(200, {'count': 1})" in counted

    rolled = starting(run, "print(\n    [(b[")
    assert (
        "200 rollback 'tasks' (1.1.0 -> 1.0.0)" in rolled
        and "deleted        1  box/routes/count_tasks.py" in rolled
    )
    back = starting(run, 'print(httpx.get(f"{URL}/tasks/version").json())\nprint(')
    assert "'version': '1.0.0'" in back and "'written on the server'" in back and back.strip().endswith("404")
    audit = out['entries = httpx.get(f"{URL}/_gingee/api/audit", params={"app": "tasks"}).json()["entries"]']
    for action in (
        "('install', None, '1.0.0'",
        "('upgrade', '1.0.0', '1.1.0'",
        "('rollback', '1.1.0', '1.0.0'",
    ):
        assert action in audit


def test_the_server_left_its_records_and_is_stopped(run) -> None:
    out = run.outputs_by_cell()
    assert "gingee serve stopped, exit code 0" in out["server.terminate()"]
    url = re.search(r"serving on (http://127\.0\.0\.1:\d+)", out['SERVER_DIR = Path("deploy-server")'])
    assert url is not None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url.group(1)}/_gingee/api/apps", timeout=5)
    server = run.workdir / "deploy-server"
    assert json.loads((server / "web/tasks/box/app.json").read_text())["version"] == "1.0.0"
    assert not (server / "web/tasks/box/routes/count_tasks.py").exists()
    assert sorted(p.name.split("-")[1] for p in (server / "backups/tasks").glob("*.gin")) == [
        "1.0.0",
        "1.1.0",
    ]
    lines = [json.loads(line) for line in (server / "logs/audit.jsonl").read_text().splitlines()]
    assert [(e["action"], e["result"]) for e in lines if e.get("app") == "tasks"] == [
        ("install", "ok"),
        ("upgrade", "ok"),
        ("rollback", "ok"),
    ]


def test_gingee_serve_serves_the_notebooks_version_2(run, serve, client) -> None:
    assert main(["grant", str(run.workdir), "tasks", "db"]) == 0
    server = serve(run.workdir, dev=False)
    assert client.get(server.url("/tasks/version")).json() == {"app": "tasks", "version": "1.1.0"}
    assert client.get(server.url("/tasks/tasks")).json() == [{"id": 1, "title": "written in the notebook"}]
    assert client.get(server.url("/tasks/tasks/count")).json() == {"count": 1}
    added = client.post(server.url("/tasks/tasks"), json={"title": "served"})
    assert added.status_code == 201 and added.json() == {"id": 2, "title": "served"}
