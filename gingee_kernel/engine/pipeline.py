"""One app's request pipeline: pick the target (manifest route, file script or static file) and run it."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from types import FunctionType
from typing import Any

from ..errors import HttpError
from ..modules.login.gate import login_required
from ..modules.login.session import read_user
from ..modules.login.settings import LoginSettings
from .app import AppRuntime
from .context import _current_app as _CURRENT_APP
from .context import _request as _CURRENT_REQUEST
from .g import AppInfo, G
from .limits import Gate, Limits
from .paths import box_script, decode_segments
from .request import Request
from .response import Response
from .router import MethodNotAllowed, RouteMatch, Router
from .scripts import ScriptLoader
from .static import not_found, serve_static
from .validation import check_body

Handler = Callable[[G], Any]
#: App-relative paths gingee answers itself; no script or static file is served from under them.
BUILTIN_PREFIX = "/_gingee/"
#: The login endpoints of an app with an `auth` section (modules/login/endpoints.py).
AUTH_PREFIX = "/_auth/"
SIGNED_STORAGE = "/_gingee/storage/"
OPENAPI = "/_gingee/openapi.json"
DOCS = "/_gingee/docs"
#: Built-in pages whose answer depends on whether the operator asks (`Request.operator`).
OPERATOR_PAGES = (OPENAPI, DOCS)

_CO_COROUTINE = inspect.CO_COROUTINE


def is_coroutine_function(func: Any) -> bool:
    """`inspect.iscoroutinefunction(func)`, answered at once for a plain `async def` function (a script's
    usual `handle`) from its code flags."""
    if type(func) is FunctionType and func.__code__.co_flags & _CO_COROUTINE:
        return True
    return inspect.iscoroutinefunction(func)


class Target:
    """A script to run: its box-relative key, resolved path, function name, route params and the
    pattern that found it (the routes.json path, or `/<script>` for file routes)."""

    __slots__ = ("builtin", "function", "handler", "key", "login", "params", "path", "pattern", "schema")

    def __init__(self, key: str, path: Path, function: str, params: dict[str, str], pattern: str) -> None:
        self.key = key
        self.path = path
        self.function = function
        self.params = params
        self.pattern = pattern
        #: True for an endpoint gingee answers itself (signed storage URLs): no middleware runs.
        self.builtin = False
        #: Only a logged-in user may run it (routes.json `"login": true`).
        self.login = False
        #: The JSON Schema its body must match (routes.json `body` as a schema), or None.
        self.schema: dict[str, Any] | None = None
        #: The script function, once looked up, on the targets a pipeline remembers (file routes outside
        #: dev mode, where scripts never change under a pipeline: a reload builds a new one).
        self.handler: Handler | None = None


class AppPipeline:
    """Routes, scripts, middleware and limits of one loaded app."""

    def __init__(
        self,
        app: AppRuntime,
        router: Router,
        scripts: ScriptLoader,
        includes: list[Path],
        limits: Limits,
        executor: Executor,
        handlers: dict[str, Handler] | None = None,
        hidden: set[Path] | None = None,
        login: LoginSettings | None = None,
    ) -> None:
        self.app = app
        #: The app's checked `auth` section (login providers, session), or None if it has none.
        self.login = login
        self.router = router
        self.scripts = scripts
        self.includes = includes
        self.limits = limits
        self.gate = Gate(limits.max_concurrent, "app")
        self.executor = executor
        # In-memory handlers (notebook apps) keyed by route script name, used before files.
        self.handlers = handlers or {}
        # Scripts that URLs never run by file routing: startup scripts, middleware, job and schedule
        # scripts, and everything in box/jobs/.
        self.hidden = set(hidden or ()) | set(includes)
        self.jobs_dir = app.box / "jobs"
        self._route_paths = {r.script: app.box / r.script for r in router.routes}
        # Outside dev mode, file routes that resolved to a script are remembered (reload forgets them).
        self._file_routes: dict[str, Target] | None = None if scripts.watch else {}
        config = app.config
        self.info = AppInfo(
            name=app.name,
            version=str(config.get("version", "0.0.0")),
            description=str(config.get("description", "")),
            env=dict(config.get("env", {})),
            config=config,
        )

    def resolve(self, method: str, rest: str) -> Target | tuple[list[str], bool]:
        """A script Target, or the decoded segments (and trailing slash) of a static file."""
        if rest.startswith(BUILTIN_PREFIX):
            return self._builtin(rest)
        if self.login is not None and rest.startswith(AUTH_PREFIX):
            return self._auth_endpoint()
        match = self.router.match(method, rest) if self.router.routes else None
        if isinstance(match, RouteMatch):
            route = match.route
            target = Target(
                route.script, self._route_paths[route.script], route.handler, match.params, route.path
            )
            target.login = route.login
            target.schema = route.body_schema
            return target
        if isinstance(match, MethodNotAllowed):
            raise HttpError(
                405,
                "METHOD_NOT_ALLOWED",
                f"{method} is not allowed here; allowed: {', '.join(match.allow)}",
                headers={"Allow": ", ".join(match.allow)},
            )
        known = self._file_routes.get(rest) if self._file_routes is not None else None
        if known is not None:
            return known  # shared by requests: read-only but for its cached handler (params: see run)
        segments = decode_segments(rest)
        if segments and segments[0] == "box":
            raise HttpError(403, "ACCESS_DENIED", "the app's box/ folder is private")
        if segments and "." not in segments[-1]:
            key = "/".join(segments) + ".py"
            script = box_script(self.app.box, key)
            if (
                script not in self.hidden
                and not script.is_relative_to(self.jobs_dir)
                and script.is_file()
                and self.scripts.has_function(script)
            ):
                key = str(script.relative_to(self.app.box))
                target = Target(key, script, "handle", {}, "/" + key[:-3])
                if self._file_routes is not None and len(self._file_routes) < 4096:
                    self._file_routes[rest] = target
                return target
        return segments, rest.endswith("/") or not segments

    def _builtin(self, rest: str) -> Target:
        if rest == OPENAPI:
            from .openapi import serve_openapi

            target = Target("_gingee/openapi", self.app.box, "serve_openapi", {}, OPENAPI)
            target.builtin = True
            target.handler = serve_openapi
            return target
        if rest == DOCS or rest.startswith(DOCS + "/"):
            return self._docs(rest[len(DOCS) + 1 :] if rest != DOCS else None)
        if not rest.startswith(SIGNED_STORAGE):
            raise not_found()
        from ..modules.storage_drivers.endpoint import serve_signed

        target = Target("_gingee/storage", self.app.box, "serve_signed", {}, SIGNED_STORAGE + "*")
        target.builtin = True
        target.handler = serve_signed
        return target

    def _docs(self, file: str | None) -> Target:
        from .apidocs import serve_docs

        target = Target(
            "_gingee/docs", self.app.box, "serve_docs", {} if file is None else {"file": file}, DOCS
        )
        target.builtin = True
        target.handler = serve_docs
        return target

    def _auth_endpoint(self) -> Target:
        from ..modules.login.endpoints import serve_auth

        target = Target("_auth", self.app.box, "serve_auth", {}, AUTH_PREFIX + "*")
        target.builtin = True
        target.handler = serve_auth
        return target

    def streams_body(self, method: str, rest: str) -> bool:
        """Whether the request's body goes to the script as it arrives (a `"body": "stream"` route, or a
        PUT to a signed storage URL) rather than read ahead."""
        if rest.startswith(SIGNED_STORAGE):
            return method == "PUT"
        match = self.router.match(method, rest) if self.router.routes else None
        return isinstance(match, RouteMatch) and match.route.body == "stream"

    def serve_static(self, segments: list[str], trailing_slash: bool, response: Response) -> None:
        """Answer with a public file."""
        serve_static(self.app.root, self.app.box, segments, trailing_slash, response)

    async def run(self, target: Target, request: Request, response: Response) -> None:
        """Run middleware then the target script as this app, inside the request's time budget."""
        # A remembered file-route target is shared, so its (empty) params are never handed out.
        request.params = target.params or {}
        g = G(self.info, self.app.log, request, response)
        # set_current_app and set_current_request, straight on their context variables.
        _CURRENT_APP.set(self.app)
        _CURRENT_REQUEST.set(request)
        login = self.login
        if login is not None:
            g.user = read_user(login, request)
            if target.login and g.user is None:
                raise login_required(login, request)
        elif target.login:
            raise login_required(None, request)
        if target.schema is not None:
            check_body(target.schema, request.content_type, request.body)
        if not target.builtin:
            for include in self.includes:
                await self.call(self.scripts.function(include), g)
                if response.sent:
                    return
        handler = target.handler or self._handler(target)
        if type(handler) is FunctionType and handler.__code__.co_flags & _CO_COROUTINE:
            result = await handler(g)  # what call() does for an async function, one coroutine fewer
        else:
            result = await self.call(handler, g)
        if not response.sent:
            if result is None:
                response.send(
                    b"", status=204 if response.status == 200 else response.status, content_type="text/plain"
                )
            else:
                response.send(result)

    def _handler(self, target: Target) -> Handler:
        if self.handlers:
            handler = self.handlers.get(target.key)
            if handler is not None:
                return handler
        try:
            handler = self.scripts.function(target.path, target.function)
        except FileNotFoundError:
            raise not_found() from None
        if self._file_routes is not None and not self.handlers:
            target.handler = handler
        return handler

    async def call(self, func: Handler, g: G) -> Any:
        """Await an async handler, or run a sync one in the bounded script thread pool."""
        if is_coroutine_function(func):
            return await func(g)
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self.executor, contextvars.copy_context().run, func, g)
        if inspect.isawaitable(result):
            return await result
        return result
