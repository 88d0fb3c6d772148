"""The app's login endpoints, answered by gingee itself under `<app>/_auth/`:

    GET  _auth/login                  the providers to choose from (or straight on, if there is one)
    GET  _auth/login/<provider>?next= leave for the provider (state, PKCE S256 and nonce kept in a sealed
                                      login-state cookie)
    GET  _auth/callback/<provider>    back from the provider: check everything, start the session
    GET|POST _auth/logout?next=       end the session (both cookies)
    GET  _auth/me                     the user as JSON, or 401

`next` is a path inside the app (`/items?open=1`); anything else goes to the app's root. A refused login
gets a clear 400/401 page (JSON for API clients), and leaves nothing in the session.
"""

from __future__ import annotations

import hmac
from html import escape
from typing import Any
from urllib.parse import quote, unquote, urlencode

from ...engine.context import current_app
from ...engine.g import G
from ...engine.request import Request
from ...engine.response import Response
from ...errors import HttpError, ModuleConfigError
from .gate import safe_next, wants_html
from .session import clear_login_state, end_session, keep_login_state, read_login_state, start_session
from .settings import LoginSettings

PREFIX = "/_auth/"
_CLIENTS = "login.clients"


async def serve_auth(g: G) -> Any:
    """Answer one request under `<app>/_auth/`."""
    app = current_app()
    settings: LoginSettings | None = app.pipeline.login
    request, response = g.request, g.response
    assert request is not None and response is not None and settings is not None
    rest = request.path.split("/", 2)[2][len(PREFIX) - 1 :] if request.path.count("/") >= 2 else ""
    action, _, provider = rest.partition("/")
    provider = unquote(provider)
    if action == "me" and not provider:
        _allow(request, "GET", "HEAD")
        if g.user is None:
            raise HttpError(401, "LOGIN_REQUIRED", "not logged in", extra={"login": _choose_url(request)})
        response.headers["Cache-Control"] = "no-store"
        return {"user": g.user.to_dict()}
    if action == "logout" and not provider:
        _allow(request, "GET", "HEAD", "POST")
        end_session(settings, request, response)
        return _redirect(response, request.app_url + safe_next(request.query.get("next")), 303)
    if action == "login" and not provider:
        _allow(request, "GET", "HEAD")
        return _chooser(settings, request, response)
    if action in ("login", "callback") and provider:
        _allow(request, "GET", "HEAD")
        if provider not in settings.providers:
            raise HttpError(404, "NOT_FOUND", f"this app has no login provider named {provider!r}")
        if action == "login":
            return await _login(settings, request, response, provider)
        return await _callback(settings, request, response, provider)
    raise HttpError(404, "NOT_FOUND", "no such login endpoint")


def _allow(request: Request, *methods: str) -> None:
    if request.method not in methods:
        raise HttpError(
            405,
            "METHOD_NOT_ALLOWED",
            f"{request.method} is not allowed here",
            headers={"Allow": ", ".join(methods)},
        )


def _redirect(response: Response, location: str, status: int = 302) -> None:
    response.headers["Cache-Control"] = "no-store"
    response.redirect(location, status)


def _choose_url(request: Request) -> str:
    return request.app_url + "/_auth/login"


def _redirect_uri(request: Request, provider: str) -> str:
    """The callback URL to register with the provider: the app's own URL as the browser sees it."""
    return f"{request.app_url}/_auth/callback/{quote(provider, safe='')}"


def client_for(provider: str) -> Any:
    """The app's client for `provider` (made once per loaded app)."""
    app = current_app()
    clients = app.state.setdefault(_CLIENTS, {})
    client = clients.get(provider)
    if client is None:
        try:
            from .clients import ProviderClient
        except ImportError as exc:  # authlib and httpx2 are the `auth` extra
            raise ModuleConfigError(
                f"app '{app.name}': social login needs authlib and httpx2 ({exc}); pip install 'gingee[auth]'"
            ) from None
        client = clients[provider] = ProviderClient(app, app.pipeline.login.providers[provider])
    return client


