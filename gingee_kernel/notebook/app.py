"""`gk.App`: build a Gingee app in notebook cells, call it in-process, serve it live, export it."""

from __future__ import annotations

import inspect
import json as jsonlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

from tornado.httputil import HTTPHeaders

from ..engine.context import app_context
from ..engine.dispatch import Incoming
from ..engine.loader import APP_NAME
from ..errors import ManifestError
from ..modules.login.session import seal_user
from ..modules.login.settings import check_providers
from ..modules.login.user import User, as_user
from .host import LiveHost
from .model import (
    AppConfigError,
    Handler,
    NotebookJob,
    NotebookRoute,
    check_route,
    inferred_permissions,
    normalise_methods,
    replace_route,
    socket_scripts,
    validated,
    websocket_section,
    with_module_config,
)
from .reply import BufferTransport, Reply
from .runtime import install, job_settings, uninstall
from .serving import ServeInfo, announce

if TYPE_CHECKING:
    from .deploy import Deployment
    from .jobs_widget import JobsView
    from .live_socket import LiveSocket

_REPRESENTATION = ("content-type", "content-encoding", "content-language")


class JobTable(dict[str, NotebookJob]):
    """`app.jobs`: the app's `@app.job`s by name; called, `app.jobs()` shows them running (a widget).

    Deleting an entry (`del app.jobs["name"]`) takes the job off a loaded app at once."""

    def __init__(self, app: App) -> None:
        super().__init__()
        self._app = app

    def __call__(self, limit: int = 50) -> JobsView:
        """Live widgets: the app's recent jobs (status, attempts, progress, error), the queue counters,
        and Retry / Discard buttons on dead jobs; refreshed while shown, until `.stop()` or `app.stop()`."""
        from .jobs_widget import jobs_view

        return jobs_view(self._app, limit)

    def __delitem__(self, name: str) -> None:
        super().__delitem__(name)
        self._app._refresh()


