"""The standalone host: `gingee serve` on Tornado."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import socket
from pathlib import Path
from typing import Any, NamedTuple

import tornado.httpserver
import tornado.httputil
import tornado.ioloop
import tornado.netutil
import tornado.routing
import tornado.web

from .engine.dispatch import Engine
from .engine.project import Project
from .engine.tornado_handler import (
    BodyDropped,
    BodylessGingeeHandler,
    GingeeHandler,
    announces_no_body,
    bodyless_handler,
    origin_form,
    refuses_method,
)
from .fleet.http import cluster_api_handlers
from .fleet.node import close_fleet, start_fleet
from .health import Health, health_handlers
from .host_run import announce, in_flight_publisher, stop_signals
from .jobqueue.http import queue_api_handlers
from .jobqueue.service import close_service, start_project_queue
from .lifecycle.http import apps_api_handlers
from .metrics.http import setup as setup_metrics
from .modules.ws.tornado_host import UpgradeMatcher, websocket_rule

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


#: Group references (`\1`, `(?P=name)`, `(?(1)...)`), whose meaning would change once the patterns are
#: combined into one regex: a table with them is routed by Tornado.
_GROUP_REFERENCE = re.compile(r"\\[1-9]|\(\?P=|\(\?\(")


class _FastRoute(NamedTuple):
    """What `_Application` needs to send a request straight to the apps' catch-all handler."""

    others: re.Pattern[str] | None  # every path rule listed before the catch-all, as one regex
    upgrades: bool  # whether a rule before it matches websocket upgrades (Upgrade header)
    catch_all: re.Pattern[str]
    kwargs: dict[str, Any]
    rules: int  # how many rules the table had when this was worked out


class _Application(tornado.web.Application):
    """The Tornado application of `gingee serve`.

    Nearly every request goes to the apps' catch-all `GingeeHandler`, listed last, after the extra
    handlers (websocket upgrades, /metrics, the queue API). Rather than trying each rule through Tornado's
    nested routers, a request that none of those rules can match (no Upgrade header, a path that matches
    none of their patterns, combined in one regex) is handed to the catch-all directly: the same handler,
    arguments and answer. A rule table this cannot reason about (another kind of matcher, host rules,
    rules added later) is routed by Tornado as usual.

    Requests to GingeeHandler whose headers announce no body go to `BodylessGingeeHandler`; one it refuses
    by its method (405) has its body read first (`BodyDropped`). Every target is read as origin-form
    first (`origin_form`: no scheme and authority, no fragment), as the ASGI server reads it.
    """

    def __init__(self, handlers: list[Any], **settings: Any) -> None:
        super().__init__(handlers, **settings)
        self._fast = self._fast_route()

    def _fast_route(self) -> _FastRoute | None:
        rules = self.wildcard_router.rules
        if len(self.default_router.rules) != 1 or not rules:
            return None
        last = rules[-1]
        matcher = last.matcher
        if (
            last.target is not GingeeHandler
            or not isinstance(matcher, tornado.routing.PathMatches)
            or matcher.regex.groups
        ):
            return None
        patterns: list[str] = []
        upgrades = False
        for rule in rules[:-1]:
            if isinstance(rule.matcher, UpgradeMatcher):
                upgrades = True
            elif (
                isinstance(rule.matcher, tornado.routing.PathMatches)
                and rule.matcher.regex.flags == re.U
                and not _GROUP_REFERENCE.search(rule.matcher.regex.pattern)
            ):
                patterns.append(rule.matcher.regex.pattern)
            else:
                return None
        try:
            others = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
        except re.error:
            return None
        return _FastRoute(others, upgrades, matcher.regex, dict(last.target_kwargs), len(rules))

    def find_handler(
        self, request: tornado.httputil.HTTPServerRequest, **kwargs: Any
    ) -> tornado.httputil.HTTPMessageDelegate:
        origin_form(request)
        fast = self._fast
        if (
            fast is not None
            and request.method in GingeeHandler.SUPPORTED_METHODS
            and len(self.wildcard_router.rules) == fast.rules
            and len(self.default_router.rules) == 1
            and not (fast.upgrades and "Upgrade" in request.headers)
            and (fast.others is None or fast.others.match(request.path) is None)
            and fast.catch_all.match(request.path) is not None
        ):
            handler = BodylessGingeeHandler if announces_no_body(request) else GingeeHandler
            return tornado.web.Application.get_handler_delegate(self, request, handler, fast.kwargs)
        return super().find_handler(request, **kwargs)

    def get_handler_delegate(
        self,
        request: tornado.httputil.HTTPServerRequest,
        target_class: type[tornado.web.RequestHandler],
        target_kwargs: dict[str, Any] | None = None,
        path_args: list[bytes] | None = None,
        path_kwargs: dict[str, bytes] | None = None,
    ) -> tornado.httputil.HTTPMessageDelegate:
        if target_class is GingeeHandler and refuses_method(request):
            # Its body is read and dropped, so the connection stays open, up to the app's body limit; a
            # body declared past it is not read: the 405 goes out at once, with the connection closed.
            engine = (target_kwargs or {}).get("engine")
            limit = engine.max_body_size(request.path) if engine is not None else None
            if limit is None or not declared_over(request, limit):
                if limit is not None:
                    request.connection.set_max_body_size(limit)  # type: ignore[union-attr]
                return BodyDropped(
                    super().get_handler_delegate(
                        request, BodylessGingeeHandler, target_kwargs, path_args, path_kwargs
                    )
                )
        return super().get_handler_delegate(
            request, bodyless_handler(target_class, request), target_kwargs, path_args, path_kwargs
        )


