"""The engine's front door: one request in, one response out, with the status contract of DESIGN §2.

Host-neutral: a host (Tornado handler, Jupyter handler, kernel server) builds an `Incoming`, passes a
`Transport` for streaming, and writes the returned Response unless it was streamed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ..errors import HttpError, ServiceUnavailable
from .app import AppRuntime
from .body import BodyStream
from .context import _deadline as _DEADLINE
from .forwarded import TrustedProxies
from .limits import Gate
from .observe import Exchange, Observer
from .pipeline import AppPipeline, Target
from .project import Project
from .request import Request
from .response import Response, Transport

log = logging.getLogger("gingee.engine")

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff"}


class Incoming(NamedTuple):
    """A request as the host received it. `path` is raw (percent-encoded) and starts with /<app>.

    Immutable; a named tuple rather than a frozen dataclass because it is built once per request and
    a tuple is built several times faster."""

    method: str
    path: str
    query: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    remote_ip: str = ""
    #: The body as it arrives, on a route that streams it (then `body` is empty).
    stream: BodyStream | None = None
    #: The URL that precedes `/<app>` as the client's browser sees it (`https://hub.example/user/ada/gingee`):
    #: scheme, host and any prefix (Jupyter's base_url, a trusted proxy's); "" if the host cannot tell.
    public_root: str = ""
    #: The host says the operator sent it (see Request.operator).
    operator: bool = False


def error_response(error: HttpError, response: Response | None = None) -> Response:
    """A JSON error reply `{"error": code, "reason": ...}` with the error's headers."""
    response = response or Response()
    response.sent = False
    response.headers = dict(error.headers)
    response.send(error.body(), status=error.status)
    return response


