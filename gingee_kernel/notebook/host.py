"""The kernel host: the engine on its own event loop in a background thread of the kernel.

Requests are answered while other cells run (research §4.2: on the kernel's own loop a synchronous
cell would stall every request). `app.request()` calls the engine in-process through the same thread;
`app.serve()` also opens an HTTP port on 127.0.0.1 guarded by a random secret and registers it in
Jupyter's runtime dir so the server extension proxies `{base_url}gingee/<app>/` to it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hmac
import json
import os
import re
import secrets
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import tornado.httpserver
import tornado.httputil
import tornado.netutil
import tornado.routing
import tornado.web

from .. import live
from ..engine.config import server_config
from ..engine.dispatch import Engine
from ..engine.project import Project, load_server_config
from ..engine.tornado_handler import GingeeHandler, announces_no_body
from ..jobqueue import api
from ..jobqueue.service import SHARED_KEY, QueueService, close_service, start_project_queue
from ..metrics_export import exposition
from ..metrics_hook import install as install_metrics
from ..metrics_merge import KERNEL_METRICS_PATH
from ..modules.ws.tornado_host import UpgradeMatcher, WebSocketHandler

T = TypeVar("T")

#: Seconds running jobs may finish when the kernel exits.
QUEUE_DRAIN = 5.0


_REFUSED = b'{"error": "ACCESS_DENIED", "reason": "this port only answers the Jupyter server"}'


def _has_secret(request: tornado.httputil.HTTPServerRequest, secret: str) -> bool:
    given = request.headers.get(live.SECRET_HEADER, "")
    return hmac.compare_digest(given.encode(), secret.encode())


def _refuse(handler: tornado.web.RequestHandler) -> None:
    handler.set_status(403)
    handler.set_header("Content-Type", "application/json")
    handler.finish(_REFUSED)


class _SecretHandler(GingeeHandler):
    """Answers only requests that carry the host's secret (sent by the Jupyter server extension)."""

    def initialize(self, engine: Engine, prefix: str = "", secret: str = "") -> None:
        super().initialize(engine, prefix)
        self.secret = secret
        self._stranger = False

    async def prepare(self) -> None:
        if _has_secret(self.request, self.secret):
            await super().prepare()
        elif announces_no_body(self.request):
            # Refused once Tornado has read the whole (empty) request, so the connection stays open:
            # answered from prepare, a streaming handler's connection would be closed after the 403.
            self._stranger = True
        else:
            _refuse(self)  # before reading a stranger's body; Tornado closes the connection after it

    async def _serve(self) -> None:
        if self._stranger:
            _refuse(self)
        else:
            await super()._serve()

    get = post = put = patch = delete = head = options = _serve  # type: ignore[assignment]


class _SecretSocketHandler(WebSocketHandler):
    """The apps' websockets, for upgrades that carry the host's secret (relayed by the extension)."""

    def initialize(self, engine: Engine, prefix: str = "", secret: str = "") -> None:
        super().initialize(engine, prefix)
        self.secret = secret

    async def get(self, *args: Any, **kwargs: Any) -> None:
        if not _has_secret(self.request, self.secret):
            _refuse(self)
            return
        await super().get(*args, **kwargs)


class _MetricsHandler(tornado.web.RequestHandler):
    """This kernel's Gingee metrics, for the Jupyter server's `{base_url}gingee/metrics` (secret only)."""

    def initialize(self, secret: str = "") -> None:
        self.secret = secret

    async def get(self) -> None:
        if not _has_secret(self.request, self.secret):
            _refuse(self)
            return
        body, content_type = await exposition()
        self.set_header("Content-Type", content_type)
        self.finish(body)


class _QueueHandler(tornado.web.RequestHandler):
    """The queue operator API of this kernel's apps (`jobqueue.api`), for the Jupyter server's
    `{base_url}gingee/api/queue/<app>/...` (secret only)."""

    def initialize(self, host: LiveHost) -> None:
        self.host = host

    async def _answer(self, path: str) -> None:
        if not _has_secret(self.request, self.host.secret):
            _refuse(self)
            return
        service: QueueService | None = self.host.project.shared.get(SHARED_KEY)
        method = self.request.method or "GET"
        if service is not None:
            query = {name: self.get_query_argument(name) for name in self.request.query_arguments}
            status, body = await api.handle(service, method, path, query)
        elif not path.strip("/"):
            status, body = 200, {"driver": None, "apps": {}}  # no app of this kernel uses the queue
        else:
            name = path.strip("/").split("/", 1)[0]
            reason = f"app '{name}' in this kernel has no queue (define an @app.job or grant 'queue')"
            status, body = 404, {"error": "APP_NOT_FOUND", "reason": reason}
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    get = post = delete = _answer