async def _login(settings: LoginSettings, request: Request, response: Response, provider: str) -> None:
    from .clients import LoginFailed

    redirect_uri = _redirect_uri(request, provider)
    try:
        flow = await client_for(provider).start(redirect_uri)
    except LoginFailed as exc:
        return _refuse(settings, request, response, exc.status, exc.code, exc.reason)
    state = {
        "provider": provider,
        "state": flow["state"],
        "code_verifier": flow["code_verifier"],
        "nonce": flow["nonce"],
        "redirect_uri": redirect_uri,
        "next": safe_next(request.query.get("next")),
    }
    keep_login_state(settings, request, response, state)
    return _redirect(response, flow["url"])


async def _callback(settings: LoginSettings, request: Request, response: Response, provider: str) -> None:
    from .clients import LoginFailed

    query = request.query
    if query.get("error"):
        reason = str(query.get("error_description") or query["error"])[:300]
        return _refuse(settings, request, response, 401, "LOGIN_REFUSED", f"the provider said: {reason}")
    state = read_login_state(settings, request)
    if state is None:
        return _refuse(
            settings, request, response, 400, "LOGIN_STATE_MISSING",
            "this login was not started in this browser, or took longer than 10 minutes; start again",
        )  # fmt: skip
    given = query.get("state", "")
    if state.get("provider") != provider or not hmac.compare_digest(str(state.get("state")), given):
        return _refuse(
            settings, request, response, 400, "LOGIN_STATE_INVALID",
            "the login's state does not match the one this browser started (a forged or stale link)",
        )  # fmt: skip
    code = query.get("code")
    if not code:
        return _refuse(settings, request, response, 400, "LOGIN_STATE_INVALID", "the provider sent no code")
    try:
        user = await client_for(provider).finish(
            code,
            str(state["redirect_uri"]),
            str(state["code_verifier"]),
            state.get("nonce"),  # type: ignore[arg-type]
        )
    except LoginFailed as exc:
        return _refuse(settings, request, response, exc.status, exc.code, exc.reason)
    start_session(settings, request, response, user)
    current_app().log.info("app '%s': %s logged in with %s", settings.app, user.id, provider)
    return _redirect(response, request.app_url + safe_next(state.get("next")))


def _refuse(
    settings: LoginSettings, request: Request, response: Response, status: int, code: str, reason: str
) -> None:
    """A refused login: its login state dropped, no session started, and a page (or JSON) that says why.
    A session the browser already had is left alone: a forged callback link must not log anyone out."""
    clear_login_state(settings, request, response)
    response.headers["Cache-Control"] = "no-store"
    if not wants_html(request):
        raise HttpError(status, code, reason, headers={"Cache-Control": "no-store"})  # the cookies still go
    again = escape(request.app_url + "/_auth/login", quote=True)
    page = (
        "<!doctype html><meta charset=utf-8><title>Login failed</title>"
        f'<h1>Login failed</h1><p>{escape(reason)}</p><p><a href="{again}">Try again</a></p>'
    )
    response.send(page, status=status, content_type="text/html; charset=utf-8")


def _chooser(settings: LoginSettings, request: Request, response: Response) -> None:
    next_path = safe_next(request.query.get("next"))
    if len(settings.providers) == 1:
        name = next(iter(settings.providers))
        target = f"{request.app_url}/_auth/login/{quote(name, safe='')}?" + urlencode({"next": next_path})
        return _redirect(response, target)
    if not wants_html(request):
        links = {
            name: f"{request.app_url}/_auth/login/{quote(name, safe='')}?" + urlencode({"next": next_path})
            for name in settings.providers
        }
        response.send({"providers": links})
        return None
    items = "".join(
        f'<li><a href="{escape(request.app_url, quote=True)}/_auth/login/{quote(name, safe="")}?'
        f'{escape(urlencode({"next": next_path}), quote=True)}">Log in with {escape(p.label)}</a></li>'
        for name, p in settings.providers.items()
    )
    if not items:
        items = "<li>This app has no login providers configured.</li>"
    page = f"<!doctype html><meta charset=utf-8><title>Log in</title><h1>Log in</h1><ul>{items}</ul>"
    response.headers["Cache-Control"] = "no-store"
    response.send(page, content_type="text/html; charset=utf-8")
    return None
