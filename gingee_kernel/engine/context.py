"""The current app, carried by a context variable.

The engine sets it around every request, job, websocket message and startup script; modules read it
through `current_app()` or `require()` and never receive the app as an argument.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

from ..errors import NoAppContext, PermissionDenied
from ..metrics.series import record_permission_denied

if TYPE_CHECKING:
    from .app import AppRuntime
    from .request import Request

_current_app: ContextVar[AppRuntime | None] = ContextVar("gingee_current_app", default=None)
#: When the current request's time budget runs out (time.monotonic()), or None outside a request.
_deadline: ContextVar[float | None] = ContextVar("gingee_request_deadline", default=None)
#: The request being answered (for modules that build URLs back to the app), or None outside one.
_request: ContextVar[Request | None] = ContextVar("gingee_current_request", default=None)


def current_app() -> AppRuntime:
    """The app whose code is running now; raises NoAppContext outside one."""
    app = _current_app.get()
    if app is None:
        raise NoAppContext(
            "no Gingee app is running here: modules work inside a server script's handle(g), a job, "
            "a websocket callback or a startup script (in a notebook, inside a route of an App)."
        )
    return app


def require(permission: str) -> AppRuntime:
    """The current app, after checking it holds `permission`; raises PermissionDenied otherwise."""
    app = current_app()
    if permission not in app.grants:
        record_permission_denied(app.name, permission)
        raise PermissionDenied(app.name, permission)
    return app


@contextlib.contextmanager
def app_context(app: AppRuntime) -> Iterator[AppRuntime]:
    """Run the body with `app` as the current app."""
    token = _current_app.set(app)
    try:
        yield app
    finally:
        _current_app.reset(token)


def set_current_app(app: AppRuntime | None) -> None:
    """Set the current app for the rest of this context (the engine calls it once per task)."""
    _current_app.set(app)


def set_current_request(request: Request | None) -> None:
    """Set the request being answered for the rest of this context (the engine, once per request)."""
    _request.set(request)


def current_request() -> Request | None:
    """The request being answered, or None in a job, a websocket callback or a notebook cell."""
    return _request.get()


@contextlib.contextmanager
def set_deadline(when: float | None) -> Iterator[None]:
    """Mark the current request's budget as ending at `when` (time.monotonic()) for the body's duration."""
    token = _deadline.set(when)
    try:
        yield
    finally:
        _deadline.reset(token)


def current_deadline() -> float | None:
    """When the current request's budget runs out (time.monotonic()), or None outside a request."""
    return _deadline.get()


def time_left(cap: float) -> float:
    """Seconds a call may still take: `cap`, or less if the current request's budget ends sooner."""
    deadline = _deadline.get()
    if deadline is None:
        return cap
    return max(0.001, min(cap, deadline - time.monotonic()))
