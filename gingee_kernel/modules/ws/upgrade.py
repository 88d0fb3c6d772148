"""The upgrade checks, in order, before any handshake; each refusal is an HttpError with its status.

1. the path is an app's websocket endpoint, else 404 (a broken app 503; no `websockets` grant 403)
2. the app is not in maintenance, else 503
3. the server's, then the app's, connection cap, else 503
4. the Origin is the same origin or listed in `allowed_origins`, else 403
5. the app's auth hook accepts, else 401 (or the status it chose)

Host-neutral: a host builds an UpgradeRequest from whatever it received.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from ...engine.app import AppRuntime
from ...engine.context import app_context
from ...errors import GingeeError, HttpError, PermissionDenied
from ...metrics import series as metrics
from ..login.session import user_from_cookies
from .calls import run_script
from .hub import Hub, Reservation, hub_for
from .settings import AppSettings, app_settings, in_memory
from .socket import SocketContext

if TYPE_CHECKING:
    from ...engine.project import Project

log = logging.getLogger("gingee.websockets")

_REFUSED_CODES = {401: "UNAUTHORIZED", 403: "FORBIDDEN"}


@dataclass(frozen=True)
class UpgradeRequest:
    """A websocket upgrade as the host received it; `path` is raw and starts with `/<app>`."""

    path: str
    query: str
    headers: Mapping[str, str]
    remote_ip: str = ""


@dataclass
class Admission:
    """An upgrade that passed every check: the app, its settings, the handler and the auth meta."""

    hub: Hub
    app: AppRuntime
    settings: AppSettings
    handler: Callable[..., Any]
    meta: dict[str, Any]
    ctx: SocketContext
    reservation: Reservation

    def release(self) -> None:
        """Give the connection slot back (the Session does it at close; the host if it never opened)."""
        self.reservation.release()


async def admit(project: Project, request: UpgradeRequest) -> Admission:
    """Run the upgrade checks in order; raises HttpError with the status to answer."""
    _, _, tail = request.path.partition("/")
    name, slash, rest = tail.partition("/")
    rest = slash + rest
    if project.dev and name:
        await project.refresh(name)
    app = _app(project, name)
    settings = _settings(app)
    if settings is None or not settings.matches(rest):
        where = f"; app '{name}' serves websockets at /{name}{settings.path}" if settings else ""
        raise HttpError(404, "WEBSOCKET_NOT_FOUND", f"no websocket endpoint at {request.path}{where}")
    if "websockets" not in app.grants:
        metrics.record_permission_denied(app.name, "websockets")
        raise HttpError(403, "ACCESS_DENIED", str(PermissionDenied(app.name, "websockets")))
    if app.maintenance:
        raise HttpError(
            503,
            "MAINTENANCE",
            f"app '{name}' is in maintenance; try again later",
            headers={"Retry-After": "30"},
        )
    hub = hub_for(project.shared, project.config)
    reservation = hub.reserve(app.name, settings.max_connections)
    try:
        origin = request.headers.get("Origin")
        if not origin_allowed(origin, request.headers.get("Host", ""), settings.allowed_origins):
            raise HttpError(
                403,
                "ORIGIN_NOT_ALLOWED",
                f"websocket connections from origin {origin} are not allowed; list it in app.json "
                "websockets.allowed_origins",
            )
        ctx = _context(app, settings, request)
        meta = await authenticate(app, settings, ctx)
        handler = _function(app, settings, "handler")
        await hub.start()
    except BaseException:
        reservation.release()
        raise
    return Admission(hub, app, settings, handler, meta, replace(ctx, meta=meta), reservation)


def origin_allowed(origin: str | None, host: str, allowed: tuple[str, ...]) -> bool:
    """Jupyter's rule: no Origin (no browser) or the same origin passes, else only listed ones ("*": any)."""
    if origin is None or "*" in allowed:
        return True
    origin = origin.rstrip("/").lower()
    if origin in allowed:
        return True
    return bool(host) and urlsplit(origin).netloc == host.lower()


def _app(project: Project, name: str) -> AppRuntime:
    app = project.apps.get(name)
    if app is not None:
        return app
    if name in project.errors:
        raise HttpError(
            503,
            "APP_UNAVAILABLE",
            f"app '{name}' failed to load; the server log says why",
            headers={"Retry-After": "5"},
        )
    raise HttpError(404, "APP_NOT_FOUND", f"no app named '{name}'" if name else "no app here")


