"""The kernel host: the engine on its own event loop in a background thread of the kernel.

Requests are answered while other cells run (research §4.2: on the kernel's own loop a synchronous
cell would stall every request). `app.request()` calls the engine in-process through the same thread;
`app.serve()` also opens an HTTP port on 127.0.0.1 guarded by a random secret and registers it in
Jupyter's runtime dir so the server extension proxies `{base_url}gingee/<app>/` to it (secret_port.py).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import secrets
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import tornado.httpserver
import tornado.netutil

from .. import live
from ..engine.config import server_config
from ..engine.dispatch import Engine
from ..engine.project import Project, load_server_config
from ..jobqueue.service import SHARED_KEY, QueueService, close_service, start_project_queue
from ..metrics.hooks import install as install_metrics
from . import secret_port

T = TypeVar("T")

#: Seconds running jobs may finish when the kernel exits.
QUEUE_DRAIN = 5.0
#: Added to gingee.json `queue.prefix` in kernels: a notebook app's jobs on a shared Redis are never taken
#: by `gingee worker` running the on-disk (say, exported) app of the same name, nor the other way round
#: (app names cannot hold "/", so no on-disk app's key can start with it).
LIVE_QUEUE_NAMESPACE = "live/"


class LiveHost:
    """One per kernel process: a Project of notebook apps, its Engine, and an optional HTTP port."""

    _instance: LiveHost | None = None
    _instance_lock = threading.Lock()

    def __init__(self, project_dir: Path | None = None) -> None:
        self.dir = (project_dir or Path.cwd()).resolve()
        config = load_server_config(self.dir) if (self.dir / "gingee.json").is_file() else server_config()
        queue = config["queue"]
        config["queue"] = {**queue, "prefix": queue["prefix"] + LIVE_QUEUE_NAMESPACE}
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
        app = secret_port.application(self)
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
