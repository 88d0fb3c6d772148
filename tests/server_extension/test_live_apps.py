"""Live apps: a registration in Jupyter's runtime dir pointing at a loopback server (a stand-in for a
kernel's `app.serve()`) is proxied under /user/test/gingee/<app>/, with Jupyter's auth, shadowing, streaming,
and a clear JSON answer (never a hang) once the kernel is gone."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from gingee_kernel import live
from tests.fixtures.jupyter import JupyterServer
from tests.server_extension.conftest import FakeKernel

FILES = {
    "gingee.json": {"max_body_size": "1kb"},
    "web/shadow/box/app.json": {"name": "shadow"},
    "web/shadow/box/who.py": "async def handle(g):\n    g.response.send({'from': 'disk'})\n",
}
SANDBOX = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"


@pytest.fixture
def register(server: JupyterServer) -> Iterator:
    """Factory: `register(app, fake, public=False, pid=...)` writes a registration; all removed after."""
    written: list[live.Registration] = []

    def factory(
        app: str, fake: FakeKernel, *, public: bool = False, pid: int | None = None
    ) -> live.Registration:
        registration = live.Registration(
            app=app,
            port=fake.port,
            pid=os.getpid() if pid is None else pid,
            secret=fake.secret,
            kernel_id="k-1",
            public=public,
        )
        live.write(registration, server.runtime_dir)
        written.append(registration)
        return registration

    yield factory
    for registration in written:
        live.remove(registration, server.runtime_dir)


def test_live_app_is_proxied_with_secret_and_prefix(server, http, fake_kernel, register):
    register("echo", fake_kernel)
    reply = http.get(
        server.url("gingee/echo/a/b?x=1&y=two%20words"),
        headers={**server.auth, "X-Gingee-Live-Secret": "forged", "X-Gingee-Prefix": "/evil/"},
    )
    assert reply.status_code == 200, reply.text  # the fake kernel answers 403 without the right secret
    body = reply.json()
    assert body["path"] == "/echo/a/b"
    assert body["query"] == "x=1&y=two%20words"
    assert body["prefix"] == "/user/test/gingee/echo/"
    assert body["forwarded_for"] == "127.0.0.1"
    assert reply.headers["x-custom"] == "kept"
    assert "keep-alive" not in reply.headers
    posted = http.post(server.url("gingee/echo/items"), headers=server.auth, content=b'{"n": 1}')
    assert posted.json()["method"] == "POST" and posted.json()["body"] == '{"n": 1}'
    head = http.head(server.url("gingee/echo/items"), headers=server.auth)
    assert head.status_code == 200 and head.headers["content-length"] == "42" and head.content == b""
    redirect = http.get(server.url("gingee/echo/redirect"), headers=server.auth)
    assert redirect.status_code == 302 and redirect.headers["location"] == "elsewhere"  # not followed
    too_big = http.post(server.url("gingee/echo/items"), headers=server.auth, content=b"x" * 2048)
    assert too_big.status_code == 413 and too_big.json()["error"] == "PAYLOAD_TOO_LARGE"


def test_live_app_needs_login_unless_public(server, http, fake_kernel, register):
    register("echo", fake_kernel)
    register("livepub", fake_kernel, public=True)
    assert http.get(server.url("gingee/echo/page.html")).status_code == 302
    assert http.post(server.url("gingee/echo/items"), content=b"{}").status_code == 403
    page = http.get(server.url("gingee/echo/page.html"), headers=server.auth)
    assert page.status_code == 200 and SANDBOX in page.headers.get_list("content-security-policy")
    forged = {"X-Gingee-Operator": "1"}
    assert http.get(server.url("gingee/echo/x"), headers={**server.auth, **forged}).json()["operator"] == "1"
    anonymous = httpx.get(
        server.url("gingee/livepub/x"), headers={**server.auth, "Cookie": "_xsrf=1; a=b", **forged}
    )
    assert anonymous.status_code == 200
    assert anonymous.json()["auth"] is None and anonymous.json()["cookie"] == "a=b"
    assert anonymous.json()["operator"] is None  # a public app's visitor is never the operator
    assert anonymous.headers["access-control-allow-origin"] == "*"
    public_page = httpx.get(server.url("gingee/livepub/page.html"))
    assert SANDBOX in public_page.headers.get_list("content-security-policy")


def test_live_app_shadows_the_disk_app(server, http, fake_kernel, register):
    assert http.get(server.url("gingee/shadow/who"), headers=server.auth).json() == {"from": "disk"}
    registration = register("shadow", fake_kernel)
    assert http.get(server.url("gingee/shadow/who"), headers=server.auth).json()["path"] == "/shadow/who"
    apps = {a["name"]: a for a in http.get(server.url("gingee/api/apps"), headers=server.auth).json()}
    assert apps["shadow"]["source"] == "live" and apps["shadow"]["shadows_disk"] is True
    assert apps["shadow"]["disk"]["status"] == "serving"
    assert apps["shadow"]["kernel_id"] == "k-1" and "secret" not in apps["shadow"]
    conflict = http.post(server.url("gingee/api/apps/shadow/reload"), headers=server.auth)
    assert conflict.status_code == 200  # the disk app under the shadow reloads
    live.remove(registration, server.runtime_dir)
    assert http.get(server.url("gingee/shadow/who"), headers=server.auth).json() == {"from": "disk"}


def test_reload_of_a_live_only_app_is_refused(server, http, fake_kernel, register):
    register("echo", fake_kernel)
    reply = http.post(server.url("gingee/api/apps/echo/reload"), headers=server.auth)
    assert reply.status_code == 409 and "app.serve()" in reply.json()["reason"]


def test_server_sent_events_flow_through(server, http, fake_kernel, register):
    register("echo", fake_kernel)
    with http.stream("GET", server.url("gingee/echo/events"), headers=server.auth) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        events = (line for line in reply.iter_lines() if line.startswith("data:"))
        # The kernel holds the stream open until it is released: the first event must arrive before that.
        assert next(events) == "data: one"
        fake_kernel.release.set()
        assert next(events) == "data: two"


def test_stopped_kernel_gives_502_then_404(server, http, register):
    fake = FakeKernel().start()
    registration = register("gone", fake)
    assert http.get(server.url("gingee/gone/x"), headers=server.auth).status_code == 200
    fake.stop()
    reply = http.get(server.url("gingee/gone/x"), headers=server.auth)
    assert reply.status_code == 502
    assert reply.json()["error"] == "KERNEL_APP_UNAVAILABLE" and "app.serve()" in reply.json()["reason"]
    assert not (server.runtime_dir / registration.filename).exists()
    after = http.get(server.url("gingee/gone/x"), headers=server.auth)
    assert after.status_code == 404
    assert after.json()["error"] == "APP_NOT_FOUND" and "app.serve()" in after.json()["reason"]


def test_dead_kernel_process_is_never_proxied(server, http, fake_kernel, register):
    kernel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    registration = register("dying", fake_kernel, pid=kernel.pid)
    assert http.get(server.url("gingee/dying/x"), headers=server.auth).status_code == 200
    kernel.kill()
    kernel.wait()
    reply = http.get(server.url("gingee/dying/x"), headers=server.auth)
    # 502 if the server still knew the registration, 404 if it re-read the runtime dir first.
    assert reply.status_code in (502, 404)
    assert "app.serve()" in reply.json()["reason"]
    assert not (server.runtime_dir / registration.filename).exists()
    assert http.get(server.url("gingee/dying/x"), headers=server.auth).status_code == 404
