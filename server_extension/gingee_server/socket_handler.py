"""Websockets under `{base_url}gingee/<app>/...`: Jupyter's auth, then the app's hub or a live kernel.

Upgrade requests are routed by header (any path under the prefix), so apps choose their websocket paths.
A non-public app needs Jupyter's login (403, never a redirect) and the authorizer's "execute" on
"gingee"; a public app's socket is anonymous (Jupyter's credentials stripped; its own sandboxed pages
connect with `Origin: null`, which is let through because no credential ever reaches it). On-disk apps
run the engine's upgrade checks and Session (`GingeeSocketMixin`); a live app's socket is relayed to its
kernel, frame by frame, with the subprotocol the kernel chose.
"""

from __future__ import annotations

import contextlib
import inspect
from datetime import datetime, timezone
from typing import Any

import tornado.routing
import tornado.websocket
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from tornado import web
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.httputil import HTTPHeaders

from gingee_kernel.errors import HttpError
from gingee_kernel.json_errors import write_json_error
from gingee_kernel.live import PREFIX_HEADER, SECRET_HEADER, Registration, pid_alive
from gingee_kernel.modules.ws.send_buffer import DEFAULT_LIMIT, SendBuffer
from gingee_kernel.modules.ws.tornado_host import GingeeSocketMixin, UpgradeMatcher

from .app_handler import AUTH_RESOURCE
from .host import GingeeHost, Target
from .policy import strip_credentials
from .proxy import forward_headers

#: Handshake headers the relay's own client connection sets itself.
_HANDSHAKE = frozenset(
    {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol"}
)
_SENDABLE_CLOSE = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011})


