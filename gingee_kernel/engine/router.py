"""Manifest routes: `/users/:id`, optional `/:id?`, and a trailing `*` wildcard.

Routes are tried in order and the first whose path and method match wins. A path that matches only
with other methods yields a MethodNotAllowed carrying the `Allow` list (405). Params are
percent-decoded one by one, so `%2F` inside a param never splits it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

_PARAM = re.compile(r"^:([A-Za-z_][A-Za-z0-9_]*)(\?)?$")
_STAR = "__star"
ALL = "ALL"


@dataclass(frozen=True)
class Route:
    """One compiled route: its pattern, method (or ALL), box-relative script and handler name."""

    path: str
    method: str
    script: str
    handler: str = "handle"
    #: "stream": the script reads the body as it arrives (`g.request.stream()`); "buffer": read ahead.
    body: str = "buffer"
    regex: re.Pattern[str] = field(repr=False, compare=False, default=re.compile(""))
    names: tuple[str, ...] = field(repr=False, compare=False, default=())
    #: routes.json `"login": true`: only a logged-in user (app.json `auth`) gets to the script.
    login: bool = False
    #: routes.json `body` given as a JSON Schema: the JSON body must match it (422 before the script runs).
    body_schema: dict[str, Any] | None = field(default=None, compare=False)
    #: routes.json `response`: the JSON Schema of a 2xx reply, for the app's OpenAPI document.
    response_schema: dict[str, Any] | None = field(default=None, compare=False)
    #: routes.json `summary`, for the OpenAPI document.
    summary: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class RouteMatch:
    """A route that matched, with its decoded params."""

    route: Route
    params: dict[str, str]


@dataclass(frozen=True)
class MethodNotAllowed:
    """The path matched routes, but none for this method."""

    allow: tuple[str, ...]


def compile_route(
    path: str,
    method: str = "GET",
    script: str = "",
    handler: str = "handle",
    body: str = "buffer",
    login: bool = False,
) -> Route:
    """Compile a route pattern; raises ValueError naming the bad segment."""
    segments = path.strip("/").split("/") if path.strip("/") else []
    pattern = ""
    names: list[str] = []
    for index, segment in enumerate(segments):
        if segment == "*":
            if index != len(segments) - 1:
                raise ValueError(f"route {path!r}: '*' is only allowed as the last segment")
            pattern += f"(?:/(?P<{_STAR}>.*))?"
            names.append("*")
            continue
        param = _PARAM.match(segment)
        if param:
            name, optional = param.groups()
            if name in names:
                raise ValueError(f"route {path!r}: parameter :{name} appears twice")
            names.append(name)
            group = f"/(?P<{name}>[^/]+)"
            pattern += f"(?:{group})?" if optional else group
        elif ":" in segment or "*" in segment or "?" in segment:
            raise ValueError(
                f"route {path!r}: segment {segment!r} is not valid; use ':name', ':name?' or a final '*'"
            )
        else:
            pattern += "/" + re.escape(segment)
    regex = re.compile(f"^{pattern}/?$" if pattern else "^/?$")
    return Route(path, method.upper(), script, handler, body, regex, tuple(names), login)


class Router:
    """An ordered list of routes."""

    def __init__(self, routes: list[Route] | None = None) -> None:
        self.routes = list(routes or [])

    def match(self, method: str, path: str) -> RouteMatch | MethodNotAllowed | None:
        """Find the route for `method` and the app-relative raw (still percent-encoded) `path`."""
        allowed: list[str] = []
        for route in self.routes:
            found = route.regex.match(path)
            if found is None:
                continue
            if route.method == ALL or route.method == method or (method == "HEAD" and route.method == "GET"):
                return RouteMatch(route, _params(found.groupdict()))
            if route.method not in allowed:
                allowed.append(route.method)
        if allowed:
            if "GET" in allowed and "HEAD" not in allowed:
                allowed.append("HEAD")
            return MethodNotAllowed(tuple(allowed))
        return None


def _params(groups: dict[str, Any]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in groups.items():
        key = "*" if name == _STAR else name
        if value is None:
            if key == "*":
                params[key] = ""
            continue
        params[key] = unquote(value, errors="strict")
    return params
