"""Login-protected routes: a browser that is not logged in is sent to log in; an API client gets 401 JSON."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlencode

from ...engine.request import Request
from ...errors import HttpError
from .settings import LoginSettings

_DOT_SEGMENT = re.compile(r"(^|/)\.{1,2}(/|$)")


def wants_html(request: Request) -> bool:
    """A browser navigating (GET/HEAD that accepts HTML), as opposed to an API call."""
    return request.method in ("GET", "HEAD") and "text/html" in request.headers.get("Accept", "")


def safe_next(value: object) -> str:
    """`value` if it is a path inside the app (`/items?open=1`), else "/": never another site, never a
    scheme, `//host`, a backslash, a control character or a `..` that climbs out of the app."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//") or len(value) > 2048:
        return "/"
    if any(c == "\\" or ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        return "/"
    path = value.split("?", 1)[0].split("#", 1)[0]
    decoded = unquote(path)
    if (
        _DOT_SEGMENT.search(path)
        or _DOT_SEGMENT.search(decoded)
        or "\\" in decoded
        or decoded.startswith("//")
    ):
        return "/"
    return value


def here(request: Request) -> str:
    """The request's own path and query inside the app (what `next` should come back to)."""
    rest = request.path.split("/", 2)[2] if request.path.count("/") >= 2 else ""
    query = request.url.split("?", 1)[1] if "?" in request.url else ""
    return "/" + rest + (f"?{query}" if query else "")


def login_url(settings: LoginSettings, request: Request, next_path: str = "/") -> str:
    """Where to log in: the only provider's login, or the page that lists them."""
    base = request.app_url + "/_auth/login"
    if len(settings.providers) == 1:
        base += "/" + quote(next(iter(settings.providers)), safe="")
    return base + "?" + urlencode({"next": safe_next(next_path)})


def login_required(settings: LoginSettings | None, request: Request | None) -> HttpError:
    """The answer to a request that needs a login it does not have."""
    if settings is None or request is None:
        return HttpError(401, "LOGIN_REQUIRED", "log in first (this app configures no login providers)")
    url = login_url(settings, request, here(request)) if settings.providers else None
    if url is not None and wants_html(request):
        return HttpError(
            302, "LOGIN_REQUIRED", "log in first", headers={"Location": url, "Cache-Control": "no-store"}
        )
    extra = {"login": url} if url else {}
    return HttpError(
        401,
        "LOGIN_REQUIRED",
        "log in first",
        headers={"WWW-Authenticate": 'Cookie realm="gingee"'},
        extra=extra,
    )
