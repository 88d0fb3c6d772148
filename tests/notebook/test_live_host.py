"""The kernel's live host on its own: the port answers only the Jupyter server (HTTP and websockets),
notebook apps are never replaced by an on-disk app of the same name, loaded apps keep their
default_include middleware and secrets, and the printed URL finds the server's base_url."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import tornado.websocket
from tornado.httpclient import HTTPRequest

from gingee_kernel import live
from gingee_kernel.notebook import App
from gingee_kernel.notebook.host import LiveHost
from gingee_kernel.notebook.runtime import install
from gingee_kernel.notebook.serving import base_url, server_info

from ..modules.ws.conftest import refused, shut

WS_APP = {
    "web/echo/box/app.json": {
        "name": "echo",
        "default_include": ["stamp.py"],
        "env": {"WORD": "env:GINGEE_TEST_LIVE_WORD"},
        "websockets": {"path": "/ws", "handler": "ws.py"},
    },
    "web/echo/box/pmft.json": {"permissions": {"mandatory": ["websockets"]}},
    "web/echo/box/stamp.py": "async def handle(g):\n    g.response.headers['X-Stamp'] = 'included'\n",
    "web/echo/box/word.py": "async def handle(g):\n    return {'word': g.app.env['WORD']}\n",
    "web/echo/box/ws.py": (
        "async def handle(socket, ctx):\n"
        "    async def echo(message):\n"
        "        await socket.send({'echo': message})\n"
        "    socket.on_message(echo)\n"
    ),
    "web/shadow/box/app.json": {"name": "shadow"},
    "web/shadow/box/who.py": "async def handle(g):\n    g.response.send({'from': 'disk'})\n",
}


@pytest.fixture
def host(make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveHost]:
    """A live host on a project that also holds on-disk apps."""
    monkeypatch.setenv("GINGEE_TEST_LIVE_WORD", "swordfish")
    root = make_project(WS_APP)
    monkeypatch.chdir(root)
    started = LiveHost(root)
    yield started
    started.close()


def secret(host: LiveHost) -> dict[str, str]:
    return {live.SECRET_HEADER: host.secret}


async def test_the_port_answers_only_the_jupyter_server(host: LiveHost) -> None:
    echo = App.load(host.dir / "web" / "echo")
    host.call(install(host, echo))
    port = host.listen()
    base = f"http://127.0.0.1:{port}/echo"
    async with httpx.AsyncClient(timeout=10) as http:
        anonymous = await http.get(f"{base}/word")
        assert anonymous.status_code == 403 and anonymous.json()["error"] == "ACCESS_DENIED"
        answered = await http.get(f"{base}/word", headers=secret(host))
    assert answered.status_code == 200
    assert answered.json() == {"word": "swordfish"}  # env: secret resolved as gingee serve does
    assert answered.headers["X-Stamp"] == "included"  # default_include ran

    status, body, _ = await refused(f"ws://127.0.0.1:{port}/echo/ws")
    assert (status, body["error"]) == (403, "ACCESS_DENIED")
    socket = await tornado.websocket.websocket_connect(
        HTTPRequest(f"ws://127.0.0.1:{port}/echo/ws", headers=secret(host))
    )
    try:
        await socket.write_message("hi")
        assert json.loads(await socket.read_message() or "null") == {"echo": "hi"}
    finally:
        await shut(socket)


async def test_the_operator_is_who_the_jupyter_server_vouches_for(host: LiveHost) -> None:
    echo = App.load(host.dir / "web" / "echo")
    host.call(install(host, echo))
    base = f"http://127.0.0.1:{host.listen()}/echo/_gingee/openapi.json"
    async with httpx.AsyncClient(timeout=10) as http:
        # Every request comes from the Jupyter server on loopback; that alone must not make it the operator's.
        relayed = await http.get(base, headers=secret(host))
        vouched = await http.get(base, headers={**secret(host), live.OPERATOR_HEADER: "1"})
    assert relayed.status_code == 403 and relayed.json()["error"] == "ACCESS_DENIED"
    assert vouched.status_code == 200 and "/word" in vouched.json()["paths"]


async def test_a_refused_request_leaves_the_connection_usable(host: LiveHost) -> None:
    """A 403 to a bodyless request keeps the connection open: a client (or the extension's pooled
    client) that reuses it gets its next answer, not a reset."""
    host.call(install(host, App.load(host.dir / "web" / "echo")))
    port = host.listen()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def get(extra: str) -> tuple[bytes, Any]:
        writer.write(f"GET /echo/word HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = re.search(rb"(?i)\r\ncontent-length: (\d+)", head)
        assert length is not None, head
        return head.split(b"\r\n", 1)[0], json.loads(await reader.readexactly(int(length.group(1))))

    try:
        status, body = await get("")
        assert (status, body["error"]) == (b"HTTP/1.1 403 Forbidden", "ACCESS_DENIED")
        status, body = await get(f"{live.SECRET_HEADER}: {host.secret}\r\n")  # the same connection
        assert (status, body) == (b"HTTP/1.1 200 OK", {"word": "swordfish"})
    finally:
        writer.close()


async def test_a_notebook_app_is_not_replaced_by_the_disk_app_of_its_name(host: LiveHost) -> None:
    app = App("shadow", root=host.dir / "nb-shadow")

    @app.route("/who")
    async def who(g: Any) -> dict[str, str]:
        return {"from": "notebook"}

    host.call(install(host, app))
    port = host.listen()
    async with httpx.AsyncClient(timeout=10) as http:
        for _ in range(2):  # the dev refresh runs on every request
            reply = await http.get(f"http://127.0.0.1:{port}/shadow/who", headers=secret(host))
            assert reply.json() == {"from": "notebook"}
    host.call(host.project.reload("shadow"))
    assert host.project.apps["shadow"].root == app.root.resolve()


def test_the_url_uses_the_server_that_holds_the_kernel_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    notebooks = tmp_path / "work" / "notebooks"
    notebooks.mkdir(parents=True)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("JPY_PARENT_PID", "1")  # a launcher that is not the server (nbclient, a provisioner)
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    monkeypatch.chdir(notebooks)
    assert server_info() is None and base_url() == "/"

    def runtime_file(pid: int, root: Path, base: str) -> None:
        info = {"pid": pid, "root_dir": str(root), "base_url": base, "url": f"http://127.0.0.1:1{base}"}
        (runtime / f"jpserver-{pid}.json").write_text(json.dumps(info))

    runtime_file(os.getpid(), tmp_path / "elsewhere", "/user/other/")
    assert server_info() is None  # a running server, but not over this folder
    runtime_file(os.getpid() + 10_000_000, tmp_path / "work", "/user/dead/")  # no such process
    assert server_info() is None
    (runtime / f"jpserver-{os.getpid()}.json").unlink()
    runtime_file(os.getpid(), tmp_path / "work", "/user/ada/")
    assert base_url() == "/user/ada/"


@pytest.mark.parametrize(
    "framing", ["Content-Length: 5\r\n\r\nhello", "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"]
)
async def test_a_stranger_sending_a_body_is_refused_at_once_and_told_the_connection_closes(
    host: LiveHost, framing: str
) -> None:
    """A stranger's body is never read: the 403 goes out as soon as one is coming, with `Connection:
    close`, so a keep-alive client does not send its next request down a closing connection."""
    host.call(install(host, App.load(host.dir / "web" / "echo")))
    reader, writer = await asyncio.open_connection("127.0.0.1", host.listen())
    try:
        writer.write(f"POST /echo/word HTTP/1.1\r\nHost: 127.0.0.1\r\n{framing}".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 403 Forbidden"), head
        assert re.search(rb"(?i)\r\nconnection: close\r\n", head), head
        length = re.search(rb"(?i)\r\ncontent-length: (\d+)", head)
        assert length is not None, head
        assert json.loads(await reader.readexactly(int(length.group(1))))["error"] == "ACCESS_DENIED"
    finally:
        writer.close()