class Engine:
    """Dispatch requests to the apps of a Project."""

    def __init__(self, project: Project) -> None:
        self.project = project
        limits = project.config["limits"]
        self.gate = Gate(int(limits["max_concurrent_requests"]), "global")
        #: Called with an Exchange after every request (metrics, dashboards); must be fast and not raise.
        self.observers: list[Observer] = []
        self._deadlines: Deadlines | None = None
        #: The proxies whose X-Forwarded-* headers hosts believe (gingee.json `server.trusted_proxies`).
        self.trusted_proxies = TrustedProxies(project.config["server"].get("trusted_proxies") or ())

    def split(self, path: str) -> tuple[str, str]:
        """(app name, rest of the raw path) for a raw path like `/todo/items/1`."""
        _, _, tail = path.partition("/")
        name, slash, rest = tail.partition("/")
        return name, slash + rest

    def app_for(self, name: str) -> AppRuntime:
        """The loaded app called `name`, or 404 APP_NOT_FOUND / 503 APP_UNAVAILABLE."""
        app = self.project.apps.get(name)
        if app is not None:
            return app
        if name in self.project.errors:
            reason = f"app '{name}' failed to load; the server log says why"
            if self.project.dev:
                reason = f"app '{name}' failed to load: {self.project.errors[name]}"
            raise HttpError(503, "APP_UNAVAILABLE", reason, headers={"Retry-After": "5"})
        raise HttpError(404, "APP_NOT_FOUND", f"no app named '{name}'" if name else "no app here")

    def max_body_size(self, path: str) -> int:
        """The body limit for a request to `path` (the app's, else the server's)."""
        app = self.project.apps.get(self.split(path)[0])
        if app is not None:
            return int(app.pipeline.limits.max_body_size)
        from .sizes import parse_size

        return parse_size(self.project.config["max_body_size"])

    def streamed_body_limit(self, method: str, path: str) -> int | None:
        """The app's `max_upload_size` if the request to `path` streams its body to the script (a
        `"body": "stream"` route, a signed storage PUT), else None (the body is read ahead)."""
        name, rest = self.split(path)
        app = self.project.apps.get(name)
        if app is None or app.pipeline is None or not rest:
            return None
        if not app.pipeline.streams_body(method, rest):
            return None
        return int(app.pipeline.limits.max_upload_size)

    def body_limit(self, method: str, path: str) -> tuple[int, bool]:
        """`streamed_body_limit` and `max_body_size` at once: (the body limit of a request to `path`,
        whether its body streams to the script)."""
        name, rest = self.split(path)
        app = self.project.apps.get(name)
        if app is None:
            return self.max_body_size(path), False
        pipeline = app.pipeline
        if pipeline is not None and rest and pipeline.streams_body(method, rest):
            return int(pipeline.limits.max_upload_size), True
        return int(pipeline.limits.max_body_size), False

    async def dispatch(self, incoming: Incoming, transport: Transport | None = None) -> Response:
        """Answer one request; never raises, never leaks a traceback to the client."""
        response = Response(transport)
        exchange = (
            Exchange(
                "-", "-", "other", incoming.method, 0, "", 0.0, time.perf_counter()
            )  # by position: cheaper
            if self.observers
            else None
        )
        try:
            if self.project.holding:  # an app is being switched (Project.replace): wait for its new version
                hold = self.project.holding.get(self.split(incoming.path)[0])
                if hold is not None:
                    await hold.wait()
            if self.project.dev:
                name = self.split(incoming.path)[0]
                if name:
                    await self.project.refresh(name)
            run = self._route(incoming, response, exchange)
            if run is not None:
                await self._run(*run, response, incoming)
        except HttpError as error:
            if exchange is not None:
                exchange.error = error.code
            if error.log_message:  # what the server log is told and the client is not
                log.warning("%s %s: %s %s: %s", incoming.method, incoming.path, error.status, error.code,
                            error.log_message)  # fmt: skip
            elif error.__cause__ is not None:  # e.g. the library error behind a module's ContentError
                log.info("%s %s: %s %s, from %r", incoming.method, incoming.path, error.status, error.code,
                         error.__cause__)  # fmt: skip
            if response.streaming:
                log.warning("error after the stream started: %s", error)
            else:
                error_response(error, response)
        except ServiceUnavailable as exc:  # Redis or a database away (a failover, say): worth a retry
            if exchange is not None:
                exchange.error = "SERVICE_UNAVAILABLE"
            request_id = uuid.uuid4().hex[:12]
            log.warning("request %s %s: %s (request id %s)", incoming.method, incoming.path, exc, request_id)
            if not response.streaming:
                reason = f"a service this app needs is unavailable; retry shortly (request id {request_id})"
                error_response(HttpError(503, "SERVICE_UNAVAILABLE", reason), response)
                response.headers["Retry-After"] = "1"
        except Exception:
            if exchange is not None:
                exchange.error = "INTERNAL_SERVER_ERROR"
            request_id = uuid.uuid4().hex[:12]
            log.exception("request %s %s failed (request id %s)", incoming.method, incoming.path, request_id)
            if not response.streaming:
                error_response(
                    HttpError(
                        500,
                        "INTERNAL_SERVER_ERROR",
                        f"the server script failed; the app's log has the details (request id {request_id})",
                    ),
                    response,
                )
        headers = response.headers
        for name, value in SECURITY_HEADERS.items():
            if name not in headers:
                headers[name] = value
        if exchange is not None:
            exchange.status = response.status
            exchange.duration = time.perf_counter() - exchange.started
            self.notify(exchange)
        return response

    def notify(self, exchange: Exchange) -> None:
        """Pass a finished request to every observer (hosts call it for requests they refuse themselves)."""
        for observer in self.observers:
            try:
                observer(exchange)
            except Exception:
                log.exception("a request observer failed")

    def _route(
        self, incoming: Incoming, response: Response, exchange: Exchange | None
    ) -> tuple[AppPipeline, Target, Request | None] | None:
        """The script to run for `incoming`, or None once `response` holds the answer (redirects, static
        files); raises HttpError for the app-level refusals."""
        path = incoming.path
        name, rest = self.split(path)
        if not name:
            default = self.project.config.get("default_app")
            if default:
                response.headers["Location"] = f"{default}/"
                response.send(b"", status=302, content_type="text/plain")
                return None
        app = self.app_for(name)
        if exchange is not None:
            exchange.app = name
        if app.maintenance:
            raise HttpError(
                503,
                "MAINTENANCE",
                f"app '{name}' is in maintenance; try again later",
                headers={"Retry-After": "30"},
            )
        if not rest:
            response.headers["Location"] = f"{name}/" + (f"?{incoming.query}" if incoming.query else "")
            response.send(b"", status=301, content_type="text/plain")
            return None
        pipeline: AppPipeline = app.pipeline
        target = pipeline.resolve(incoming.method, rest)
        if not isinstance(target, Target):
            segments, trailing = target
            if exchange is not None:
                exchange.kind, exchange.route = "static", "static"
            pipeline.serve_static(segments, trailing, response)
            return None
        if exchange is not None:
            exchange.kind, exchange.route = "script", target.pattern
        if app.isolated:
            return pipeline, target, None  # its worker builds the request (isolation/worker.py)
        # Every argument by position (keywords cost more, once a request): `None` is `params`.
        request = Request(
            incoming.method,
            incoming.url,
            path,
            incoming.query,
            incoming.headers,
            incoming.body,
            incoming.remote_ip,
            None,
            incoming.stream,
            incoming.public_root,
            incoming.operator,
        )
        return pipeline, target, request

    async def _run(
        self,
        pipeline: AppPipeline,
        target: Target,
        request: Request | None,
        response: Response,
        incoming: Incoming,
    ) -> None:
        """Run the target within the concurrency caps (503, the global one first) and the app's time
        budget (504): this very task is cancelled when it runs out, unless the reply is streaming."""
        self.gate.enter()
        try:
            pipeline.gate.enter()
            try:
                loop = asyncio.get_running_loop()
                deadlines = self._deadlines
                if deadlines is None or deadlines.loop is not loop:
                    deadlines = self._deadlines = Deadlines(loop)
                budget = pipeline.limits.request_timeout
                if pipeline.app.isolated:  # its worker answers; the host kills it past budget + grace
                    from ..isolation.host import host_for

                    await host_for(self.project).forward(pipeline.app, incoming, response, budget)
                    return
                task = asyncio.current_task(loop)
                assert task is not None
                entry = _Deadline(deadlines.clock() + budget, task, response)
                deadlines.add(entry)
                # What `with set_deadline(...)` does, without a generator per request.
                token = _DEADLINE.set(time.monotonic() + budget)
                try:
                    assert request is not None
                    await pipeline.run(target, request, response)
                except asyncio.CancelledError:
                    if not entry.expired:
                        raise
                    if hasattr(task, "uncancel"):
                        task.uncancel()
                    raise HttpError(
                        504,
                        "GATEWAY_TIMEOUT",
                        f"the request took longer than its {budget:g} s budget",
                        extra={"timeout_ms": int(budget * 1000)},
                    ) from None
                finally:
                    _DEADLINE.reset(token)
                    deadlines.discard(entry)
            finally:
                pipeline.gate.leave()
        finally:
            self.gate.leave()


