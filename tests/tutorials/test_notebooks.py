"""The workshop series in notebooks/: every notebook runs clean from top to bottom in a real kernel
(nbclient) with its exercises solved, and handed out as it is its check cells say what is missing without
crashing anything; what the notebooks export is served by `gingee serve` with the answers they showed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import nbformat
import pytest
from tornado.websocket import websocket_connect

from gingee_kernel.cli import main

from ..modules.ws.conftest import recv, shut
from .workshop import NOTEBOOKS, exercise_id, exercises, plain, solutions

WITH_EXERCISES = [p for p in NOTEBOOKS if exercises(nbformat.read(p, as_version=4))]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_each_notebook_runs_clean_with_its_exercises_solved(notebook: Path, tutorial) -> None:
    run = tutorial(notebook.stem)
    assert run.errors() == []
    for output in run.checks():
        assert "Well done: this exercise is solved." in output and "✗" not in output, output


@pytest.mark.parametrize("notebook", WITH_EXERCISES, ids=[p.stem for p in WITH_EXERCISES])
def test_exercises_left_as_handed_out_are_reported_not_crashed(notebook: Path, tutorial) -> None:
    run = tutorial(notebook.stem, solved=False)
    assert run.errors() == []  # the kernel and every later cell still ran
    checks = run.checks()
    assert len(checks) == len(exercises(run.nb))
    for output in checks:
        assert "✗" in output and "Not yet: fix what is marked ✗" in output, output


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_exercise_has_its_check_and_its_solution(notebook: Path) -> None:
    nb = nbformat.read(notebook, as_version=4)
    found = exercises(nb)
    assert len(found) == len(set(found)) and all(found), f"exercise ids must be unique and set: {found}"
    assert found, f"{notebook.name} has no exercise"
    assert sorted(solutions(notebook)) == sorted(found), "notebooks/solutions/ must solve exactly these"
    for i, cell in enumerate(nb.cells):
        if exercise_id(cell) is not None:
            after = nb.cells[i + 1]
            assert "check" in after.metadata.get("tags", []) and "gk.check(" in after.source, after.source


def test_first_tutorial_exports_an_app_gingee_serve_answers(tutorial, serve, client) -> None:
    run = tutorial("01-hello-gingee")
    nb, tmp_path = run.nb, run.workdir
    text = "\n".join(plain(c) for c in nb.cells if c.cell_type == "code")
    assert '"message": "Hello, Ada!"' in text
    assert "HTTP 422" in text and "INVALID_NOTE" in text
    assert "Gingee app 'greetings' is live at /gingee/greetings/" in text
    assert "box/routes.json" in text
    assert main(["grant", str(tmp_path), "greetings", "db"]) == 0
    server = serve(tmp_path, dev=False)
    assert client.get(server.url("/greetings/hello?name=Ada")).json() == {"message": "Hello, Ada!"}
    assert client.get(server.url("/greetings/greet/Grace/hi")).json() == {"message": "Hi, Grace!"}
    assert client.get(server.url("/greetings/bye/Ada")).json() == {"message": "Goodbye, Ada!"}  # exercise 1
    assert client.get(server.url("/greetings/notes/count")).json() == {"count": 1}  # exercise 2
    notes = client.get(server.url("/greetings/notes")).json()
    assert notes == [{"id": 1, "text": "Gingee runs in my notebook"}]  # the notebook's SQLite data, served
    bad = client.post(server.url("/greetings/notes"), json={"text": ""})
    assert bad.status_code == 422 and bad.json()["error"] == "INVALID_NOTE"
    assert json.loads((tmp_path / "web/greetings/box/pmft.json").read_text())["permissions"]["mandatory"] == [
        "db"
    ]


def test_jobs_tutorial_runs_its_jobs_and_gingee_serve_runs_the_exported_ones(tutorial, serve, client) -> None:
    run = tutorial("02-background-jobs")
    tmp_path, out = run.workdir, run.outputs_by_cell()
    placed = out['@app.route("/orders", methods=["POST"])']
    assert "HTTP 202" in placed and '"order": "green tea"' in placed
    receipt = out['@app.route("/jobs/:id")']
    assert '"status": "done"' in receipt and '"sent_to": "ada@example.com"' in receipt
    charged = out['@app.job("charge-card", attempts=3, backoff=0.5)']
    assert '"charged": 12.5' in charged and '"attempt": 2' in charged  # queue.Retry, then done
    dead = out['WAREHOUSE = {"open": False}']
    assert '"status": "dead"' in dead and "RuntimeError: the warehouse is closed" in dead
    assert '"job": "ship"' in out['app.request("GET", "/dead-jobs")']
    assert "Jobs of Gingee app" in out["jobs = app.jobs()"]
    retried = out["jobs.retry(shipment)  # what the Retry button does"]
    assert '"status": "done"' in retried and '"shipped": 7' in retried
    assert "Gingee app 'shop' is live at /gingee/shop/" in out["live = app.serve()"]
    assert "'box/jobs/send-receipt.py'" in out['folder = app.export("web")']
    assert "'box/jobs/gift-wrap.py'" in out['folder = app.export("web")']
    assert '"backoff_ms": 500' in out["import json"]

    assert main(["grant", str(tmp_path), "shop", "queue"]) == 0
    server = serve(tmp_path, dev=False)
    order = client.post(server.url("/shop/orders"), json={"item": "oolong", "email": "grace@example.com"})
    assert order.status_code == 202
    state = client.get(server.url(f"/shop/jobs/{order.json()['job']}?wait=1")).json()
    assert state["status"] == "done"
    assert state["result"] == {"sent_to": "grace@example.com", "subject": "Your order of oolong"}
    charge = client.post(server.url("/shop/checkout"), json={"amount": 3}).json()["job"]
    assert client.get(server.url(f"/shop/jobs/{charge}?wait=1")).json()["result"] == {
        "charged": 3,
        "attempt": 2,
    }
    # Exercise 1: one gift-wrap job per order, however often it is posted.
    gifts = [client.post(server.url("/shop/gifts"), json={"order": 7}) for _ in range(2)]
    assert [(r.status_code, r.json()) for r in gifts] == [(202, {"job": "gift-7"})] * 2
    assert client.get(server.url("/shop/jobs/gift-7?wait=1")).json()["result"] == {"wrapped": 7}
    shipment = client.post(server.url("/shop/ship"), json={"order": 1}).json()["job"]  # the warehouse is
    assert client.get(server.url(f"/shop/jobs/{shipment}?wait=1")).json()["status"] == "dead"  # closed there
    assert client.get(server.url("/shop/stats")).json()["dead"] == 1  # exercise 2
    dlq = client.get(server.url("/_gingee/api/queue/shop/dlq")).json()["dead"]
    assert [(d["id"], d["error"]) for d in dlq] == [(shipment, "RuntimeError: the warehouse is closed")]


def test_dashboard_tutorial_pushes_readings_and_gingee_serve_pushes_them_too(tutorial, serve) -> None:
    run = tutorial("03-live-websocket-dashboard")
    tmp_path, out = run.workdir, run.outputs_by_cell()
    assert "(200, 'text/html')" in out['PAGE = """<!doctype html>']
    assert "{'viewers': 1}" in out['watcher = app.connect("/ws")']
    pushed = out[
        'print(app.request("POST", "/readings", json={"sensor": "greenhouse", "celsius": 21.5}).json())'
    ]
    assert "{'sent': 1}" in pushed and "{'sensor': 'greenhouse', 'celsius': 21.5}" in pushed
    assert "Gingee app 'sensors' is live at /gingee/sensors/" in out["live = app.serve()"]
    assert "closed (1000)" in out["watcher.close()"]
    assert "'box/websockets/handler.py'" in out['folder = app.export("web")']
    assert '"handler": "websockets/handler.py"' in out['print((folder / "box" / "app.json").read_text())']

    assert main(["grant", str(tmp_path), "sensors", "websockets"]) == 0
    server = serve(tmp_path, dev=False)
    page = httpx.get(server.url("/sensors/"))
    assert (
        page.headers["content-type"].startswith("text/html")
        and 'new URL("ws", location.href)' in page.text
        and '<p id="alert">' in page.text
    )
    assert asyncio.run(_watch(f"127.0.0.1:{server.port}/sensors")) == [
        {"viewers": 1},
        {"sent": 1},
        {"sensor": "cellar", "celsius": 12},
        {"viewers": 1},  # exercise 1, GET /viewers
        {"sent": 1},  # exercise 2, POST /alerts, and the alert the page receives:
        {"alert": "Frost tonight"},
    ]


async def _watch(base: str) -> list[object]:
    """What a page in the room sees when a reading, then an alert, is posted to the exported app (with what
    the posts and GET /viewers answer in between)."""
    conn = await websocket_connect(f"ws://{base}/ws")
    try:
        seen = [await recv(conn)]
        async with httpx.AsyncClient(timeout=10) as client:
            reply = await client.post(f"http://{base}/readings", json={"sensor": "cellar", "celsius": 12})
            seen += [reply.json(), await recv(conn), (await client.get(f"http://{base}/viewers")).json()]
            alert = await client.post(f"http://{base}/alerts", json={"text": "Frost tonight"})
        return [*seen, alert.json(), await recv(conn)]
    finally:
        await shut(conn)