class AppSocketHandler(GingeeSocketMixin, tornado.websocket.WebSocketHandler, JupyterHandler):
    """One websocket to an app: on-disk (the app's hub) or live (relayed to its kernel)."""

    auth_resource = AUTH_RESOURCE

    def initialize(self) -> None:  # type: ignore[override]
        self.host: GingeeHost = self.settings["gingee_host"]
        self.engine = self.host.engine  # type: ignore[assignment]
        self.prefix = self.host.prefix
        self.target: Target | None = None
        self.upstream: tornado.websocket.WebSocketClientConnection | None = None
        # What the relay wrote to the browser and the browser has not read yet (a live app's socket).
        self.backlog = SendBuffer(DEFAULT_LIMIT, self._slow_browser)

    def set_default_headers(self) -> None:
        """No page headers (CSP and friends) on a websocket handshake, as Jupyter's own sockets."""

    #: Whether Jupyter identified a user for this handshake (its `prepare` ran and found one).
    identified = False

    async def prepare(self) -> None:  # type: ignore[override]
        await JupyterHandler.prepare(self, _redirect_to_login=False)
        self.identified = bool(self.current_user)

    @allow_unauthenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        await self.host.wait_ready()
        name = self.app_path().lstrip("/").split("/", 1)[0]
        self.target = target = await self.host.resolve(name)
        headers = self.request.headers
        if target.policy.public:
            strip_credentials(headers, self.identity_provider.get_cookie_name(self))
            if headers.get("Origin") == "null":
                del headers["Origin"]  # the app's own sandboxed page
        else:
            await self._admit()
        if SECRET_HEADER in headers:
            del headers[SECRET_HEADER]
        headers[PREFIX_HEADER] = self.host.app_url(name)
        if target.source == "none":
            self.refuse(self.host.not_found(name))
        elif target.registration is not None:
            await self._relay(target.registration)
        elif self.engine is None:
            self.refuse(self.host.project_unavailable())
        else:
            await GingeeSocketMixin.get(self, *args, **kwargs)

    async def _admit(self) -> None:
        if self.current_user is None:
            raise web.HTTPError(403, "this app's websockets require Jupyter's login")
        allowed = self.authorizer.is_authorized(self, self.current_user, "execute", AUTH_RESOURCE)
        if inspect.isawaitable(allowed):
            allowed = await allowed
        if not allowed:
            raise web.HTTPError(403, f"Jupyter's authorizer does not allow execute on {AUTH_RESOURCE}")
        origin = self.get_origin()
        if origin is not None and not JupyterHandler.check_origin(self, origin):
            raise web.HTTPError(403, f"websocket connections from origin {origin} are not allowed")

    # --- live apps: relay to the kernel ------------------------------------------------------------

    async def _relay(self, registration: Registration) -> None:
        if not pid_alive(registration.pid):
            self.host.live.drop(registration)
            self.refuse(self.host.unavailable(registration))
            return
        request = self.request
        offered = [
            p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
        ]
        headers = [
            (n, v) for n, v in forward_headers(request.headers.get_all()) if n.lower() not in _HANDSHAKE
        ]
        headers.append((SECRET_HEADER, registration.secret))
        url = f"ws://127.0.0.1:{registration.port}{self.app_path()}" + (
            f"?{request.query}" if request.query else ""
        )
        upstream_headers = HTTPHeaders()
        for name, value in headers:
            upstream_headers.add(name, value)
        connect_timeout = self.host.proxy.connect_timeout
        upstream_request = HTTPRequest(url, headers=upstream_headers, connect_timeout=connect_timeout)
        try:
            self.upstream = await tornado.websocket.websocket_connect(
                upstream_request,
                on_message_callback=self._from_kernel,
                subprotocols=offered or None,
                ping_interval=None,
            )
        except HTTPClientError as error:
            self._refuse_as_kernel(error)
            return
        except OSError:
            self.host.live.drop(registration)
            self.refuse(self.host.unavailable(registration))
            return
        await tornado.websocket.WebSocketHandler.get(self)

    def _refuse_as_kernel(self, error: HTTPClientError) -> None:
        response = error.response
        if response is None or error.code >= 599:
            assert self.target is not None and self.target.registration is not None
            self.refuse(self.host.unavailable(self.target.registration))
            return
        self.set_status(error.code)
        self.set_header("Content-Type", response.headers.get("Content-Type", "application/json"))
        self.finish(response.body)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        if self.upstream is not None:
            return self.upstream.selected_subprotocol  # the kernel's choice, not a blind first pick
        return None

    def _from_kernel(self, message: str | bytes | None) -> None:
        if message is None:
            upstream = self.upstream
            code = upstream.close_code if upstream is not None else None
            reason = upstream.close_reason if upstream is not None else None
            self.close(code if code in _SENDABLE_CLOSE or (code and 3000 <= code < 5000) else 1001, reason)
            return
        self._activity()
        if self.backlog.full(len(message)):
            self._slow_browser()
            return
        with contextlib.suppress(tornado.websocket.WebSocketClosedError):
            self.backlog.track(self.write_message(message, binary=isinstance(message, bytes)), len(message))

    def _slow_browser(self) -> None:
        """The browser does not read what the kernel sends: close as the app's own socket would (1008)."""
        if self.ws_connection is not None and not self.ws_connection.is_closing():
            self.log.warning("a live app's websocket client does not read; closing it with 1008")
            self.close(1008, "send buffer full")

    # --- both kinds ----------------------------------------------------------------------------------

    async def open(self, *args: Any, **kwargs: Any) -> None:
        self._activity()
        if self.upstream is None:
            await GingeeSocketMixin.open(self, *args, **kwargs)

    def on_message(self, message: str | bytes) -> Any:
        self._activity()
        if self.upstream is not None:
            try:
                return self.upstream.write_message(message, binary=isinstance(message, bytes))
            except tornado.websocket.WebSocketClosedError:
                self.close(1001, "the kernel closed the connection")
                return None
        return GingeeSocketMixin.on_message(self, message)

    def on_close(self) -> None:
        if self.upstream is not None:
            code = self.close_code if self.close_code in _SENDABLE_CLOSE else None
            self.upstream.close(code, self.close_reason)
            return
        GingeeSocketMixin.on_close(self)

    def _activity(self) -> None:
        if self.identified:
            self.settings["api_last_activity"] = datetime.now(timezone.utc)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Refusals are JSON `{error, reason}`."""
        write_json_error(self, status_code, kwargs.get("exc_info"))

    def refuse(self, error: HttpError) -> None:
        """Answer the upgrade request with a Gingee JSON error."""
        GingeeSocketMixin.refuse(self, error)


def socket_rule(host: GingeeHost) -> tornado.routing.Rule:
    """Websocket upgrades under `{base_url}gingee/`, to be matched before any HTTP handler."""
    return tornado.routing.Rule(UpgradeMatcher(host.prefix + "/"), AppSocketHandler)