class App:
    """A Gingee app defined in a notebook.

    `App("todo")`, then `app.use(...)` for module configs, `@app.route(...)`, `@app.job(...)` and
    `@app.websocket(...)` for handlers, `app.request(...)` and `app.connect(...)` to try it, `app.serve()`
    to serve it live under Jupyter, and `app.export("web")` to write it out for `gingee serve`.
    """

    #: Apps created in this kernel, by name (the `%gingee` magic uses the latest).
    registry: ClassVar[dict[str, App]] = {}
    latest: ClassVar[App | None] = None

    def __init__(self, name: str, *, root: str | Path | None = None, **config: Any) -> None:
        if not APP_NAME.match(name):
            raise AppConfigError(
                "App()", "/name", "an app name of letters, digits, '-' and '_' (it is a URL segment)"
            )
        self.name = name
        self.config: dict[str, Any] = validated({"name": name, **config}, f"App({name!r})")
        self.root = Path(root) if root is not None else Path.cwd() / "web" / name
        self.routes: list[NotebookRoute] = []
        self.jobs = JobTable(self)
        self.extra_grants: set[str] = set()
        #: `@app.websocket` functions by the box script app.json `websockets` names them as.
        self.socket_functions: dict[str, Handler] = {}
        self.serving: ServeInfo | None = None
        self._lock = threading.Lock()
        self._stop_hooks: list[Callable[[], None]] = []  # open views to stop with the app
        self._user: User | None = None  # app.login_as(...)
        App.registry[name] = self
        App.latest = self

    # -- definition -------------------------------------------------------------------------------
    def use(self, module: str, **options: Any) -> App:
        """Configure a module as app.json would (`app.use("db", name="main", type="sqlite", ...)`)."""
        label = f"app.use({module!r})"
        config = validated(with_module_config(self.config, module, options), label)
        if module == "auth":
            try:
                check_providers(config["auth"], label)
            except ManifestError as exc:
                raise AppConfigError(exc.file, exc.pointer, exc.expected) from None
        previous, self.config = self.config, config
        try:
            self._refresh()
        except Exception:
            self.config = previous  # a config that cannot be installed is not kept (nor exported)
            raise
        return self

    def use_plugin(self, distribution: str, version: str = "", **config: Any) -> App:
        """Use a plugin's modules in this app, as app.json `plugins` does
        (`app.use_plugin("gingee-hello", ">=1,<2", greeting="Hi")`; routes then call `plugins.hello...`).
        Checked in the cell against gingee.json `plugins.allow` of the Jupyter project; exported as is."""
        from ..plugin_host import discovery, policy

        label = f"app.use_plugin({distribution!r})"
        entry: Any = {"version": version, "config": config} if config else version
        plugins = {**(self.config.get("plugins") or {}), distribution: entry}
        config_ = validated({**self.config, "plugins": plugins}, label)
        host = LiveHost.get()
        try:
            policy.check(
                distribution, version, discovery.find(distribution), host.project.config, label, "/plugins"
            )
        except ManifestError as exc:
            raise AppConfigError(exc.file, exc.pointer, exc.expected) from None
        previous, self.config = self.config, config_
        try:
            self._refresh()
        except Exception:
            self.config = previous
            raise
        return self

    def route(
        self,
        path: str,
        methods: str | list[str] | None = None,
        *,
        body: str | dict[str, Any] = "buffer",
        login: bool = False,
        response: dict[str, Any] | None = None,
    ) -> Callable[[Handler], Handler]:
        """Decorator: serve `path` (`/todos/:id`, `:name?`, trailing `*`) with the function, for `methods`.

        `body="stream"` is routes.json's `"body": "stream"`: the function reads the body as it arrives
        (`g.request.stream()`, or `storage.put(key, g.request)`), up to `limits.max_upload_size`.
        `login=True` is routes.json's `"login": true`: only a logged-in user (`g.user`) reaches the
        function; a browser is sent to log in, an API call gets 401 (`app.use("auth", providers=...)`).
        `body={...}` (a JSON Schema) is what a JSON body must match, else 422 with the pointer of the bad
        value before the function runs; `response={...}` documents the reply (`app.openapi()`)."""
        verbs = normalise_methods(methods)
        check_route(path, verbs, body, login, response)

        def register(func: Handler) -> Handler:
            with self._lock:
                route = NotebookRoute(path, verbs, func, body, login, response)
                self.routes = replace_route(self.routes, route)
            self._refresh()
            return func

        return register

    def job(self, name: str | None = None, **options: Any) -> Callable[[Handler], Handler]:
        """Decorator: handle queue jobs called `name` (default: the function name)."""

        def register(func: Handler) -> Handler:
            job = NotebookJob(name or func.__name__, func, dict(options))
            job_settings(job)  # a bad name or option fails in the defining cell
            self.jobs[job.name] = job
            self._refresh()
            return func

        return register

    def websocket(self, path: str = "/ws", **options: Any) -> Callable[[Handler], Handler]:
        """Decorator: accept websockets at `path` with `func(socket, ctx)`, the app's one endpoint.

        `options` are app.json `websockets` keys (`allowed_origins`, `max_message_bytes`, `idle_timeout`,
        `max_connections`), and `auth`: a function `auth(ctx)` or a box script. Re-running replaces it."""
        label = "@app.websocket"
        section = websocket_section(path, options)
        validated({**self.config, "websockets": section}, label)  # a bad option fails in the defining cell
        auth = options.get("auth")

        def register(func: Handler) -> Handler:
            if not callable(func):
                raise AppConfigError(label, "/websockets/handler", "a function handler(socket, ctx)")
            functions = {section["handler"]: func}
            if callable(auth):
                functions[section["auth"]] = auth
            with self._lock:
                self.config = {**self.config, "websockets": section}
                self.socket_functions = functions
            self._refresh()
            return func

        return register

    def grant(self, *permissions: str) -> App:
        """Grant modules the app uses indirectly (inferred grants cover direct use)."""
        self.extra_grants |= set(permissions)
        self._refresh()
        return self

    @property
    def public(self) -> bool:
        """True when the app is served to anyone, without Jupyter's auth."""
        return bool(self.config.get("public", False))

    @property
    def permissions(self) -> set[str]:
        """What the app needs: configured modules, modules its handlers reference, explicit grants."""
        funcs = [r.func for r in self.routes] + [j.func for j in self.jobs.values()]
        funcs += socket_scripts(self.config, self.socket_functions).values()
        needed = inferred_permissions(self.config, funcs) | self.extra_grants
        needed |= self._plugin_permissions()
        return needed | {"queue"} if self.jobs else needed  # jobs run on the queue

    def _plugin_permissions(self) -> set[str]:
        """The `plugin:<permission>` grants of the plugins bound to the live app (known once it loaded)."""
        host = LiveHost._instance
        runtime = (
            host.project.apps.get(self.name) if host is not None and self.config.get("plugins") else None
        )
        bound = (runtime.state.get("plugins") or {}) if runtime is not None else {}
        return {b.permission for b in bound.values()}

    # -- running ----------------------------------------------------------------------------------
    def _refresh(self) -> None:
        host = LiveHost._instance
        if host is not None and host.running and self.name in host.project.apps:
            host.call(install(host, self))

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: dict[str, Any] | None = None,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        query: dict[str, Any] | None = None,
        user: User | dict[str, Any] | str | None = None,
    ) -> Reply:
        """Call the app in-process, as a client would over HTTP, and return the Reply.

        `user` (a User, a dict of claims, or an email) makes the call as that user, logged in: it carries a
        real session cookie, so `g.user` and `login=True` routes behave as after a browser login. Without
        it, the user `app.login_as(...)` set (if any) is used."""
        host = LiveHost.get()
        runtime = host.call(install(host, self))
        raw_headers = HTTPHeaders(headers or {})
        who = self._user if user is None else as_user(user)
        if who is not None:
            cookie = self._session_cookie(runtime, who, "app.request(user=...)")
            raw_headers["Cookie"] = "; ".join(filter(None, [raw_headers.get("Cookie"), cookie]))
        payload = b""
        if json is not None:
            payload = jsonlib.dumps(json).encode()
            raw_headers.setdefault("Content-Type", "application/json")
        elif data is not None:
            payload = urlencode(data, doseq=True).encode()
            raw_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif body is not None:
            payload = body.encode() if isinstance(body, str) else body
        if not path.startswith("/"):
            path = "/" + path
        path, _, query_string = path.partition("?")
        if query:
            query_string = "&".join(filter(None, [query_string, urlencode(query, doseq=True)]))
        full = f"/{self.name}{path}"
        incoming = Incoming(
            method.upper(), full, query_string, f"http://notebook{full}", raw_headers, payload, ""
        )
        limit = host.engine.streamed_body_limit(method.upper(), full) or host.engine.max_body_size(full)
        if len(payload) > limit:
            return Reply(413, [("Content-Type", "application/json")], b'{"error": "PAYLOAD_TOO_LARGE"}')
        transport = BufferTransport()
        response = host.call(host.engine.dispatch(incoming, transport))
        if transport.started:  # a streamed reply, ended or not (send_object ends its own)
            return Reply(transport.status, transport.headers, b"".join(transport.chunks))
        headers = response.header_lines()
        if response.status in (204, 304):  # as the HTTP hosts (Tornado) send them: no representation headers
            headers = [(k, v) for k, v in headers if k.lower() not in _REPRESENTATION]
        return Reply(response.status, headers, response.body or b"")

    def login_as(self, user: User | dict[str, Any] | str | None) -> User | None:
        """Make later `app.request(...)` calls as `user` (a User, a dict of claims like `{"sub": "ada",
        "email": ...}`, or an email), logged in without a browser; `login_as(None)` logs out. Returns the
        User. The app needs an `auth` section (`app.use("auth", providers=...)`, or `app.use("auth")`)."""
        if user is None:
            self._user = None
            return None
        who = as_user(user)
        host = LiveHost.get()
        self._session_cookie(host.call(install(host, self)), who, "app.login_as(...)")  # checks auth is set
        self._user = who
        return who

    @staticmethod
    def _session_cookie(runtime: Any, user: User, label: str) -> str:
        settings = runtime.pipeline.login
        if settings is None:
            raise AppConfigError(
                label, "/auth", 'an auth section to log in to: app.use("auth", providers=...)'
            )
        return f"{settings.cookie}={seal_user(settings, user)}"

    def call(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run `func(*args, **kwargs)` as this app, on the kernel's host, and return its result: a module
        call from a cell, with the app's grants and config, as a route would make it
        (`app.call(search.query, "todos", "milk")`, `app.call(db.query, "main", "SELECT ...")`)."""
        host = LiveHost.get()
        runtime = host.call(install(host, self))

        async def run() -> Any:
            with app_context(runtime):
                result = func(*args, **kwargs)
                return await result if inspect.isawaitable(result) else result

        return host.call(run())

    def connect(
        self, path: str = "/ws", *, query: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> LiveSocket:
        """Open a websocket to the app in-process, as a client would (`ws.send(...)`, `ws.receive()`)."""
        from .live_socket import connect

        host = LiveHost.get()
        host.call(install(host, self))
        return connect(host, self.name, path, query or {}, headers or {})

    def serve(self) -> ServeInfo:
        """Serve the app live under Jupyter (`{base_url}gingee/<name>/`) from this kernel, and say where."""
        host = LiveHost.get()
        host.call(install(host, self))
        host.register(self.name, public=self.public)
        self.serving = announce(self.name, host)
        return self.serving

    def openapi(self) -> dict[str, Any]:
        """The app's OpenAPI 3.1 document, as `<app>/_gingee/openapi.json` serves it (routes, their path
        parameters, and the `body` / `response` schemas given to `@app.route`)."""
        from ..engine.openapi import document

        host = LiveHost.get()
        runtime = host.call(install(host, self))
        return document(runtime)

    def outbox(self, limit: int = 20) -> Any:
        """Live widget: the mail this app sent through the console driver (headers, text, the HTML part
        rendered in a sandboxed frame, attachments), newest first; refreshed while shown."""
        from .outbox_widget import outbox_view

        return outbox_view(self, limit)

    def dashboard(self) -> Any:
        """Live widgets: requests, latency and errors per route, and the last requests."""
        from .dashboard import dashboard

        return dashboard(self)

    def stop(self) -> None:
        """Stop serving: remove the registration and unload the app."""
        host = LiveHost._instance
        self.serving = None
        for hook in list(self._stop_hooks):
            hook()
        self._stop_hooks.clear()
        if host is not None and host.running:
            host.unregister(self.name)
            host.call(uninstall(host, self.name))

    # -- files ------------------------------------------------------------------------------------
    def export(self, dir: str | Path = "web") -> Path:
        """Write the app to `<dir>/<name>/` (manifests and box scripts) and return that folder."""
        from .export import export_app

        return export_app(self, dir)

    def pack(self, out: str | Path | None = None) -> Path:
        """Export the app and pack it into a `.gin` package (default `<name>-<version>.gin` here)."""
        from .deploy import pack_app

        return pack_app(self, out)

    def deploy(
        self,
        server: str,
        *,
        token: str | None = None,
        dry_run: bool = False,
        force: bool = False,
        grant_declared: bool = False,
    ) -> Deployment:
        """Pack the app and install it on (or upgrade it on) the `gingee serve` at `server`
        (`https://host:7070`) through its operator API; prints the plan and shows the upload's progress.
        `token`: the server's admin token (default $GINGEE_ADMIN_TOKEN); `dry_run`: the plan only."""
        from .deploy import deploy_app

        return deploy_app(
            self, server, token=token, dry_run=dry_run, force=force, grant_declared=grant_declared
        )

    @classmethod
    def load(cls, folder: str | Path) -> App:
        """An App read back from an app folder (`App.load("web/todo")`), ready to request and serve."""
        from .load import load_app

        return load_app(cls, folder)

    def __repr__(self) -> str:
        socket = self.config.get("websockets")
        parts = f"{len(self.routes)} route(s), {len(self.jobs)} job(s)"
        parts += f", websocket {socket.get('path', '/ws')}" if socket else ""
        state = f" serving at {self.serving.path}" if self.serving else ""
        return f"<gingee App {self.name!r}: {parts}{state}>"
