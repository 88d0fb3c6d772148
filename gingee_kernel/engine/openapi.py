"""An app's OpenAPI 3.1 document, built from its routes: routes.json (with the `body` and `response`
schemas an author gave), file routes and notebook routes. Served at `<app>/_gingee/openapi.json` to the
operator (loopback or the admin token under `gingee serve`, the logged-in user in Jupyter), to anyone when
app.json says `"openapi": {"public": true}`."""

from __future__ import annotations

import re
from typing import Any

from ..errors import HttpError
from .app import AppRuntime
from .context import current_app
from .g import G
from .request import Request
from .router import ALL, Route

#: The methods a route that takes any method (ALL, and file routes) is documented with.
ANY_METHOD = ("get", "post", "put", "patch", "delete")
_PARAM = re.compile(r"^:([A-Za-z_][A-Za-z0-9_]*)(\?)?$")
ERROR = {
    "type": "object",
    "required": ["error", "reason"],
    "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
}


def document(app: AppRuntime, server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a loaded app (`server_url`: the app's URL as clients see it)."""
    pipeline = app.pipeline
    paths: dict[str, dict[str, Any]] = {}
    for route in pipeline.router.routes:
        for path, names in _paths(route.path):
            methods = ANY_METHOD if route.method == ALL else (route.method.lower(),)
            for method in methods:
                paths.setdefault(path, {}).setdefault(method, _operation(route, method, path, names))
    named = {route.script for route in pipeline.router.routes}
    for key in _file_routes(app, named):
        path = "/" + key[:-3]
        for method in ANY_METHOD:
            paths.setdefault(path, {}).setdefault(method, _operation(None, method, path, []))
    info = pipeline.info
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": info.name, "version": info.version, "description": info.description or ""},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": {"Error": ERROR}},
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc


def _paths(pattern: str) -> list[tuple[str, list[str]]]:
    """OpenAPI paths for a route pattern: `:id` is `{id}`; an optional `:id?` gives the path with and
    without it; a final `*` is `{path}` (OpenAPI has neither optional nor multi-segment parameters)."""
    variants: list[tuple[list[str], list[str]]] = [([], [])]
    for segment in [s for s in pattern.strip("/").split("/") if s]:
        param = _PARAM.match(segment)
        if segment == "*":
            variants = [([*parts, "{path}"], [*names, "path"]) for parts, names in variants] + variants
        elif param:
            name, optional = param.groups()
            grown = [([*parts, f"{{{name}}}"], [*names, name]) for parts, names in variants]
            variants = grown + (variants if optional else [])
        else:
            variants = [([*parts, segment], names) for parts, names in variants]
    return [("/" + "/".join(parts), names) for parts, names in variants]


def _operation(route: Route | None, method: str, path: str, names: list[str]) -> dict[str, Any]:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "root"
    operation: dict[str, Any] = {"operationId": f"{method}_{slug}"}
    if route is not None and route.summary:
        operation["summary"] = route.summary
    if names:
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in names
        ]
    responses: dict[str, Any] = {
        "default": {"description": "the script's reply, or an error",
                    "content": {"application/json": {"schema": {}}}},
    }  # fmt: skip
    if route is not None and route.response_schema is not None:
        responses["200"] = {
            "description": "the script's reply",
            "content": {"application/json": {"schema": route.response_schema}},
        }
    if route is not None and route.body_schema is not None and method not in ("get", "head", "delete"):
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": route.body_schema}},
        }
        responses["422"] = {
            "description": "the body does not match the schema (`pointer` names the bad value)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    elif route is not None and route.body == "stream":
        operation["requestBody"] = {
            "content": {
                "application/octet-stream": {
                    "schema": {"type": "string", "contentMediaType": "application/octet-stream"}
                }
            }
        }
    operation["responses"] = responses
    return operation


def _file_routes(app: AppRuntime, named: set[str]) -> list[str]:
    """Box-relative scripts a URL runs by file (`box/x.py` at `/x`), not named by routes.json."""
    pipeline = app.pipeline
    keys = []
    for script in sorted(app.box.rglob("*.py")):
        key = str(script.relative_to(app.box))
        if (
            key in named
            or script in pipeline.hidden
            or script.is_relative_to(pipeline.jobs_dir)
            or any(part.startswith(("_", ".")) for part in script.relative_to(app.box).parts)
        ):
            continue
        try:
            if pipeline.scripts.has_function(script):
                keys.append(key)
        except Exception:  # a script that does not import is not served either; its request says why
            continue
    keys.extend(k for k in pipeline.handlers if k not in named and k not in keys)
    return keys


def is_public(app: AppRuntime) -> bool:
    """app.json `"openapi": {"public": true}`."""
    return bool((app.config.get("openapi") or {}).get("public"))


def check_reader(app: AppRuntime, request: Request) -> None:
    """403 unless the document is public or the operator asks (the rule of openapi.json and the docs page)."""
    if not (is_public(app) or request.operator):
        raise HttpError(
            403, "ACCESS_DENIED",
            "the OpenAPI document is for the operator (loopback, or gingee.json admin.token as a bearer "
            'token); app.json "openapi": {"public": true} shows it to everyone',
        )  # fmt: skip


async def serve_openapi(g: G) -> None:
    """`<app>/_gingee/openapi.json`."""
    app = current_app()
    assert g.request is not None and g.response is not None
    check_reader(app, g.request)
    g.response.send(document(app, g.request.app_url))
