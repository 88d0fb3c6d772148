"""`{base_url}gingee/<app>/...` on Jupyter's Tornado: Jupyter's auth, then the engine or a live kernel.

The order in `prepare` is Jupyter's first (host check, identity), then: which app (`GingeeHost.resolve`),
then the gate. A public app is anonymous: Jupyter's XSRF check is skipped and its credentials are stripped
from what the app sees. Any other app needs Jupyter's login (a page GET without it is sent to the login
page, anything else gets 403 JSON), Jupyter's XSRF rules and the authorizer's consent for resource
"gingee". Then the engine answers (the same code as `gingee serve`), or the request is proxied to the
kernel that registered the app. Every response passes `flush`, where the safety policy adds its headers.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from tornado import web
from tornado.httputil import HTTPHeaders
from tornado.iostream import StreamClosedError

from gingee_kernel.engine.dispatch import error_response
from gingee_kernel.engine.tornado_handler import GingeeHandler
from gingee_kernel.errors import HttpError
from gingee_kernel.json_errors import write_json_error
from gingee_kernel.live import PREFIX_HEADER, SECRET_HEADER, Registration, pid_alive

from .host import GingeeHost, Target
from .policy import preflight_headers, strip_credentials
from .proxy import Outcome, response_headers

#: The resource name Jupyter's authorizer is asked about (JupyterHub: `custom:jupyter_server:*:gingee`).
AUTH_RESOURCE = "gingee"
#: A refusal decided in `prepare`: a Jupyter error, a Gingee error, or a function that answers.
Answer = web.HTTPError | HttpError | Callable[[], Any]
#: A request refused before its body was read still has a body this small read (and dropped) first.
DRAIN_LIMIT = 64 * 1024
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_REQUIRED = (
    "this app requires Jupyter's login: send `Authorization: token <token>`, or log in to Jupyter in "
    "this browser and send the X-XSRFToken header (gingee.js does)"
)


class _Sink:
    """Writes a kernel's answer through the handler (implements proxy.Sink)."""

    __slots__ = ("handler", "started")

    def __init__(self, handler: AppHandler) -> None:
        self.handler = handler
        self.started = False

    async def start(self, status: int, reason: str, headers: HTTPHeaders) -> None:
        handler = self.handler
        self.started = True
        handler.set_status(status, reason or None)
        handler.clear_header("Content-Type")
        seen: set[str] = set()
        for name, value in response_headers(headers.get_all()):
            if name.lower() not in seen:
                seen.add(name.lower())
                handler.clear_header(name)
            handler.add_header(name, value)
        if not any(name.lower() == "content-length" for name in seen):
            await handler.flush()  # a streamed body (server-sent events): the client sees headers now

    async def write(self, chunk: bytes) -> None:
        self.handler.write(chunk)
        await self.handler.flush()


