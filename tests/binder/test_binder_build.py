"""The workshop on a Binder built here: the environment comes only from binder/ (conftest.py), JupyterLab
runs under `/user/attendee/`, each notebook runs solved through the server's sessions API and kernels
websocket (as JupyterLab runs it), and each app it serves is reached at `/user/attendee/gingee/<app>/`
over HTTP with the login cookie an attendee's browser holds. The build's size and the time from
`pip install` to the first served route are printed (`pytest -rA` shows them)."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nbformat
import pytest

from tests.fixtures.jupyter import JupyterServer
from tests.tutorials.workshop import NOTEBOOKS, exercises, solve

from .conftest import BASE_URL, BinderEnv, rss_bytes, start_lab
from .kernel_ws import CellRun, KernelChannel

FIRST = next(p for p in NOTEBOOKS if p.name.startswith("01-"))
APP_URL = re.compile(re.escape(BASE_URL) + r"gingee/([A-Za-z0-9_.-]+)/")
# Answers that come from the extension, not from the app: the app was not reached.
NOT_REACHED = ("APP_NOT_FOUND", "KERNEL_APP_UNAVAILABLE", "KERNEL_APP_TIMEOUT")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Reached:
    """A served app's answers through the base URL, and when the first one came."""

    app: str
    at: float = 0.0
    answers: dict[str, httpx.Response] = field(default_factory=dict)


@dataclass
class NotebookRun:
    """A notebook run through the kernels websocket: each code cell and what it produced."""

    cells: list[tuple[nbformat.NotebookNode, CellRun]]
    apps: dict[str, Reached]
    rss_bytes: int  # the server and its kernels, after the last cell

    def errors(self) -> list[str]:
        """Each error output, and each `ERROR:` line pip printed (a failed `%pip install` raises nothing)."""
        found = []
        for cell, run in self.cells:
            where = f"cell {cell.source.splitlines()[0] if cell.source else ''!r}"
            found += [f"{where}: {e['ename']}: {e['evalue']}" for e in run.errors()]
            printed = "".join(o["text"] for o in run.outputs if o["output_type"] == "stream")
            found += [
                f"{where}: {line}" for line in ANSI.sub("", printed).splitlines() if line.startswith("ERROR:")
            ]
        return found

    def checks(self) -> list[str]:
        return [run.text() for cell, run in self.cells if "check" in cell.metadata.get("tags", [])]


async def log_in(client: httpx.AsyncClient, server: JupyterServer) -> None:
    """Log `client` in as an attendee's browser is: the token once, then the login cookie only."""
    reply = await client.get(server.url(f"lab?token={server.token}"), follow_redirects=True)
    assert reply.status_code == 200 and client.cookies, f"the token did not log in: {reply.status_code}"


async def reach(client: httpx.AsyncClient, server: JupyterServer, app: str, paths: list[str]) -> Reached:
    """GET `paths`, then the app's OpenAPI document and each GET route without parameters it lists, under
    `{base_url}gingee/<app>/` with the cookie: every answer must come from the app, none may be a 5xx."""
    reached = Reached(app)

    async def get(path: str) -> httpx.Response:
        reply = await client.get(server.url(f"gingee/{app}/{path.lstrip('/')}"))
        assert reply.status_code != 302, f"{app}/{path}: sent to the login page, the cookie was not enough"
        assert not any(code in reply.text for code in NOT_REACHED), f"{app}/{path}: {reply.text}"
        assert reply.status_code < 500, f"{app}/{path}: {reply.status_code} {reply.text}"
        reached.at = reached.at or time.monotonic()
        reached.answers[path] = reply
        return reply

    for path in paths:
        await get(path)
    document = await get("_gingee/openapi.json")
    assert document.status_code == 200, f"{app}: openapi.json: {document.text}"
    for route, operations in document.json()["paths"].items():
        if "get" in operations and "{" not in route and route.lstrip("/") not in reached.answers:
            await get(route)
    metrics = await client.get(server.url("gingee/metrics"))  # the kernel's series, merged by the server
    assert metrics.status_code == 200 and f'app="{app}"' in metrics.text, (
        f"{app}: gingee/metrics {metrics.text}"
    )
    return reached


