"""The notebook App's model: config, routes and jobs defined in cells, validated like app.json.

Re-running a cell replaces what it defined: a route is keyed by its function name, and a route with
the same path and method under another name is replaced too; a job is keyed by its name.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..engine import manifest
from ..engine.router import compile_route
from ..errors import ManifestError

Handler = Callable[..., Any]
F = TypeVar("F")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ALL")
#: Modules that need a grant, by the name an author imports them under.
GATED = (
    "db", "cache", "fs", "httpclient", "queue", "websockets", "mail", "storage", "search", "metrics",
    "image", "pdf", "zip",
)  # fmt: skip
#: app.json keys that hold a list of named entries (`app.use("db", name="main", ...)` adds or replaces one).
LIST_KEYS = {"db": "name", "storage": "name", "search": "name"}
#: The box scripts an `@app.websocket` handler and its auth function are exported as (one endpoint per app).
WS_HANDLER = "websockets/handler.py"
WS_AUTH = "websockets/auth.py"


class AppConfigError(ManifestError):
    """A notebook config call produced an invalid app.json; shown in the cell without a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"AppConfigError: {self}"]


@dataclass
class NotebookRoute:
    """A route defined in a cell."""

    path: str
    methods: tuple[str, ...]
    func: Handler
    #: routes.json `body`: "stream" hands the script the body as it arrives (`g.request.stream()`); a
    #: JSON Schema (a dict) is what the JSON body must match (else 422).
    body: Any = "buffer"
    #: routes.json `login`: only a logged-in user (app.json `auth`) reaches the function.
    login: bool = False
    #: routes.json `response`: the JSON Schema of a 2xx reply (the OpenAPI document).
    response: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        """The route's identity across cell re-runs: its function name."""
        return self.func.__name__


@dataclass
class NotebookJob:
    """A queue job handler defined in a cell."""

    name: str
    func: Handler
    options: dict[str, Any] = field(default_factory=dict)


def validated(config: dict[str, Any], label: str) -> dict[str, Any]:
    """`config` if it is a valid app.json; AppConfigError naming the key and the expected form otherwise."""
    try:
        manifest.validate("app", config, label)
    except ManifestError as exc:
        raise AppConfigError(exc.file, exc.pointer, exc.expected) from None
    return config


def with_module_config(config: dict[str, Any], module: str, options: dict[str, Any]) -> dict[str, Any]:
    """A copy of `config` with `app.use(module, **options)` applied (not yet validated)."""
    updated = copy.deepcopy(config)
    key_field = LIST_KEYS.get(module)
    if key_field is not None:
        entries = [e for e in updated.get(module, []) if e.get(key_field) != options.get(key_field)]
        entries.append(dict(options))
        updated[module] = entries
    elif options:
        current = updated.get(module)
        updated[module] = {**current, **options} if isinstance(current, dict) else dict(options)
    else:
        updated[module] = {}
    return updated


def websocket_section(path: Any, options: dict[str, Any]) -> dict[str, Any]:
    """app.json `websockets` for `@app.websocket(path, **options)` (not yet validated): the handler, and an
    auth function, named as the box scripts export writes them; an auth string stays a box script."""
    if "handler" in options:
        raise AppConfigError(
            "@app.websocket",
            "/websockets/handler",
            "no handler= option: the decorated function is the handler",
        )
    section = {"path": path, **options, "handler": WS_HANDLER}
    auth = section.pop("auth", None)
    if auth is not None and not (callable(auth) or isinstance(auth, str)):
        raise AppConfigError(
            "@app.websocket", "/websockets/auth", f"a function auth(ctx) or a box script name, not {auth!r}"
        )
    if auth is not None:
        section["auth"] = WS_AUTH if callable(auth) else auth
    return section


def socket_scripts(config: dict[str, Any], functions: dict[str, F]) -> dict[str, F]:
    """The in-memory websocket scripts app.json `websockets` names (handler, auth), by script name."""
    section = config.get("websockets") or {}
    names = {section.get("handler"), section.get("auth")}
    return {name: func for name, func in functions.items() if name in names}


def normalise_methods(methods: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Upper-cased methods; ValueError naming the bad one."""
    if methods is None:
        return ("GET",)
    items = [methods] if isinstance(methods, str) else list(methods)
    result = tuple(m.upper() for m in items)
    for method in result:
        if method not in METHODS:
            raise ValueError(f"unknown HTTP method {method!r}; expected one of {', '.join(METHODS)}")
    return result


def check_route(
    path: str, methods: tuple[str, ...], body: Any = "buffer", login: Any = False, response: Any = None
) -> None:
    """Raise AppConfigError if the path pattern would not compile, `body` is not "buffer", "stream" or a
    JSON Schema, `response` is not a JSON Schema (or None), or `login` is not a bool."""
    from ..engine.validation import schema_problem

    if isinstance(body, dict):
        problem = schema_problem(body)
        if problem:
            raise AppConfigError("@app.route", "/body", f"a JSON Schema (2020-12): {problem}")
    elif body not in ("buffer", "stream"):
        raise AppConfigError("@app.route", "/body", f'"buffer", "stream" or a JSON Schema, not {body!r}')
    if response is not None:
        problem = schema_problem(response) if isinstance(response, dict) else "it is not a dict"
        if problem:
            raise AppConfigError("@app.route", "/response", f"a JSON Schema (2020-12): {problem}")
    if not isinstance(login, bool):
        raise AppConfigError("@app.route", "/login", f"True or False, not {login!r}")
    try:
        for method in methods:
            compile_route(path, method)
    except ValueError as exc:
        raise AppConfigError("@app.route", "/path", str(exc)) from None


def replace_route(routes: list[NotebookRoute], new: NotebookRoute) -> list[NotebookRoute]:
    """Routes with `new` in place of the one it redefines (same function name, or same path and method)."""
    clashes = {(new.path, m) for m in new.methods}
    kept: list[NotebookRoute] = []
    position: int | None = None
    for route in routes:
        if route.key == new.key or any((route.path, m) in clashes for m in route.methods):
            position = len(kept) if position is None else position
            continue
        kept.append(route)
    kept.insert(len(kept) if position is None else position, new)
    return kept


def inferred_permissions(config: dict[str, Any], funcs: list[Handler]) -> set[str]:
    """Grants the app needs: modules it configures plus gated modules its handlers reference."""
    needed = {module for module in GATED if module in config}
    for func in funcs:
        needed |= referenced_modules(func)
    return needed


def referenced_modules(func: Handler, _seen: set[int] | None = None) -> set[str]:
    """Gated Gingee modules that `func` (and notebook helpers it calls) reference by global name."""
    seen = _seen if _seen is not None else set()
    code = getattr(func, "__code__", None)
    if code is None or id(code) in seen:
        return set()
    seen.add(id(code))
    found: set[str] = set()
    names = set(_code_names(code))
    globals_ = getattr(func, "__globals__", {})
    for name in names:
        value = globals_.get(name)
        module_name = getattr(value, "__name__", "")
        if isinstance(module_name, str) and module_name.startswith("gingee_kernel.modules."):
            short = module_name.rsplit(".", 1)[-1]
            if short in GATED:
                found.add(short)
        elif callable(value) and getattr(value, "__module__", None) == "__main__":
            found |= referenced_modules(value, seen)
    return found


def _code_names(code: Any) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names.extend(_code_names(const))
    return names
