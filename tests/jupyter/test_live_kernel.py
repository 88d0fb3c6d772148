"""The heart of the product, end to end: a real Jupyter server (base_url /user/test/), a real kernel run by
nbclient that defines routes and calls app.serve(), requests through the server's proxy, re-run cells,
a stopped kernel, and the exported app answering as the live one did."""

from __future__ import annotations

import json

import gingee_server  # noqa: F401  (installed with the project: a missing extension fails, never skips)
import httpx
import nbformat
import pytest
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from prometheus_client.parser import text_string_to_metric_families

CELLS = [
    "import gingee_kernel as gk\nfrom gingee_kernel import HttpError\n"
    "app = gk.App('livetest')\npub = gk.App('pubapp', public=True)\nsh = gk.App('shadow')",
    "@app.route('/hello')\nasync def hello(g):\n    return {'v': 1, 'name': g.request.query.get('name')}",
    "@app.route('/items/:id', methods=['GET', 'DELETE'])\nasync def item(g):\n"
    "    if g.request.params['id'] == '0':\n        raise HttpError(404, 'NO_ITEM', 'no item 0')\n"
    "    return {'id': int(g.request.params['id']), 'method': g.request.method}",
    "@pub.route('/open')\nasync def open_(g):\n"
    "    return {'auth': g.request.headers.get('Authorization'), 'cookie': g.request.headers.get('Cookie')}",
    "@sh.route('/who')\nasync def who(g):\n    return {'from': 'kernel'}",
    "print(app.serve())\nprint(pub.serve())\nprint(sh.serve())",
]

DISK = {
    "web/shadow/box/app.json": {"name": "shadow"},
    "web/shadow/box/who.py": "async def handle(g):\n    g.response.send({'from': 'disk'})\n",
}

RECORDED = [
    ("GET", "/hello?name=Ada"),
    ("GET", "/items/7"),
    ("DELETE", "/items/3"),
    ("GET", "/items/0"),
    ("POST", "/hello"),
    ("GET", "/missing"),
]


def outputs(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") + json.dumps(o.get("data", {})) for o in cell.get("outputs", []))


@pytest.fixture
def session(make_project, jupyter):
    root = make_project(DISK)
    server = jupyter(root)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in CELLS])
    client = NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(root)}}
    )
    with client.setup_kernel(env=server.kernel_env(), cwd=str(root)):
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        yield server, client, nb


def run(client: NotebookClient, nb: nbformat.NotebookNode, source: str) -> str:
    cell = nbformat.v4.new_code_cell(source)
    nb.cells.append(cell)
    client.execute_cell(cell, len(nb.cells) - 1)
    return outputs(cell)


def test_live_app_through_jupyter(session):
    server, client, nb = session
    printed = outputs(nb.cells[-1])
    assert f"{server.base_url}gingee/livetest/" in printed
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        reply = http.get(server.url("gingee/livetest/hello?name=Ada"), headers=server.auth)
        assert reply.status_code == 200 and reply.json() == {"v": 1, "name": "Ada"}

        with httpx.Client(timeout=10, follow_redirects=False) as anonymous:  # no login cookie
            assert anonymous.get(server.url("gingee/livetest/hello")).status_code in (302, 403)
            assert anonymous.delete(server.url("gingee/livetest/items/1")).status_code == 403
            assert anonymous.get(server.url("gingee/pubapp/open")).status_code == 200

        public = http.get(server.url("gingee/pubapp/open"), headers=server.auth)
        assert public.status_code == 200
        assert public.json() == {"auth": None, "cookie": None}  # Jupyter's credentials never reach the app

        assert http.get(server.url("gingee/shadow/who"), headers=server.auth).json() == {"from": "kernel"}
        apps = {a["name"]: a for a in http.get(server.url("gingee/api/apps"), headers=server.auth).json()}
        assert apps["shadow"]["source"] == "live" and apps["shadow"]["shadows_disk"] is True

        # The kernel's series reach Jupyter's /gingee/metrics, parsed by prometheus-client's own parser.
        scrape = http.get(server.url("gingee/metrics"), headers=server.auth)
        assert scrape.status_code == 200
        requests = {
            (s.labels["app"], s.labels["route"], s.labels["status_class"]): s.value
            for family in text_string_to_metric_families(scrape.text)
            for s in family.samples
            if s.name == "gingee_http_requests_total"
        }
        assert requests[("livetest", "/hello", "2xx")] >= 1
        assert requests[("shadow", "/who", "2xx")] >= 1

        # Re-running a cell replaces its route.
        run(client, nb, "@app.route('/hello')\nasync def hello(g):\n    return {'v': 2}")
        assert http.get(server.url("gingee/livetest/hello"), headers=server.auth).json() == {"v": 2}
        assert "1" in run(client, nb, "print(len([r for r in app.routes if r.path == '/hello']))")

        # The kernel stops: a clear JSON error, not a hang; the disk app comes back from under the shadow.
        run_sync(client.km.shutdown_kernel)(now=True)  # killed: no atexit, its registration stays behind
        gone = http.get(server.url("gingee/livetest/hello"), headers=server.auth)
        assert gone.status_code in (404, 502)
        assert "app.serve()" in gone.json()["reason"]
        assert http.get(server.url("gingee/shadow/who"), headers=server.auth).json() == {"from": "disk"}


def test_exported_app_answers_like_the_live_one(session):
    server, client, nb = session
    run(
        client,
        nb,
        "@app.route('/hello')\nasync def hello(g):\n    return {'v': 1, 'name': g.request.query.get('name')}",
    )
    with httpx.Client(timeout=10) as http:
        live = [http.request(m, server.url(f"gingee/livetest{p}"), headers=server.auth) for m, p in RECORDED]
        run(client, nb, "app.export('web')\napp.stop()")
        reload = http.post(server.url("gingee/api/apps/livetest/reload"), headers=server.auth)
        assert reload.status_code == 200
        exported = [
            http.request(m, server.url(f"gingee/livetest{p}"), headers=server.auth) for m, p in RECORDED
        ]
    for (method, path), a, b in zip(RECORDED, live, exported, strict=True):
        assert (a.status_code, a.headers.get("content-type"), a.json()) == (
            b.status_code,
            b.headers.get("content-type"),
            b.json(),
        ), f"{method} {path}"
