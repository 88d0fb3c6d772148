"""A real Jupyter server (base_url /user/test/, token) with the extension enabled, serving a test project;
a browser-like login (cookie + _xsrf); and a stand-in for a kernel's live server."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

from gingee_kernel.live import OPERATOR_HEADER, PREFIX_HEADER, SECRET_HEADER
from tests.fixtures.jupyter import JupyterServer, start_jupyter
from tests.fixtures.servers import Files, write_files

ENABLE = {"ServerApp": {"jpserver_extensions": {"gingee_server": True}}}

ECHO = """
async def handle(g):
    h = g.request.headers
    g.response.send({
        "method": g.request.method,
        "auth": h.get("Authorization"),
        "cookie": h.get("Cookie"),
        "prefix": h.get("X-Gingee-Prefix"),
        "secret": h.get("X-Gingee-Live-Secret"),
        "query": g.request.query,
    })
"""


def start_server(
    tmp_path_factory: pytest.TempPathFactory, files: Files, extra_args: tuple[str, ...] = ()
) -> JupyterServer:
    """Write a project and start Jupyter on it with the extension enabled in its own config dir."""
    root = write_files(tmp_path_factory.mktemp("project"), files)
    home = tmp_path_factory.mktemp("jupyter-home")
    (home / "config").mkdir()
    (home / "config" / "jupyter_server_config.json").write_text(json.dumps(ENABLE))
    return start_jupyter(root, home, extra_args=extra_args)


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterServer]:
    """Jupyter serving the test module's `FILES`, started once per module (a module may override this)."""
    running = start_server(tmp_path_factory, request.module.FILES)
    yield running
    running.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A client without credentials that never follows redirects; its timeout turns a hang into a failure."""
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        yield client


@contextmanager
def login(server: JupyterServer) -> Iterator[httpx.Client]:
    """A client logged in the way a browser is: Jupyter's login form, then the login and _xsrf cookies."""
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        client.get(server.url("login"))
        xsrf = client.cookies["_xsrf"]
        reply = client.post(server.url("login"), data={"password": server.token, "_xsrf": xsrf})
        assert reply.status_code == 302, reply.text
        yield client


class _Echo(tornado.web.RequestHandler):
    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

    def initialize(self, fake: FakeKernel) -> None:
        self.fake = fake

    def prepare(self) -> None:
        if self.request.headers.get(SECRET_HEADER) != self.fake.secret:
            self.set_status(403)
            self.finish({"error": "ACCESS_DENIED", "reason": "wrong secret"})

    def _echo(self, *args: Any) -> None:
        request = self.request
        if request.path.endswith("/page.html"):
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish("<h1>live page</h1>")
            return
        if request.path.endswith("/redirect"):
            self.redirect("elsewhere")
            return
        self.set_header("Keep-Alive", "timeout=5")  # hop-by-hop: must not be relayed
        self.set_header("X-Custom", "kept")
        self.finish(
            {
                "path": request.path,
                "query": request.query,
                "method": request.method,
                "prefix": request.headers.get(PREFIX_HEADER),
                "auth": request.headers.get("Authorization"),
                "cookie": request.headers.get("Cookie"),
                "operator": request.headers.get(OPERATOR_HEADER),
                "body": request.body.decode(),
                "forwarded_for": request.headers.get("X-Forwarded-For"),
            }
        )

    get = post = put = patch = delete = options = _echo

    def head(self, *args: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Content-Length", "42")
        self.finish()


class _Events(_Echo):
    async def get(self, *args: Any) -> None:
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.write("data: one\n\n")
        await self.flush()
        released = await asyncio.get_running_loop().run_in_executor(None, self.fake.release.wait, 30)
        self.write("data: two\n\n" if released else "data: timed-out\n\n")
        self.finish()


class _Socket(tornado.websocket.WebSocketHandler):
    """Echoes frames back (binary stays binary) after a hello naming what it received."""

    def initialize(self, fake: FakeKernel) -> None:
        self.fake = fake

    async def get(self, *args: Any, **kwargs: Any) -> None:
        if self.request.headers.get(SECRET_HEADER) != self.fake.secret:
            self.set_status(403)
            self.finish({"error": "ACCESS_DENIED", "reason": "wrong secret"})
            return
        await super().get(*args, **kwargs)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return "second" if "second" in subprotocols else None

    def open(self, *args: Any) -> None:
        self.fake.sockets.add(self)
        hello = {
            "path": self.request.path,
            "query": self.request.query,
            "auth": self.request.headers.get("Authorization"),
        }
        self.write_message(hello)

    def on_close(self) -> None:
        self.fake.sockets.discard(self)

    def on_message(self, message: str | bytes) -> None:
        if message == "close":
            self.close(4001, "asked to")
            return
        self.write_message(message, binary=isinstance(message, bytes))


class FakeKernel:
    """What a kernel's `app.serve()` runs, reduced: a loopback server requiring the secret, echoing."""

    def __init__(self, secret: str = "s3cret-for-tests") -> None:
        self.secret = secret
        self.release = threading.Event()
        self.sockets: set[_Socket] = set()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._http: tornado.httpserver.HTTPServer | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-kernel", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._stop())
        self.loop.close()

    async def _start(self) -> None:
        app = tornado.web.Application(
            [
                (r"/[^/]+/events", _Events, {"fake": self}),
                (r"/[^/]+/ws", _Socket, {"fake": self}),
                (r"/.*", _Echo, {"fake": self}),
            ],
            log_function=lambda handler: None,
        )
        self._http = tornado.httpserver.HTTPServer(app)
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self._http.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._http is not None
        self._http.stop()
        for socket in list(self.sockets):  # upgraded connections are no longer the HTTP server's
            if socket.ws_connection is not None and socket.ws_connection.stream is not None:
                socket.ws_connection.stream.close()
        await self._http.close_all_connections()

    def start(self) -> FakeKernel:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        """Stop listening and drop every connection, as a dying kernel does."""
        self.release.set()
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)


@pytest.fixture
def fake_kernel() -> Iterator[FakeKernel]:
    """A running FakeKernel, stopped after the test."""
    fake = FakeKernel().start()
    yield fake
    fake.stop()
