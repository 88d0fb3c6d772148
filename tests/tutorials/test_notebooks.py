"""Every tutorial in notebooks/ runs clean from top to bottom in a real kernel (nbclient), and what the first
three export is served by `gingee serve` with the answers the notebooks showed (the second's jobs included,
the third's websocket pushes too)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import httpx
import nbformat
import pytest
from nbclient import NotebookClient
from tornado.websocket import websocket_connect

from gingee_kernel.cli import main

from ..modules.ws.conftest import recv, shut

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


def outputs_by_cell(nb: nbformat.NotebookNode) -> dict[str, str]:
    """Each code cell's plain-text outputs, by the cell's first line."""
    return {c.source.splitlines()[0]: plain(c) for c in nb.cells if c.cell_type == "code" and c.source}


def test_jobs_tutorial_runs_its_jobs_and_gingee_serve_runs_the_exported_ones(
    tmp_path: Path, serve, client
) -> None:
    (notebook,) = [p for p in NOTEBOOKS if p.name == "02-background-jobs.ipynb"]
    out = outputs_by_cell(execute(notebook, tmp_path))
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
    shipment = client.post(server.url("/shop/ship"), json={"order": 1}).json()["job"]  # the warehouse is
    assert client.get(server.url(f"/shop/jobs/{shipment}?wait=1")).json()["status"] == "dead"  # closed there
    dlq = client.get(server.url("/_gingee/api/queue/shop/dlq")).json()["dead"]
    assert [(d["id"], d["error"]) for d in dlq] == [(shipment, "RuntimeError: the warehouse is closed")]


def test_dashboard_tutorial_pushes_readings_and_gingee_serve_pushes_them_too(tmp_path: Path, serve) -> None:
    (notebook,) = [p for p in NOTEBOOKS if p.name == "03-live-websocket-dashboard.ipynb"]
    out = outputs_by_cell(execute(notebook, tmp_path))
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
        page.headers["content-type"].startswith("text/html") and 'new URL("ws", location.href)' in page.text
    )
    assert asyncio.run(_watch(f"127.0.0.1:{server.port}/sensors")) == [
        {"viewers": 1},
        {"sent": 1},
        {"sensor": "cellar", "celsius": 12},
    ]


async def _watch(base: str) -> list[object]:
    """What a page in the room sees when a reading is posted to the exported app."""
    conn = await websocket_connect(f"ws://{base}/ws")
    try:
        seen = [await recv(conn)]
        async with httpx.AsyncClient(timeout=10) as client:
            reply = await client.post(f"http://{base}/readings", json={"sensor": "cellar", "celsius": 12})
        return [*seen, reply.json(), await recv(conn)]
    finally:
        await shut(conn)


def test_files_tutorial_serves_its_upload_back_and_gingee_serve_keeps_the_store(
    tmp_path: Path, serve, client
) -> None:
    (notebook,) = [p for p in NOTEBOOKS if p.name == "04-files-and-images.ipynb"]
    nb = execute(notebook, tmp_path)
    out = outputs_by_cell(nb)
    shown = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})
    ]
    assert len(shown) == 1  # the picture came back through send_object and was displayed
    assert "HTTP 415" in out['text = {"Content-Type": "text/plain"}']
    assert (
        "(206, 'bytes 0-7/" in out['etag = back.headers["ETag"]']
        and ", 304)" in out['etag = back.headers["ETag"]']
    )
    assert "'box/routes/upload.py'" in out['folder = app.export("web")']
    routes = json.loads((tmp_path / "web/gallery/box/routes.json").read_text())["routes"]
    assert {"path": "/images/:name", "method": "PUT", "body": "stream"}.items() <= routes[0].items()

    assert main(["grant", str(tmp_path), "gallery", "storage"]) == 0
    server = serve(tmp_path, dev=False)
    # The notebook's upload is in the exported app's store, and a new one streams in and back.
    assert [i["key"] for i in client.get(server.url("/gallery/images")).json()] == ["gradient.png"]
    assert client.get(server.url("/gallery/images/gradient.png")).content.startswith(b"\x89PNG\r\n\x1a\n")
    picture = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
    put = client.put(
        server.url("/gallery/images/new.png"), content=picture, headers={"Content-Type": "image/png"}
    )
    assert put.status_code == 200, put.text
    assert client.get(server.url("/gallery/images/new.png")).content == picture


def test_search_tutorial_finds_its_todos_and_gingee_serve_answers_the_same(
    tmp_path: Path, serve, client
) -> None:
    (notebook,) = [p for p in NOTEBOOKS if p.name == "05-a-search-box.ipynb"]
    nb = execute(notebook, tmp_path)
    out = outputs_by_cell(nb)
    assert '"title": "Buy oat <mark>milk</mark>"' in out['@app.route("/search")']
    [either] = [text for first, text in out.items() if "'zurich OR" in first]
    assert "Book the <mark>Zürich</mark> train" in either and "Buy <mark>oat milk</mark>" in either
    assert "<mark>東京</mark>" in out['app.call(search.query, "todos", "東京")']
    # Todo 1 is done: the open-only search keeps it out.
    finished = out['@app.route("/todos/:id/done", methods=["POST"])']
    assert '"total": 1' in finished and '"id": "3"' in finished and '"id": "1"' not in finished
    assert "({'index': 'todos', 'indexed': 5}, 5)" in out["from gingee_kernel import queue"]
    app_json = json.loads((tmp_path / "web/todos/box/app.json").read_text())
    assert app_json["search"] == [
        {"name": "todos", "fields": {"title": {"weight": 3}, "notes": {}}, "filters": ["done"]}
    ]

    assert main(["grant", str(tmp_path), "todos", "db", "search", "queue"]) == 0
    server = serve(tmp_path, dev=False)
    # The notebook's index is in the exported app's SQLite file; a new todo is found at once.
    found = client.get(server.url("/todos/search"), params={"q": "zurich"}).json()
    assert [h["id"] for h in found["hits"]] == ["2"]
    added = client.post(server.url("/todos/todos"), json={"title": "Return the library books"})
    assert added.status_code == 201, added.text
    found = client.get(server.url("/todos/search"), params={"q": "librar*", "open": "1"}).json()
    assert [h["title"] for h in found["hits"]] == ["Return the library books"]
    assert client.get(server.url("/todos/search"), params={"cursor": "forged"}).status_code == 400


def test_logins_tutorial_logs_in_refuses_a_forgery_and_gingee_serve_guards_the_export(
    tmp_path: Path, serve, client, monkeypatch: pytest.MonkeyPatch
) -> None:
    (notebook,) = [p for p in NOTEBOOKS if p.name == "06-logins.ipynb"]
    by_first_line = outputs_by_cell(execute(notebook, tmp_path))

    def out(start: str) -> str:
        [text] = [text for first, text in by_first_line.items() if first.startswith(start)]
        return text

    # Logged out: an API call gets 401 and the login URL, a browser a redirect to it.
    refused = out('app.request("GET", "/members")')
    assert "HTTP 401" in refused and '"error": "LOGIN_REQUIRED"' in refused
    login = "http://notebook/club/_auth/login/practice?next=%2Fmembers"
    assert login in refused and login in out(
        'app.request("GET", "/members", headers={"Accept": "text/html"})'
    )
    # Logged in from cells: one call as Grace, then every call as Ada.
    assert '"welcome": "Grace Hopper"' in out('app.request("GET", "/members", user={"sub": "grace", "email"')
    assert '"user": "notebook:ada@example.org"' in out('app.login_as("ada@example.org")')
    assert out("app.login_as(None)").strip() == "401"
    # The real login, hop by hop: PKCE S256, state and nonce asked; the session set; the provider's user in.
    asked = out(
        'leave = keep_cookies(app.request("GET", "/_auth/login/practice", query={"next": "/members"}))'
    )
    assert "302 to http://127.0.0.1:" in asked and "with cookies ['gingee_session_login']" in asked
    assert "'code_challenge_method': 'S256'" in asked and "'nonce': '" in asked and "'state': '" in asked
    assert "'redirect_uri': 'http://notebook/club/_auth/callback/practice'" in asked
    assert "/_auth/callback/practice?code=" in out("back = httpx.get(authorize_url)")
    assert "302 to http://notebook/club/members with cookies ['gingee_session']" in out(
        'done = keep_cookies(app.request("GET", in_app(callback), headers=cookies()))'
    )
    assert '"welcome": "Ada Lovelace"' in out(
        'app.request("GET", in_app(done.headers["Location"]), headers=cookies())'
    )
    me = out('me = app.request("GET", "/_auth/me", headers=cookies()).json()["user"]')
    assert "'practice:ada'" in me and "'aud': 'workshop-club'" in me
    # The forged ID token: 401, the reason, no session then or after.
    forged = out('provider.sign_with = "other"')
    assert "HTTP 401" in forged and '"error": "ID_TOKEN_INVALID"' in forged
    assert "Set-Cookie: gingee_session=" not in forged
    assert out('print("cookies:", jar)') == "cookies: {}\n401"
    # The export: secrets as references, the protected route marked.
    box = tmp_path / "web/club/box"
    entry = json.loads((box / "app.json").read_text())["auth"]["providers"]["practice"]
    assert entry["type"] == "oidc" and entry["discovery_url"].startswith("http://127.0.0.1:")
    assert (entry["client_id"], entry["client_secret"]) == (
        "env:PRACTICE_CLIENT_ID",
        "env:PRACTICE_CLIENT_SECRET",
    )
    assert '"client_secret": "env:PRACTICE_CLIENT_SECRET"' in out('folder = app.export("web")')
    routes = {r["path"]: r for r in json.loads((box / "routes.json").read_text())["routes"]}
    assert routes["/members"]["login"] is True and "login" not in routes["/whoami"]
    assert '"login": true' in out('print((folder / "box" / "routes.json").read_text())')

    # gingee serve guards the exported route as the notebook did (the practice provider is gone with the
    # kernel: no login here, only the gate).
    monkeypatch.setenv("PRACTICE_CLIENT_ID", "workshop-club")
    monkeypatch.setenv("PRACTICE_CLIENT_SECRET", "practice-only-secret-do-not-reuse")
    server = serve(tmp_path, dev=False)
    assert client.get(server.url("/club/whoami")).json()["user"] is None
    denied = client.get(server.url("/club/members"))
    assert denied.status_code == 401 and denied.json()["error"] == "LOGIN_REQUIRED"
    page = client.get(server.url("/club/members"), headers={"Accept": "text/html"})
    assert page.status_code == 302
    assert page.headers["location"] == server.url("/club/_auth/login/practice?next=%2Fmembers")