class _Deadline:
    """One request's time budget: when it runs out, the task to cancel and the reply to check."""

    __slots__ = ("expired", "response", "task", "when")

    def __init__(self, when: float, task: asyncio.Task[Any], response: Response) -> None:
        self.when = when
        self.task = task
        self.response = response
        self.expired = False


class Deadlines:
    """The time budgets of the requests in flight on one event loop, served by a single timer.

    A timer per request (`loop.call_later`) costs a handle, a heap push with Python comparisons and a
    cancelled handle left in the loop's heap. Here a request only joins and leaves a set; the one timer
    is armed for the earliest deadline in flight. When it fires, every request whose deadline has come
    is expired exactly as its own timer would have done it (its task cancelled, unless the reply is
    streaming), and the timer is armed again for the earliest deadline left. Requests that finish in
    time never touch the timer, except one that brings the earliest deadline forward (a tighter app
    budget), which re-arms it.
    """

    __slots__ = ("clock", "loop", "pending", "timer", "timer_at")

    #: asyncio runs a timer once `when < loop.time() + clock resolution`; deadlines are due by the same rule.
    RESOLUTION = time.get_clock_info("monotonic").resolution

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        #: The loop's clock: `loop.time()`, read straight from time.monotonic for asyncio's own loops.
        self.clock: Callable[[], float] = (
            time.monotonic if type(loop).time is asyncio.BaseEventLoop.time else loop.time
        )
        self.pending: set[_Deadline] = set()
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = math.inf

    def add(self, entry: _Deadline) -> None:
        """Watch `entry`: at `entry.when` (loop time), cancel its task and mark it expired, unless its
        reply is streaming by then or it was discarded first."""
        self.pending.add(entry)
        if entry.when < self.timer_at:
            self._arm(entry.when)

    def discard(self, entry: _Deadline) -> None:
        """The request finished (or was expired): forget its deadline."""
        self.pending.discard(entry)

    def _arm(self, when: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer_at = when
        self.timer = self.loop.call_at(when, self._expire)

    def _expire(self) -> None:
        self.timer = None
        self.timer_at = math.inf
        due = self.clock() + self.RESOLUTION
        earliest = math.inf
        for entry in list(self.pending):
            if entry.when < due:
                self.pending.discard(entry)
                if not entry.response.streaming:
                    entry.expired = True
                    entry.task.cancel()
            elif entry.when < earliest:
                earliest = entry.when
        if earliest < math.inf:
            self._arm(earliest)