def declared_over(request: tornado.httputil.HTTPServerRequest, limit: int) -> bool:
    """Whether the request's Content-Length says its body is over `limit` bytes."""
    length = request.headers.get("Content-Length")
    return length is not None and length.isdigit() and int(length) > limit


def make_application(
    engine: Engine, extra_handlers: list[Any] | None = None, **settings: Any
) -> tornado.web.Application:
    """The Tornado application serving every app of the engine's project; `extra_handlers` (e.g. /metrics,
    websockets) are matched before the apps, which answer every other path, and `*` (`OPTIONS *`)."""
    return _Application(
        [*(extra_handlers or []), (r"(?:/.*|\*)", GingeeHandler, {"engine": engine})],
        log_function=_log_request,
        compress_response=False,
        **settings,
    )


class Server:
    """A running `gingee serve`: project, engine and HTTP server. Use `start()` then `stop()`.

    `sockets`: listening sockets bound already (a cluster worker's, shared with its siblings); without
    them `start()` binds `host` and `port`. `worker`: the worker's number under `--workers N`.
    """

    def __init__(
        self,
        project_dir: Path | str,
        *,
        dev: bool = False,
        host: str | None = None,
        port: int | None = None,
        sockets: list[socket.socket] | None = None,
        worker: int | None = None,
    ) -> None:
        self.project = Project(project_dir, dev=dev)
        self.worker = worker
        self.engine = Engine(self.project)
        server_cfg = self.project.config["server"]
        self.host = host or server_cfg["host"]
        self.port = server_cfg["port"] if port is None else port
        self.http: tornado.httpserver.HTTPServer | None = None
        self.sockets = sockets
        self.health = Health(self.project.shared)
        #: (regex, handler, kwargs) tuples served before the apps; add to it before start().
        self.extra_handlers: list[Any] = [
            websocket_rule(self.engine),
            *health_handlers(self.health),
            *setup_metrics(self.engine),
        ]

    async def start(self) -> int:
        """Load the apps and listen; returns the bound port (useful with port 0)."""
        await self.project.load()
        try:
            queue = await start_project_queue(self.project)
        except BaseException:
            await self.project.close()
            raise
        try:
            await start_fleet(self.project, worker=self.worker)
        except BaseException:
            await close_service(self.project.shared)
            await self.project.close()
            raise
        self.extra_handlers += queue_api_handlers(queue, self.project.config)
        self.extra_handlers += cluster_api_handlers(self.project.shared, self.project.config)
        self.extra_handlers += apps_api_handlers(self.project, worker=self.worker is not None)
        app = make_application(self.engine, self.extra_handlers)
        self.http = tornado.httpserver.HTTPServer(app, xheaders=False, max_body_size=2**40)
        sockets = self.sockets or tornado.netutil.bind_sockets(self.port, self.host)
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
        await close_fleet(self.project.shared)
        await close_service(self.project.shared)
        await self.project.close()


async def serve(
    project_dir: Path,
    *,
    dev: bool,
    host: str | None,
    port: int | None,
    sockets: list[socket.socket] | None = None,
    worker: int | None = None,
) -> None:
    """Run until SIGINT/SIGTERM (SIGTERM drains first), SIGHUP reloading every app (host_run.py). A cluster
    worker passes the shared `sockets` and its number (`worker`, from 1), which its start line names."""
    server = Server(project_dir, dev=dev, host=host, port=port, sockets=sockets, worker=worker)
    bound = await server.start()
    # Move what loading created (~150k objects: schemas, modules, apps) out of the cyclic GC's reach;
    # otherwise every full collection rescans it, which costs more than websocket fan-out itself.
    gc.collect()
    gc.freeze()
    announce(server.project, server.host, bound, worker)
    stop = asyncio.Event()
    with stop_signals(server.project, server.health, lambda first: stop.set(), worker), in_flight_publisher():
        await stop.wait()
    await server.stop()