class LiveHost:
    """One per kernel process: a Project of notebook apps, its Engine, and an optional HTTP port."""

    _instance: LiveHost | None = None
    _instance_lock = threading.Lock()

    def __init__(self, project_dir: Path | None = None) -> None:
        self.dir = (project_dir or Path.cwd()).resolve()
        config = load_server_config(self.dir) if (self.dir / "gingee.json").is_file() else server_config()
        self.project = Project(self.dir, dev=True, config=config)
        self.engine = Engine(self.project)
        install_metrics(self.engine)  # the dashboard reads the same series as /metrics
        self.secret = secrets.token_urlsafe(32)
        self.port: int | None = None
        self.registrations: dict[str, live.Registration] = {}
        self._http: tornado.httpserver.HTTPServer | None = None
        self._queue_lock: asyncio.Lock | None = None
        self.loop = asyncio.new_event_loop()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="gingee-live", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    @classmethod
    def get(cls) -> LiveHost:
        """The kernel's host, started on first use."""
        with cls._instance_lock:
            if cls._instance is None or not cls._instance.running:
                cls._instance = cls()
            return cls._instance

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60) -> T:
        """Run `coro` on the host loop and wait for its result (from any other thread)."""
        if self._stopped:
            coro.close()
            raise RuntimeError("the kernel's Gingee host has stopped (the kernel is shutting down)")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def listen(self) -> int:
        """Open the HTTP port on 127.0.0.1 (once) and return it."""
        if self.port is None:
            self.port = self.call(self._listen())
        return self.port

    async def _listen(self) -> int:
        handler_args = {"engine": self.engine, "secret": self.secret}
        app = tornado.web.Application(
            [
                tornado.routing.Rule(UpgradeMatcher(), _SecretSocketHandler, handler_args),
                (re.escape(KERNEL_METRICS_PATH), _MetricsHandler, {"secret": self.secret}),
                (re.escape(live.KERNEL_QUEUE_PATH) + "(.*)", _QueueHandler, {"host": self}),
                (r"/.*", _SecretHandler, handler_args),
            ],
            log_function=lambda handler: None,
        )
        self._http = tornado.httpserver.HTTPServer(app, max_body_size=2**40)
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self._http.add_sockets(sockets)
        return int(sockets[0].getsockname()[1])

    async def ensure_queue(self) -> QueueService:
        """The project's queue, started on first need (on the host loop) to run this kernel's jobs: the
        memory driver, or arq workers in this kernel for its notebook apps (gingee.json `queue`). A service
        `queue.add` made on first use (`service_for`, its own app list) is replaced by the project's."""
        self._queue_lock = self._queue_lock or asyncio.Lock()
        async with self._queue_lock:
            service: QueueService | None = self.project.shared.get(SHARED_KEY)
            if service is None or service.autostart:
                service = await start_project_queue(self.project, run_jobs=True, run_schedules=False)
            return service

    def register(self, app: str, *, public: bool) -> live.Registration:
        """Write (or refresh) the live registration of `app` so Jupyter proxies to this kernel."""
        registration = live.Registration(
            app=app,
            port=self.listen(),
            pid=os.getpid(),
            secret=self.secret,
            kernel_id=kernel_id(),
            public=public,
        )
        live.write(registration)
        self.registrations[app] = registration
        return registration

    def unregister(self, app: str) -> None:
        """Stop announcing `app` to Jupyter."""
        registration = self.registrations.pop(app, None)
        if registration is not None:
            live.remove(registration)

    def close(self) -> None:
        """Remove every registration and stop the loop (at kernel exit)."""
        for app in list(self.registrations):
            self.unregister(app)
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self.call(close_service(self.project.shared, QUEUE_DRAIN), timeout=QUEUE_DRAIN + 5)
            with contextlib.suppress(Exception):
                self.call(self.project.close(), timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._stopped = True

    @property
    def running(self) -> bool:
        """True until `close()`: the loop answers requests and `call`."""
        return not self._stopped and self._thread.is_alive()


def kernel_id() -> str | None:
    """This kernel's id, from its connection file name `kernel-<id>.json`, when running in ipykernel."""
    try:
        from ipykernel import get_connection_file

        name = Path(get_connection_file()).stem
    except Exception:
        return None
    return name[len("kernel-") :] if name.startswith("kernel-") else None
