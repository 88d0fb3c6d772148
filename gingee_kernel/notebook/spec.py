"""What an export writes, read either from a live App or statically from a notebook file.

Both paths end in the same `AppSpec`: the app's config, its routes and jobs (each naming the top-level
`def` that handles it, in a `Notebook` scope), and the grants asked for explicitly.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ManifestError
from .model import (
    NotebookRoute,
    check_route,
    normalise_methods,
    replace_route,
    socket_scripts,
    validated,
    websocket_section,
    with_module_config,
)
from .source import Cell, ExportError, Notebook, Stmt, app_decorator, split_percent

if TYPE_CHECKING:
    from .app import App

#: Calls on an app that export skips: they run or show the app, they do not define it.
SKIPPED = ("serve", "dashboard", "request", "export", "stop")


@dataclass
class Handler:
    """The top-level function that handles a route or job, and the notebook it is defined in."""

    name: str
    stmt: Stmt
    scope: Notebook


@dataclass
class AppSpec:
    """Everything an export needs to know about one app."""

    name: str
    config: dict[str, Any]
    #: (path, methods, handler, body, login) per route, in definition order.
    #: (path, methods, handler, body, login, response schema) of each route.
    routes: list[tuple[str, tuple[str, ...], Handler, Any, bool, Any]] = field(default_factory=list)
    jobs: dict[str, tuple[Handler, dict[str, Any]]] = field(default_factory=dict)
    #: `@app.websocket` functions (handler, auth) by the box script app.json `websockets` names.
    sockets: dict[str, Handler] = field(default_factory=dict)
    grants: set[str] = field(default_factory=set)


# -- from a live App ---------------------------------------------------------------------------------------


def live_spec(app: App) -> AppSpec:
    """The spec of a live App: its own config and routes, sources from the kernel's history or module."""
    scopes: dict[str, Notebook] = {}
    handlers: dict[int, Handler] = {}

    def handler(func: Any) -> Handler:
        if id(func) not in handlers:
            handlers[id(func)] = live_handler(func, scopes)
        return handlers[id(func)]

    spec = AppSpec(app.name, app.config, grants=set(app.permissions))
    for route in app.routes:
        spec.routes.append(
            (route.path, route.methods, handler(route.func), route.body, route.login, route.response)
        )
    for name, job in app.jobs.items():
        spec.jobs[name] = (handler(job.func), dict(job.options))
    for script, func in socket_scripts(app.config, app.socket_functions).items():
        spec.sockets[script] = handler(func)
    return spec


def live_handler(func: Any, scopes: dict[str, Notebook]) -> Handler:
    """The Handler of a live function: its exact source (inspect), resolved in the scope that defined it."""
    real = inspect.unwrap(func)
    name = real.__name__
    if getattr(real, "__code__", None) is not None and real.__code__.co_freevars:
        free = ", ".join(real.__code__.co_freevars)
        raise ExportError(
            f"`{name}` uses {free} from the function that defined it; export copies top-level functions "
            "only, so define it at the top level of a cell"
        )
    scope = _scope_of(real, scopes)
    known = scope.bindings.get(name)
    try:
        text = textwrap.dedent(inspect.getsource(real))
        node = ast.parse(text).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        node = None
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
        label = known.cell.label if known is not None else getattr(real.__code__, "co_filename", "?")
        index = known.index if known is not None else len(scope.statements)
        return Handler(name, scope.add(node, Cell(label, text), index), scope)
    if known is not None and known.kind == "def":
        return Handler(name, known, scope)
    raise ExportError(f"cannot find the source of `{name}`; define it with `def` in a cell")


def _ipython() -> Any:
    shell = sys.modules.get("IPython")
    return shell.get_ipython() if shell is not None else None  # type: ignore[attr-defined]


