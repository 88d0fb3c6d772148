"""The session and login-state cookies: sealed (sealing.py), HttpOnly, SameSite=Lax, Secure over https,
and scoped to the app's own path as the browser sees it (`/user/ada/gingee/todo/`).

The session holds the user (no server-side store), so any process or host with the same session keys
reads it: no sticky sessions. The login-state cookie lives only between leaving for the provider and
coming back, on the app's `_auth/` path.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ...engine.request import Request
from ...engine.response import Response
from .settings import LOGIN_STATE_MAX_AGE, LoginSettings
from .user import User

#: A cookie above this size may be dropped by the browser (4096 bytes with its name and attributes).
MAX_COOKIE_VALUE = 3800
AUTH_PATH = "/_auth/"


def app_path(request: Request) -> str:
    """The app's path as the browser sees it, with a trailing slash (a cookie's Path)."""
    return (urlsplit(request.app_url).path or "/").rstrip("/") + "/"


def _secure(request: Request) -> bool:
    return request.app_url.startswith("https://")


def read_user(settings: LoginSettings, request: Request) -> User | None:
    """The user the request's session cookie names, or None (no cookie, or one we cannot open)."""
    return user_from_cookies(settings, request.cookies)


def user_from_cookies(settings: LoginSettings, cookies: dict[str, str]) -> User | None:
    """The user a session cookie among `cookies` names, or None (a websocket upgrade reads it so too)."""
    value = cookies.get(settings.cookie)
    if not value:
        return None
    data = settings.session.open(value, audience=settings.app)
    if data is None:
        return None
    try:
        return User.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None


def seal_user(settings: LoginSettings, user: User) -> str:
    """The session cookie's value for `user` (the raw claims trimmed if they would not fit)."""
    value = settings.session.seal(user.to_dict(), audience=settings.app, max_age=settings.max_age)
    if len(value) > MAX_COOKIE_VALUE:
        value = settings.session.seal(
            user.trimmed().to_dict(), audience=settings.app, max_age=settings.max_age
        )
    return value


def start_session(settings: LoginSettings, request: Request, response: Response, user: User) -> None:
    """Log `user` in: set the session cookie (and drop the login state)."""
    response.set_cookie(
        settings.cookie,
        seal_user(settings, user),
        max_age=settings.max_age,
        path=app_path(request),
        secure=_secure(request),
    )
    clear_login_state(settings, request, response)


def end_session(settings: LoginSettings, request: Request, response: Response) -> None:
    """Log out: clear the session and any login state."""
    _expire(response, settings.cookie, app_path(request), _secure(request))
    clear_login_state(settings, request, response)


def keep_login_state(
    settings: LoginSettings, request: Request, response: Response, state: dict[str, object]
) -> None:
    """Remember a login in flight (state, PKCE verifier, nonce, where to go after) until it comes back."""
    value = settings.state.seal(state, audience=settings.app, max_age=LOGIN_STATE_MAX_AGE)
    response.set_cookie(
        settings.state_cookie,
        value,
        max_age=LOGIN_STATE_MAX_AGE,
        path=app_path(request).rstrip("/") + AUTH_PATH,
        secure=_secure(request),
    )


def read_login_state(settings: LoginSettings, request: Request) -> dict[str, object] | None:
    """The login in flight this browser started, or None."""
    value = request.cookies.get(settings.state_cookie)
    return settings.state.open(value, audience=settings.app) if value else None


def clear_login_state(settings: LoginSettings, request: Request, response: Response) -> None:
    """Drop the login-state cookie."""
    _expire(response, settings.state_cookie, app_path(request).rstrip("/") + AUTH_PATH, _secure(request))


def _expire(response: Response, name: str, path: str, secure: bool) -> None:
    response.set_cookie(
        name, "", max_age=0, expires="Thu, 01 Jan 1970 00:00:00 GMT", path=path, secure=secure
    )
