"""`@app.websocket`: served live through the kernel's port (and relayed by a real Jupyter server), replaced
on re-run, validated in its cell, exported (from the kernel and from the file) to a handler script
`gingee serve` runs, and loaded back."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from gingee_kernel import HttpError, cli, live
from gingee_kernel.notebook import App, AppConfigError, ExportError
from gingee_kernel.notebook.export import MARKER, export_app, export_notebook
from gingee_kernel.notebook.host import LiveHost

from ..modules.ws.conftest import recv, refused, shut
from ..server_extension.conftest import start_server
from .conftest import percent_cells, write_notebook
from .test_export import _without_docstrings


@pytest.fixture(autouse=True)
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """app.serve() registers in a Jupyter runtime dir of the test's own."""
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))


@pytest.fixture
def made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[App]]:
    """Apps a test builds in its cells (stopped after it), in a fresh working folder."""
    monkeypatch.chdir(tmp_path)
    apps: list[App] = []
    yield apps
    for app in apps:
        app.stop()


async def exchange(ws: str, http: str, headers: dict[str, str] | None = None) -> list[Any]:
    """What a client sees of nb_ticker's endpoint at `ws` (with a push to its room through `http`)."""
    headers = headers or {}
    seen: list[Any] = [(await refused(f"{ws}/live", headers))[:2]]  # no user: the auth function says no
    conn = await websocket_connect(HTTPRequest(f"{ws}/live?user=ada", headers=headers))
    try:
        seen.append(await recv(conn))
        await conn.write_message(json.dumps({"n": 1}))
        seen.append(await recv(conn))
        async with httpx.AsyncClient(timeout=10) as client:
            pushed = await client.post(f"{http}/push", json={"price": 3}, headers=headers)
        seen += [pushed.json(), await recv(conn)]
    finally:
        await shut(conn)
    return seen


EXPECTED = [
    (401, {"error": "UNAUTHORIZED", "reason": "the app's auth hook refused the connection"}),
    {"room": "prices", "hello": "ada"},
    {"room": "prices", "echo": {"n": 1}},
    {"sent": 1},
    {"room": "prices", "price": 3},
]


async def test_the_handler_is_served_live_through_the_kernel_port(
    run_notebook: Callable[..., ModuleType],
) -> None:
    app = run_notebook("nb_ticker.py").app
    assert app.permissions == {"websockets"}  # inferred, as for other modules
    served = app.serve()
    secret = {live.SECRET_HEADER: LiveHost.get().secret}
    base = f"127.0.0.1:{served.port}/ticker"
    assert await exchange(f"ws://{base}", f"http://{base}", secret) == EXPECTED
    status, body, _ = await refused(f"ws://{base}/live?user=ada")  # only the Jupyter server may connect
    assert (status, body["error"]) == (403, "ACCESS_DENIED")


async def test_the_jupyter_server_relays_the_live_endpoint(
    run_notebook: Callable[..., ModuleType],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jupyter = start_server(tmp_path_factory, {})
    try:
        monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(jupyter.runtime_dir))  # as the server's kernels have it
        run_notebook("nb_ticker.py").app.serve()
        base = f"127.0.0.1:{jupyter.port}{jupyter.base_url}gingee/ticker"
        assert await exchange(f"ws://{base}", f"http://{base}", jupyter.auth) == EXPECTED
    finally:
        jupyter.stop()


def test_re_running_the_cell_replaces_the_handler(made: list[App]) -> None:
    app = App("rerun")
    made.append(app)

    @app.websocket("/ws", idle_timeout=30)
    def first(socket: Any, ctx: Any) -> None:  # a plain def runs in the script thread pool
        socket.send({"handler": "first"})

    before = app.connect()
    assert before.receive() == {"handler": "first"}

    @app.websocket("/ws", idle_timeout=30)
    async def second(socket: Any, ctx: Any) -> None:
        socket.send({"handler": "second", "path": ctx.path})

    assert app.connect().receive() == {"handler": "second", "path": "/ws"}
    assert list(app.socket_functions.values()) == [second]
    before.send("still there")  # same options: a socket opened before stays open
    assert not before.closed

    @app.websocket("/ws")
    async def third(socket: Any, ctx: Any) -> None:
        socket.send({"handler": "third"})

    assert app.config["websockets"] == {"path": "/ws", "handler": "websockets/handler.py"}  # one endpoint
    assert app.connect().receive() == {"handler": "third"}
    with pytest.raises(ConnectionError, match="1001 app unloaded"):  # new options reload the app
        before.receive()
    with pytest.raises(HttpError) as gone:
        app.connect("/other")
    assert gone.value.status == 404 and "serves websockets at /rerun/ws" in str(gone.value)