def _scope_of(func: Any, scopes: dict[str, Notebook]) -> Notebook:
    from .app import App

    module_name = getattr(func, "__module__", None) or "__main__"
    if module_name in scopes:
        return scopes[module_name]
    shell = _ipython()
    if shell is not None and func.__globals__ is shell.user_ns:
        history = shell.user_ns.get("In", [])
        cells = [Cell(f"In [{i}]", src) for i, src in enumerate(history) if i and src]
        scope = Notebook(cells, strict=False)
    else:
        module = sys.modules.get(module_name)
        try:
            source = inspect.getsource(module) if module is not None else None
        except (OSError, TypeError):
            source = None
        if source is None:
            raise ExportError(
                f"cannot read the source of module {module_name!r} that defines `{func.__name__}`"
            )
        scope = Notebook(
            split_percent(source, (getattr(module, "__file__", None) or module_name).rsplit("/")[-1])
        )
    scope.app_vars |= {k for k, v in func.__globals__.items() if isinstance(v, App)}
    scopes[module_name] = scope
    return scope


# -- from a notebook file, without running it ----------------------------------------------------------------


def _literal(node: ast.expr, scope: Notebook, stmt: Stmt, what: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        pass
    constant = scope.bindings.get(node.id) if isinstance(node, ast.Name) else None
    if constant is not None and constant.kind == "literal" and len(constant.binds) == 1:
        try:
            return ast.literal_eval(constant.node.value)  # type: ignore[attr-defined]
        except (ValueError, TypeError, SyntaxError):
            pass
    raise ExportError(
        f"{stmt.cell.label}: {what} needs literal arguments that export can read without running the "
        f"notebook; `{stmt.segment(node)}` is not one (write the value itself, or a constant set to it)"
    )


def _arguments(call: ast.Call, scope: Notebook, stmt: Stmt, what: str) -> tuple[list[Any], dict[str, Any]]:
    args = [_literal(a, scope, stmt, what) for a in call.args]
    kwargs: dict[str, Any] = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            raise ExportError(
                f"{stmt.cell.label}: {what} takes `**{stmt.segment(keyword.value)}`; export "
                "needs each option written out as name=value"
            )
        kwargs[keyword.arg] = _literal(keyword.value, scope, stmt, what)
    return args, kwargs


def _checked(label: str, check: Any, *args: Any) -> Any:
    try:
        return check(*args)
    except (ManifestError, ValueError, TypeError) as exc:
        raise ExportError(f"{label}: {exc}") from None


def _placeholder(handler: Handler) -> Any:
    """A function named like the handler, so `replace_route` applies the live App's re-run rules."""

    def func() -> None:
        return None

    func.__name__ = handler.name
    func.handler = handler  # type: ignore[attr-defined]
    return func


def static_specs(scope: Notebook) -> list[AppSpec]:
    """Every app a notebook defines, read from its statements in order without running any of them."""
    return _StaticReader(scope).read()


class _StaticReader:
    """Replays a notebook's definitions (App, use, grant, route, job) on AppSpecs, statement by statement."""

    def __init__(self, scope: Notebook) -> None:
        self.scope = scope
        self.by_var: dict[str, AppSpec] = {}
        self.routes: dict[int, list[NotebookRoute]] = {}
        self.handlers: dict[str, Handler] = {}

    def read(self) -> list[AppSpec]:
        apps: dict[str, AppSpec] = {}
        for stmt in self.scope.statements:
            node = stmt.node
            for name in stmt.binds:
                self.by_var.pop(name, None)
            if stmt.kind == "app":
                spec = self._app(stmt, node.value)  # type: ignore[attr-defined]
                self.by_var.update(dict.fromkeys(stmt.binds, spec))
                apps[spec.name] = spec
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                handler = self.handlers[node.name] = Handler(node.name, stmt, self.scope)
                for decorator in reversed(node.decorator_list):
                    found = app_decorator(decorator, set(self.by_var))
                    if found is not None:
                        self._register(self.by_var[found[0]], found[1], found[2], handler, stmt)
            elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
                self._expression(node.value, stmt)
        for spec in apps.values():
            spec.routes = [
                (r.path, r.methods, r.func.handler, r.body, r.login, r.response)  # type: ignore[attr-defined]
                for r in self.routes[id(spec)]
            ]
        return list(apps.values())

    def _app(self, stmt: Stmt, call: ast.Call) -> AppSpec:
        args, kwargs = _arguments(call, self.scope, stmt, "App(...)")
        kwargs.pop("root", None)
        name = args[0] if args else kwargs.pop("name", None)
        label = f"{stmt.cell.label}: App({name!r})"
        spec = AppSpec(str(name), _checked(label, validated, {"name": name, **kwargs}, label))
        self.routes[id(spec)] = []
        return spec

    def _register(self, spec: AppSpec, kind: str, call: ast.Call, handler: Handler, stmt: Stmt) -> None:
        label = f"{stmt.cell.label}: @app.{kind} on `{handler.name}`"
        if kind == "websocket":
            self._websocket(spec, call, handler, stmt, label)
            return
        args, kwargs = _arguments(call, self.scope, stmt, f"@app.{kind}(...)")
        if kind == "job":
            name = args[0] if args else kwargs.pop("name", None)
            spec.jobs[str(name or handler.name)] = (handler, kwargs)
            return
        path = args[0] if args else kwargs.get("path")
        methods = _checked(label, normalise_methods, args[1] if len(args) > 1 else kwargs.get("methods"))
        body = kwargs.get("body", "buffer")
        login = kwargs.get("login", False)
        response = kwargs.get("response")
        _checked(label, check_route, path, methods, body, login, response)
        route = NotebookRoute(path, methods, _placeholder(handler), body, login, response)
        self.routes[id(spec)] = replace_route(self.routes[id(spec)], route)

    def _websocket(self, spec: AppSpec, call: ast.Call, handler: Handler, stmt: Stmt, label: str) -> None:
        """`@app.websocket(path, auth=check, **options)`: the app's endpoint; `auth` may name a function."""
        given = next((k.value for k in call.keywords if k.arg == "auth"), None)
        auth = self.handlers.get(given.id) if isinstance(given, ast.Name) else None
        literal = ast.Call(
            call.func, call.args, [k for k in call.keywords if auth is None or k.arg != "auth"]
        )
        args, kwargs = _arguments(literal, self.scope, stmt, "@app.websocket(...)")
        path = args[0] if args else kwargs.pop("path", "/ws")
        if auth is not None:
            kwargs["auth"] = _placeholder(auth)
        section = _checked(label, websocket_section, path, kwargs)
        spec.config = _checked(label, validated, {**spec.config, "websockets": section}, label)
        spec.sockets = {section["handler"]: handler}
        if auth is not None:
            spec.sockets[section["auth"]] = auth

    def _expression(self, call: ast.Call, stmt: Stmt) -> None:
        func = call.func
        if isinstance(func, ast.Call):  # app.route("/x")(handler): a decorator applied by hand
            found = app_decorator(func, set(self.by_var))
            target = (
                self.handlers.get(call.args[0].id)
                if call.args and isinstance(call.args[0], ast.Name)
                else None
            )
            if found is not None and target is not None:
                self._register(self.by_var[found[0]], found[1], found[2], target, stmt)
            return
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
            return
        spec = self.by_var.get(func.value.id)
        if spec is None or func.attr in SKIPPED:
            return
        if func.attr == "use":
            args, kwargs = _arguments(call, self.scope, stmt, "app.use(...)")
            label = f"{stmt.cell.label}: app.use({args[0] if args else ''!r})"
            spec.config = _checked(label, validated, with_module_config(spec.config, args[0], kwargs), label)
        elif func.attr == "grant":
            args, _ = _arguments(call, self.scope, stmt, "app.grant(...)")
            spec.grants |= {str(a) for a in args}