@web.stream_request_body
class AppHandler(GingeeHandler, JupyterHandler):
    """One request to an app: on-disk (the engine) or live (proxied to its kernel)."""

    auth_resource = AUTH_RESOURCE
    #: Whether Jupyter identified a user for this request (its `prepare` ran and found one).
    identified = False
    #: The reply's Content-Type as set so far (Tornado has no getter for a reply header): see set_header.
    content_type: str | None = "text/html; charset=UTF-8"

    def clear(self) -> None:
        self.content_type = "text/html; charset=UTF-8"  # what RequestHandler.clear() sets, before it
        super().clear()  # calls set_default_headers, which may set another

    def set_header(self, name: str, value: Any) -> None:
        super().set_header(name, value)
        if name.lower() == "content-type":
            self.content_type = str(value)

    def add_header(self, name: str, value: Any) -> None:
        super().add_header(name, value)
        if name.lower() == "content-type":
            self.content_type = str(value)

    def clear_header(self, name: str) -> None:
        super().clear_header(name)
        if name.lower() == "content-type":
            self.content_type = None

    def initialize(self) -> None:  # type: ignore[override]
        self.host: GingeeHost = self.settings["gingee_host"]
        super().initialize(self.host.engine, self.host.prefix)  # type: ignore[arg-type]
        self.target: Target | None = None
        self._deferring_xsrf = False
        self._relay: asyncio.Future[Outcome] | None = None
        self._pending: Answer | None = None

    def app_name(self) -> str:
        """The first path segment after `{base_url}gingee/` (raw), or "" for the bare prefix."""
        return self.app_path().lstrip("/").split("/", 1)[0]

    # --- the gate -----------------------------------------------------------------------------------

    async def prepare(self) -> None:  # type: ignore[override]
        # Jupyter first (host check, identity); its XSRF check waits until we know whether the app is public.
        self._deferring_xsrf = True
        try:
            await JupyterHandler.prepare(self)
        except web.HTTPError as error:
            self._defer(error)
            return
        finally:
            self._deferring_xsrf = False
        self.identified = bool(self.current_user)
        if self.answered:
            return
        await self.host.wait_ready()
        name = self.app_name()
        self.target = target = await self.host.resolve(name)
        try:
            if target.policy.public:
                self._anonymize()
            elif not await self._admit():
                return
        except web.HTTPError as error:
            self._defer(error)
            return
        headers = self.request.headers
        if SECRET_HEADER in headers:
            del headers[SECRET_HEADER]
        headers[PREFIX_HEADER] = self.host.app_url(name) if name else self.host.prefix + "/"
        if target.policy.public and self._is_preflight():
            self._defer(self._preflight)
        elif target.source == "none":
            self._defer(self.host.not_found(name))
        elif target.source == "live":
            registration = target.registration
            assert registration is not None
            if not pid_alive(registration.pid):
                self.host.live.drop(registration)
                self._defer(self.host.unavailable(registration))
            else:
                self.limit_body(self.host.max_body_size(registration))
        elif self.engine is None:
            self._defer(self.host.project_unavailable())
        else:
            await GingeeHandler.prepare(self)

    def check_xsrf_cookie(self) -> None:
        """Jupyter's XSRF rules, applied once the app is known (never for a public app)."""
        if self._deferring_xsrf:
            return
        super().check_xsrf_cookie()

    async def _admit(self) -> bool:
        """Jupyter's login, XSRF and authorizer for a non-public app; False if answered already."""
        if self.current_user is None:
            if self.request.method in ("GET", "HEAD"):
                self._defer(lambda: web.authenticated(lambda handler: None)(self))  # to the login page
                return False
            raise web.HTTPError(403, LOGIN_REQUIRED)
        method = self.request.method or "GET"
        if method not in SAFE_METHODS:
            self.check_xsrf_cookie()
        action = "read" if method in SAFE_METHODS else "write"
        allowed = self.authorizer.is_authorized(self, self.current_user, action, AUTH_RESOURCE)
        if inspect.isawaitable(allowed):
            allowed = await allowed
        if not allowed:
            raise web.HTTPError(403, f"Jupyter's authorizer does not allow {action} on {AUTH_RESOURCE}")
        return True

    def _anonymize(self) -> None:
        """A public app sees no Jupyter credential: no Authorization, login/hub/_xsrf cookie or token."""
        request = self.request
        strip_credentials(request.headers, self.identity_provider.get_cookie_name(self))
        if request.query and self.token_authenticated:
            kept = [p for p in request.query.split("&") if p.split("=", 1)[0] != "token"]
            request.query = "&".join(kept)
            request.uri = request.path + (f"?{request.query}" if request.query else "")

    def _is_preflight(self) -> bool:
        return self.request.method == "OPTIONS" and "Access-Control-Request-Method" in self.request.headers

    def _preflight(self) -> None:
        self.set_status(204)
        self.clear_header("Content-Type")
        for name, value in preflight_headers(self.request.headers):
            self.set_header(name, value)
        self.finish()

    def _defer(self, answer: Answer) -> None:
        """Answer (refuse) the request once its small body has been read, not in `prepare`: answering
        before the body is read makes Tornado close the connection under a client that may reuse it."""
        self._refused = True
        self._pending = answer
        length = self.request.headers.get("Content-Length", "0")
        if length.isdigit() and int(length) <= DRAIN_LIMIT:
            self.request.connection.set_max_body_size(DRAIN_LIMIT)  # type: ignore[attr-defined]
            return
        self.set_header("Connection", "close")
        self._answer_pending()

    def _answer_pending(self) -> None:
        answer, self._pending = self._pending, None
        if isinstance(answer, web.HTTPError):
            self.send_error(answer.status_code, exc_info=(type(answer), answer, None))
        elif isinstance(answer, HttpError):
            self._write_response(error_response(answer))
        elif answer is not None:
            answer()

    def _fail(self, error: HttpError) -> None:
        self._write_response(error_response(error))

    def _gone(self, registration: Registration) -> None:
        self.host.live.drop(registration)
        self.host.proxy.forget(registration)
        self._fail(self.host.unavailable(registration))

    # --- serving ------------------------------------------------------------------------------------

    def data_received(self, chunk: bytes) -> Any:
        if not self.answered:
            return super().data_received(chunk)
        return None

    @allow_unauthenticated
    async def serve(self, *args: Any) -> None:
        """Answer the request: proxy it to a live app's kernel, or let the engine answer."""
        if self._pending is not None:
            self._answer_pending()
            return
        if self._refused or self.answered:
            return
        target = self.target
        if target is not None and target.registration is not None:
            await self._proxy(target.registration)
        else:
            await GingeeHandler._serve(self)

    get = post = put = patch = delete = head = options = serve  # type: ignore[assignment]

    async def _proxy(self, registration: Registration) -> None:
        request = self.request
        body = b"".join(self._chunks)
        self._chunks.clear()
        sink = _Sink(self)
        relay = asyncio.ensure_future(
            self.host.proxy.forward(
                registration,
                request.method or "GET",
                self.app_path(),
                request.query,
                request.headers.get_all(),
                body,
                sink,
                prefix=request.headers[PREFIX_HEADER],
                client_ip=request.remote_ip or "",
                scheme=request.protocol,
                operator=self.is_operator(),
            )
        )
        self._relay = relay
        try:
            outcome = await relay
        except (asyncio.CancelledError, StreamClosedError):
            return  # the client went away; the kernel's side was closed with it
        finally:
            self._relay = None
        if outcome is Outcome.REFUSED or (outcome is Outcome.UNREACHABLE and not pid_alive(registration.pid)):
            self._gone(registration)
        elif outcome is Outcome.TIMEOUT:
            reason = (
                f"the kernel serving app '{registration.app}' (pid {registration.pid}) accepted the request "
                "but did not answer in time; it may be stuck: interrupt it or re-run app.serve()"
            )
            self._fail(HttpError(504, "KERNEL_APP_TIMEOUT", reason))
        elif outcome is Outcome.UNREACHABLE:
            reason = (
                f"the kernel serving app '{registration.app}' (pid {registration.pid}) did not answer; "
                "it may be stuck in a long cell: interrupt it or re-run app.serve()"
            )
            self._fail(HttpError(502, "KERNEL_APP_UNAVAILABLE", reason))
        elif outcome is Outcome.BROKEN:
            stream = getattr(request.connection, "stream", None)
            if stream is not None:
                stream.close()  # the answer broke off mid-body: the client must see it incomplete

    def on_connection_close(self) -> None:
        if self._relay is not None:
            self._relay.cancel()
        super().on_connection_close()

    # --- every response -----------------------------------------------------------------------------

    def flush(self, include_footers: bool = False) -> asyncio.Future[None]:
        if not self._headers_written:
            self._apply_policy()
        return super().flush(include_footers)

    def is_operator(self) -> bool:
        """In Jupyter the operator is the logged-in user, on an app that is not public (a public app's
        requests are anonymous: see `_anonymize`)."""
        target = getattr(self, "target", None)
        return target is not None and not target.policy.public and self.current_user is not None

    def _apply_policy(self) -> None:
        if self.identified:
            # App traffic is activity (like APIHandler.finish), so Binder does not cull a session in use.
            self.settings["api_last_activity"] = datetime.now(timezone.utc)
        target = self.target
        if target is None:
            return
        content_type = self.content_type
        for name, value in self.host.safety.response_headers(target.policy, content_type):
            if name == "Content-Security-Policy":
                self.add_header(name, value)  # on top of Jupyter's and the app's own policies
            else:
                self.set_header(name, value)
        if target.policy.public:
            self.clear_header("Access-Control-Allow-Credentials")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors are JSON `{error, reason}`, as the engine writes them."""
        write_json_error(self, status_code, kwargs.get("exc_info"))
