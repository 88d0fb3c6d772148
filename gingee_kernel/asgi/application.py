"""The ASGI application of a project: lifespan (load the apps, queue, schedules, fleet; close them),
HTTP (the engine, or the operator/health/metrics handlers through the Tornado bridge) and websockets."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..engine.dispatch import Engine
from ..engine.project import Project
from ..fleet.http import cluster_api_handlers
from ..fleet.node import close_fleet, start_fleet
from ..health import Health, health_handlers
from ..jobqueue.http import queue_api_handlers
from ..jobqueue.service import close_service, start_project_queue
from ..lifecycle.http import apps_api_handlers
from ..metrics.http import setup as setup_metrics
from ..modules.ws.hub import SHARED_KEY as HUB_KEY
from .http import HttpExchange, bad_request
from .scope import raw_path, unreadable
from .tornado_bridge import TornadoBridge
from .websocket import AsgiConnection, serve_websocket

log = logging.getLogger("gingee.asgi")
#: How many paths (of up to 256 characters) have their `TornadoBridge.matches` answer remembered: most
#: requests repeat a path, and the bound keeps paths that vary (ids) from growing it for ever.
_BRIDGED_MAX = 4096
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class GingeeASGI:
    """An ASGI 3 application serving every app of a project, as `gingee serve` does on Tornado.

    The apps load at lifespan startup (an ASGI server without lifespan support gets them loaded on the
    first request). `worker`: the process's number under a supervisor (`gingee serve --workers N`)."""

    def __init__(self, project_dir: Path | str, *, dev: bool = False, worker: int | None = None) -> None:
        self.project = Project(project_dir, dev=dev)
        self.engine = Engine(self.project)
        self.worker = worker
        self.health = Health(self.project.shared)
        self._handlers: list[Any] = [*health_handlers(self.health), *setup_metrics(self.engine)]
        self.bridge: TornadoBridge | None = None
        #: Whether the bridge serves a path, by path (see _BRIDGED_MAX).
        self._bridged: dict[str, bool] = {}
        self.started = False
        #: The websockets open now (see close_websockets).
        self.websockets: set[AsgiConnection] = set()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            refused = unreadable(scope)
            if refused is not None:
                log.info("gingee: a bare 400 for a request Tornado would not read: %s", refused)
                await bad_request(send)
                return
            bridge = self.bridge
            if bridge is None:
                await self.startup()
                bridge = self.bridge
                assert bridge is not None
            path = raw_path(scope)
            bridged = self._bridged.get(path)
            if bridged is None:
                bridged = bridge.matches(path)
                if len(self._bridged) < _BRIDGED_MAX and len(path) <= 256:
                    self._bridged[path] = bridged
            if bridged:
                await bridge(scope, receive, send)
            else:
                await HttpExchange(self.engine, scope, receive, send, path).run()
        elif kind == "websocket":
            if self.bridge is None:
                await self.startup()
            await serve_websocket(self.engine, scope, receive, send, self.websockets)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("gingee: the project did not start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        """Load the apps, start the queue (and its schedules) and the fleet node; idempotent."""
        if self.started:
            return
        self.started = True
        project = self.project
        await project.load()
        try:
            queue = await start_project_queue(project)
        except BaseException:
            await project.close()
            raise
        try:
            await start_fleet(project, worker=self.worker)
        except BaseException:
            await close_service(project.shared)
            await project.close()
            raise
        handlers = [
            *self._handlers,
            *queue_api_handlers(queue, project.config),
            *cluster_api_handlers(project.shared, project.config),
            *apps_api_handlers(project, worker=self.worker is not None),
        ]
        from ..standalone import _log_request

        self.bridge = TornadoBridge(handlers, log_function=_log_request)
        self._bridged = {}
        # What loading created stays out of the cyclic GC's reach (see standalone.serve).
        gc.collect()
        gc.freeze()

    async def close_websockets(self, timeout: float = 1.0) -> None:
        """Close every open websocket with 1001 `app unloaded`, as `gingee serve` does when it stops, and
        wait (up to `timeout` s) until the close frames went out.

        An ASGI server that stops closes the websockets still open itself, before the lifespan shutdown
        (uvicorn: 1012 "service restart"); a host that stops the server calls this first."""
        hub = self.project.shared.get(HUB_KEY)
        if hub is not None:
            for app in tuple(self.project.apps.values()):
                hub.close_app(app)
        if self.websockets:
            flushed = [asyncio.ensure_future(c.flushed()) for c in tuple(self.websockets)]
            await asyncio.wait(flushed, timeout=timeout)

    async def shutdown(self) -> None:
        """Close the websockets, the fleet node, the queue and every app."""
        if not self.started:
            return
        self.started = False
        await self.close_websockets()
        await close_fleet(self.project.shared)
        await close_service(self.project.shared)
        await self.project.close()


def create_app(project_dir: Path | str, *, dev: bool = False, worker: int | None = None) -> GingeeASGI:
    """The ASGI application for the project in `project_dir` (`uvicorn`, `hypercorn`, `granian`...)."""
    return GingeeASGI(project_dir, dev=dev, worker=worker)