@pytest.mark.parametrize(
    ("options", "pointer", "expected"),
    [
        ({"idle_timeout": -1}, "/websockets/idle_timeout", "less than the minimum of 0"),
        ({"max_message_bytes": "lots"}, "/websockets/max_message_bytes", 'got "lots"'),
        ({"allowed_origins": "https://a.example"}, "/websockets/allowed_origins", "expected array"),
        ({"max_connections": 0}, "/websockets/max_connections", "less than the minimum of 1"),
        ({"path": "ws"}, "/websockets/path", 'matching ^/[^\\s?#]*$, got "ws"'),
        ({"auth": 3}, "/websockets/auth", "a function auth(ctx) or a box script name, not 3"),
        ({"handler": "ws.py"}, "/websockets/handler", "the decorated function is the handler"),
        ({"max_sockets": 5}, "/websockets", "unknown key 'max_sockets'; expected one of: allowed_origins"),
    ],
)
def test_options_are_checked_in_the_defining_cell(
    made: list[App], options: dict[str, Any], pointer: str, expected: str
) -> None:
    app = App("checked")
    made.append(app)
    with pytest.raises(AppConfigError) as error:
        app.websocket(**options)
    assert str(error.value).startswith(f"@app.websocket: at {pointer}: ")
    assert expected in str(error.value)
    assert "websockets" not in app.config and app.socket_functions == {}


@pytest.mark.parametrize("source", ["live", "ipynb"])
async def test_the_export_is_served_by_gingee_serve_with_the_same_exchange(
    source: str, run_notebook: Callable[..., ModuleType], serve: Callable[..., Any], tmp_path: Path
) -> None:
    web = tmp_path / "project" / "web"
    if source == "live":
        folder = export_app(run_notebook("nb_ticker.py").app, web)
    else:
        notebook = write_notebook(tmp_path / "ticker.ipynb", [*percent_cells("nb_ticker.py"), "app.serve()"])
        assert cli.main(["export", str(notebook), "--out", str(web)]) == 0
        folder = web / "ticker"
    box = folder / "box"
    assert json.loads((box / "app.json").read_text())["websockets"] == {
        "path": "/live",
        "idle_timeout": 60,
        "max_message_bytes": "4kb",
        "handler": "websockets/handler.py",
        "auth": "websockets/auth.py",
    }
    assert json.loads((box / "pmft.json").read_text())["permissions"]["mandatory"] == ["websockets"]
    handler = (box / "websockets" / "handler.py").read_text()
    assert handler.startswith(MARKER) and "@app" not in handler and "def check" not in handler
    assert "import json\n" in handler and 'ROOM = "prices"' in handler and "def stamp(data):" in handler
    assert handler.endswith("\n\nhandle = on_connect\n")
    auth = (box / "websockets" / "auth.py").read_text()
    assert "def check(ctx):" in auth and auth.endswith("handle = check\n") and "ROOM" not in auth

    assert cli.main(["grant", str(tmp_path / "project"), "ticker", "websockets"]) == 0
    server = serve(tmp_path / "project", dev=False)
    base = f"127.0.0.1:{server.port}/ticker"
    assert await exchange(f"ws://{base}", f"http://{base}") == EXPECTED
    assert httpx.get(f"http://{base}/websockets/handler").status_code == 404  # never run by URL


def test_static_and_live_exports_are_the_same_files(
    run_notebook: Callable[..., ModuleType], tmp_path: Path
) -> None:
    notebook = write_notebook(tmp_path / "ticker.ipynb", percent_cells("nb_ticker.py"))
    (static,) = export_notebook(notebook, tmp_path / "static")
    exported = export_app(run_notebook("nb_ticker.py").app, tmp_path / "live")
    assert _without_docstrings(static) == _without_docstrings(exported)
    assert (
        '"""The websocket handler of /ticker/live: `on_connect` (cell 4)."""'
        in (static / "box/websockets/handler.py").read_text()
    )


def test_load_brings_the_handler_back_and_exports_the_same_files(
    run_notebook: Callable[..., ModuleType], tmp_path: Path
) -> None:
    folder = run_notebook("nb_ticker.py").app.export(tmp_path / "web")
    loaded = App.load(folder)
    try:
        assert loaded.config["websockets"]["auth"] == "websockets/auth.py"
        assert [f.__name__ for f in loaded.socket_functions.values()] == ["on_connect", "check"]
        ws = loaded.connect("/live", query={"user": "bo"})
        assert ws.receive() == {"room": "prices", "hello": "bo"}
        assert loaded.request("POST", "/push", json={"x": 1}).json() == {"sent": 1}
        assert ws.receive() == {"room": "prices", "x": 1}
        again = loaded.export(tmp_path / "again")
        assert _without_docstrings(again) == _without_docstrings(folder)
    finally:
        loaded.stop()


def test_a_name_the_handler_cannot_take_along_names_the_name_and_the_cell(tmp_path: Path) -> None:
    cells = [
        "import gingee_kernel as gk\napp = gk.App('feed')",
        "feed = open(__file__)",
        "@app.websocket('/ws')\nasync def on_connect(socket, ctx):\n    socket.send(feed.read())",
    ]
    with pytest.raises(ExportError) as error:
        export_notebook(write_notebook(tmp_path / "feed.ipynb", cells), tmp_path / "web")
    message = str(error.value)
    assert message.startswith("`feed`, used by `on_connect` (cell 3), is computed at runtime in cell 2")
