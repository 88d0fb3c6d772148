"""The standalone host: `gingee serve` on Tornado."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.httputil
import tornado.netutil
import tornado.web

from .engine.dispatch import Engine
from .engine.project import Project
from .engine.tornado_handler import GingeeHandler, bodyless_handler
from .jobqueue.http import queue_api_handlers
from .jobqueue.service import close_service, start_project_queue
from .metrics_http import setup as setup_metrics
from .modules.ws.tornado_host import websocket_rule

log = logging.getLogger("gingee.serve")


def _log_request(handler: tornado.web.RequestHandler) -> None:
    status = handler.get_status()
    if status >= 500:
        level = logging.ERROR
    elif status >= 400:
        level = logging.WARNING
    else:
        level = logging.DEBUG
    if log.isEnabledFor(level):
        request = handler.request
        log.log(level, "%d %s %s %.1fms", status, request.method, request.uri, 1000 * request.request_time())


class _Application(tornado.web.Application):
    """A Tornado Application that hands requests announcing no body to `BodylessGingeeHandler`."""

    def get_handler_delegate(
        self,
        request: tornado.httputil.HTTPServerRequest,
        target_class: type[tornado.web.RequestHandler],
        target_kwargs: dict[str, Any] | None = None,
        path_args: list[bytes] | None = None,
        path_kwargs: dict[str, bytes] | None = None,
    ) -> tornado.web._HandlerDelegate:
        return super().get_handler_delegate(
            request, bodyless_handler(target_class, request), target_kwargs, path_args, path_kwargs
        )


def make_application(
    engine: Engine, extra_handlers: list[Any] | None = None, **settings: Any
) -> tornado.web.Application:
    """The Tornado application serving every app of the engine's project; `extra_handlers` (e.g. /metrics,
    websockets) are matched before the apps."""
    return _Application(
        [*(extra_handlers or []), (r"/.*", GingeeHandler, {"engine": engine})],
        log_function=_log_request,
        compress_response=False,
        **settings,
    )


class Server:
    """A running `gingee serve`: project, engine and HTTP server. Use `start()` then `stop()`."""

    def __init__(
        self, project_dir: Path | str, *, dev: bool = False, host: str | None = None, port: int | None = None
    ) -> None:
        self.project = Project(project_dir, dev=dev)
        self.engine = Engine(self.project)
        server_cfg = self.project.config["server"]
        self.host = host or server_cfg["host"]
        self.port = server_cfg["port"] if port is None else port
        self.http: tornado.httpserver.HTTPServer | None = None
        #: (regex, handler, kwargs) tuples served before the apps; add to it before start().
        self.extra_handlers: list[Any] = [websocket_rule(self.engine), *setup_metrics(self.engine)]

    async def start(self) -> int:
        """Load the apps and listen; returns the bound port (useful with port 0)."""
        await self.project.load()
        try:
            queue = await start_project_queue(self.project)
        except BaseException:
            await self.project.close()
            raise
        self.extra_handlers += queue_api_handlers(queue, self.project.config)
        app = make_application(self.engine, self.extra_handlers)
        self.http = tornado.httpserver.HTTPServer(app, xheaders=False, max_body_size=2**40)
        sockets = tornado.netutil.bind_sockets(self.port, self.host)
        self.http.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening, finish in-flight requests briefly, close every app."""
        if self.http is not None:
            self.http.stop()
            try:
                await asyncio.wait_for(self.http.close_all_connections(), timeout=5)
            except asyncio.TimeoutError:
                log.warning("some connections did not close within 5 s")
        await close_service(self.project.shared)
        await self.project.close()


async def serve(project_dir: Path, *, dev: bool, host: str | None, port: int | None) -> None:
    """Run until SIGINT/SIGTERM; SIGHUP reloads every app."""
    server = Server(project_dir, dev=dev, host=host, port=port)
    bound = await server.start()
    # Move what loading created (~150k objects: schemas, modules, apps) out of the cyclic GC's reach;
    # otherwise every full collection rescans it, which costs more than websocket fan-out itself.
    gc.collect()
    gc.freeze()
    names = ", ".join(sorted(server.project.apps)) or "none"
    print(
        f"gingee: serving {server.project.dir} on http://{server.host}:{bound}/ (apps: {names})", flush=True
    )
    for name, error in sorted(server.project.errors.items()):
        print(f"gingee: app '{name}' not loaded: {error}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(server.project.reload()))
    await stop.wait()
    await server.stop()