async def run_notebook(server: JupyterServer, notebook: Path, probes: dict[str, list[str]]) -> NotebookRun:
    """Run `notebook`, solved, in a kernel of `server` as JupyterLab would (a session, then one
    execute_request per code cell); right after a cell prints an app's URL, reach that app (`reach`, with
    `probes[app]` first)."""
    nb = solve(nbformat.read(notebook, as_version=4), notebook)
    session_model = {"path": f"notebooks/{notebook.name}", "type": "notebook", "kernel": {"name": "python3"}}
    async with (
        httpx.AsyncClient(headers=server.auth, timeout=60) as api,
        httpx.AsyncClient(timeout=60) as web,
    ):
        session = (await api.post(server.url("api/sessions"), json=session_model)).json()
        ws_url = server.url(f"api/kernels/{session['kernel']['id']}/channels").replace("http://", "ws://", 1)
        channel = await KernelChannel.open(ws_url, server.auth)
        await log_in(web, server)
        cells: list[tuple[nbformat.NotebookNode, CellRun]] = []
        apps: dict[str, Reached] = {}
        try:
            for cell in (c for c in nb.cells if c.cell_type == "code"):
                run = await channel.run(cell.source)
                cells.append((cell, run))
                if run.errors():  # as JupyterLab's Run All does
                    break
                for app in dict.fromkeys(APP_URL.findall(run.text())):
                    if app not in apps:
                        apps[app] = await reach(web, server, app, probes.get(app, []))
            rss = rss_bytes(server.proc.pid)
        finally:
            await channel.close()
            await api.delete(server.url(f"api/sessions/{session['id']}"))
    return NotebookRun(cells, apps, rss)


def mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


def test_first_notebook_on_a_binder_built_from_binder_folder(binder_env: BinderEnv, tmp_path: Path) -> None:
    started = time.monotonic()
    server = start_lab(binder_env, tmp_path)
    ready = time.monotonic()
    try:
        probes = {"greetings": ["hello?name=Attendee", "bye/Ada", "notes/count"]}
        run = asyncio.run(run_notebook(server, FIRST, probes))
    finally:
        server.stop()
    assert not run.errors(), run.errors()
    assert len(run.checks()) == len(exercises(nbformat.read(FIRST, as_version=4))), run.checks()
    assert all("Well done" in c for c in run.checks()), run.checks()
    assert "greetings" in run.apps, (
        f"no cell printed {BASE_URL}gingee/<app>/: {[c.text() for _, c in run.cells]}"
    )
    answers = run.apps["greetings"].answers
    assert answers["hello?name=Attendee"].json() == {"message": "Hello, Attendee!"}
    assert answers["bye/Ada"].json() == {"message": "Goodbye, Ada!"}
    assert answers["notes/count"].status_code == 200
    first_route = run.apps["greetings"].at
    report = (
        f"Binder-like build: venv {mb(binder_env.size_bytes)}, pip install {binder_env.pip_seconds:.1f} s; "
        f"jupyter lab ready in {ready - started:.1f} s; notebook 01 to its first served route "
        f"{first_route - ready:.1f} s; environment built to first route {first_route - started:.1f} s "
        f"(goal < 60 s); pip install start to first route "
        f"{binder_env.pip_seconds + first_route - started:.1f} s; "
        f"server and kernel memory {mb(run.rss_bytes)}"
    )
    print(report)
    assert first_route - started < 60, report


@pytest.fixture(scope="module")
def series_lab(binder_env: BinderEnv, tmp_path_factory: pytest.TempPathFactory):
    server = start_lab(binder_env, tmp_path_factory.mktemp("series"))
    yield server
    server.stop()


@pytest.mark.parametrize("notebook", [p for p in NOTEBOOKS if p != FIRST], ids=lambda p: p.stem)
def test_each_notebook_on_binder_serves_its_app_under_the_base_url(notebook: Path, series_lab) -> None:
    started = time.monotonic()
    run = asyncio.run(run_notebook(series_lab, notebook, {}))
    took = time.monotonic() - started
    assert not run.errors(), run.errors()
    assert len(run.checks()) == len(exercises(nbformat.read(notebook, as_version=4))), run.checks()
    assert all("Well done" in c for c in run.checks()), run.checks()
    if "app.serve()" in "".join(c.source for c in nbformat.read(notebook, as_version=4).cells):
        assert run.apps, f"{notebook.name} served no app under {BASE_URL}gingee/"
    print(f"{notebook.stem}: {took:.1f} s on Binder, apps {sorted(run.apps)}, memory {mb(run.rss_bytes)}")