def _settings(app: AppRuntime) -> AppSettings | None:
    try:
        return app_settings(app)
    except (GingeeError, ValueError) as exc:
        app.log.error("app '%s': websockets are misconfigured: %s", app.name, exc)
        raise HttpError(
            500, "WEBSOCKET_MISCONFIGURED", "the app's websocket settings are broken; see the log"
        ) from None


def _function(app: AppRuntime, settings: AppSettings, key: str) -> Callable[..., Any]:
    path = settings.handler if key == "handler" else settings.auth
    assert path is not None
    kept = in_memory(app, path)
    if kept is not None:
        return kept
    if app.isolated:  # it runs in the app's worker process; this relays to it
        from ...isolation.sockets_master import relay_function

        return relay_function(app, key)
    try:
        return app.pipeline.scripts.function(path, "handle")
    except Exception:
        app.log.exception(
            "app '%s': the websocket %s script box/%s cannot be loaded", app.name, key, path.name
        )
        raise HttpError(
            500, "WEBSOCKET_MISCONFIGURED", f"the app's websocket {key} script failed to load"
        ) from None


def _context(app: AppRuntime, settings: AppSettings, request: UpgradeRequest) -> SocketContext:
    query = {k: v[-1] for k, v in parse_qs(request.query, keep_blank_values=True).items()}
    cookies: dict[str, str] = {}
    header = request.headers.get("Cookie")
    if header:
        try:
            cookies = {k: m.value for k, m in SimpleCookie(header).items()}
        except CookieError:
            cookies = {}
    info = app.pipeline.info
    login = app.pipeline.login
    user = user_from_cookies(login, cookies) if login is not None else None
    return SocketContext(
        info, app.log, settings.path, query, request.headers, cookies, request.remote_ip, user=user
    )


async def authenticate(app: AppRuntime, settings: AppSettings, ctx: SocketContext) -> dict[str, Any]:
    """Run the app's auth hook `handle(ctx)`; its answer becomes the socket's meta, or a refusal."""
    if settings.auth is None:
        return {}
    hook = _function(app, settings, "auth")
    budget = app.pipeline.limits.request_timeout
    with app_context(app):
        try:
            result = await asyncio.wait_for(run_script(app, hook, ctx), budget)
        except HttpError:
            raise
        except asyncio.TimeoutError:
            raise HttpError(504, "GATEWAY_TIMEOUT", f"the auth hook took longer than {budget:g} s") from None
        except Exception:
            app.log.exception("app '%s': the websocket auth hook failed; refusing with 401", app.name)
            raise HttpError(401, "UNAUTHORIZED", "the connection was refused") from None
    return _meta(app, result)


def _meta(app: AppRuntime, result: Any) -> dict[str, Any]:
    if result is None or result is False:
        raise HttpError(401, "UNAUTHORIZED", "the app's auth hook refused the connection")
    if result is True:
        return {}
    if not isinstance(result, dict):
        app.log.error(
            "app '%s': the websocket auth hook returned a %s; expected a dict, True, False or None (refused)",
            app.name,
            type(result).__name__,
        )
        raise HttpError(401, "UNAUTHORIZED", "the connection was refused")
    if result.get("ok") is False:
        status = result.get("status", 401)
        if not isinstance(status, int) or not 400 <= status <= 599:
            app.log.error("app '%s': the auth hook's status %r is not 4xx/5xx; using 401", app.name, status)
            status = 401
        code = str(result.get("error") or _REFUSED_CODES.get(status, "CONNECTION_REFUSED"))
        raise HttpError(
            status, code, str(result.get("reason") or "the app's auth hook refused the connection")
        )
    meta = {k: v for k, v in result.items() if k != "ok"}
    tenant = meta.get("tenant")
    if tenant is not None and (
        isinstance(tenant, bool)
        or not isinstance(tenant, (str, int))
        or not str(tenant)
        or ":" in str(tenant)
    ):
        app.log.error(
            "app '%s': the auth hook returned tenant %r; a tenant is a string without ':'", app.name, tenant
        )
        raise HttpError(500, "INVALID_TENANT", "the app's auth hook returned an invalid tenant; see the log")
    return meta
