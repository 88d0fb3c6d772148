"""Tornado glue for websockets: a mixin any `tornado.websocket.WebSocketHandler` can use (the standalone
handler below, or a Jupyter handler), and the routing rule that sends upgrades to it.

Upgrade requests are routed by header, not by path, so apps choose their websocket paths freely and
plain HTTP requests pay one header lookup.
"""

from __future__ import annotations

import json
from typing import Any

import tornado.routing
import tornado.websocket
from tornado.httputil import HTTPServerRequest

from ...engine.dispatch import Engine
from ...engine.forwarded import client_ip
from ...errors import HttpError
from ...metrics import series as metrics
from .protocol import StrictProtocol
from .session import Session
from .upgrade import Admission, UpgradeRequest, admit

#: Tornado reads whole frames up to this many times an app's max_message_bytes (plus 64 KiB) so the
#: Session can answer an oversized message with a clean 1009 close; beyond it Tornado aborts with 1009.
FRAME_HEADROOM = 2
PING_INTERVAL = 30.0


class GingeeSocketMixin:
    """Upgrade checks before the handshake, then one Session per connection.

    Needs `self.engine` (an Engine) and `self.prefix` (what precedes `/<app>` in the URL path).
    """

    engine: Engine
    prefix: str
    request: HTTPServerRequest
    _admission: Admission | None = None
    _session: Session | None = None

    def app_path(self) -> str:
        """The raw path with the host's prefix removed (starts with `/<app>`)."""
        path = self.request.path
        return path[len(self.prefix) :] if self.prefix and path.startswith(self.prefix) else path

    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Run the upgrade checks; refuse with their status, or accept (Tornado's handshake)."""
        peer = self.request.remote_ip or ""
        request = UpgradeRequest(
            self.app_path(),
            self.request.query,
            self.request.headers,
            client_ip(peer, self.request.headers, self.engine.trusted_proxies),
        )
        try:
            self._admission = await admit(self.engine.project, request)
        except HttpError as error:
            self.refuse(error)
            return
        try:
            await super().get(*args, **kwargs)  # type: ignore[misc]
        finally:
            if self._session is None:
                self._admission.release()

    def refuse(self, error: HttpError) -> None:
        """Answer the upgrade request with the error's status and JSON body."""
        handler: Any = self
        handler.set_status(error.status)
        for name, value in error.headers.items():
            handler.set_header(name, value)
        handler.set_header("Content-Type", "application/json")
        handler.finish(json.dumps(error.body()))

    def check_origin(self, origin: str) -> bool:
        """The origin was checked by `admit` (same origin, or app.json websockets.allowed_origins)."""
        return True

    @property
    def max_message_size(self) -> int:
        """The largest frame Tornado reads (the Session closes with 1009 past max_message_bytes)."""
        if self._admission is None:
            return 65_536
        return FRAME_HEADROOM * self._admission.settings.max_message_bytes + 65_536

    def get_websocket_protocol(self) -> tornado.websocket.WebSocketProtocol | None:
        """Tornado's protocol, made to send 1002/1007 close frames (`protocol.StrictProtocol`)."""
        protocol = super().get_websocket_protocol()  # type: ignore[misc]
        if type(protocol) is tornado.websocket.WebSocketProtocol13:
            return StrictProtocol(self, False, protocol.params)  # type: ignore[arg-type]
        return protocol  # type: ignore[no-any-return]

    def protocol_failed(self, cause: str) -> None:
        """The client broke RFC 6455 (StrictProtocol closed with 1002/1007): count it for the app."""
        app = self._admission.app.name if self._admission is not None else "-"
        metrics.record_ws_close(app, cause)

    @property
    def ping_interval(self) -> float | None:
        """Seconds between keep-alive pings: the `websocket_ping_interval` setting, else 30."""
        settings: dict[str, Any] = getattr(self, "settings", {})
        return settings.get("websocket_ping_interval", PING_INTERVAL)

    async def open(self, *args: Any, **kwargs: Any) -> None:
        """After the handshake: start the Session (runs the app's handler)."""
        assert self._admission is not None
        self._session = Session(self._admission, self)  # type: ignore[arg-type]
        await self._session.open()

    def on_message(self, message: str | bytes) -> Any:
        """Hand a message to the Session; Tornado awaits what it returns before reading on."""
        if self._session is not None:
            return self._session.receive(message)
        return None

    def on_close(self) -> None:
        """The connection is gone: tell the Session."""
        if self._session is not None:
            handler: Any = self
            self._session.closed(handler.close_code, handler.close_reason)


class WebSocketHandler(GingeeSocketMixin, tornado.websocket.WebSocketHandler):
    """The standalone host's websocket handler."""

    def initialize(self, engine: Engine, prefix: str = "") -> None:
        self.engine = engine
        self.prefix = prefix


class UpgradeMatcher(tornado.routing.Matcher):
    """Matches websocket upgrade requests (any path under `prefix`): `Upgrade: websocket` with the
    `upgrade` token in `Connection`. Without that token there is no upgrade (RFC 9110 7.8): a stray
    Upgrade header on a plain request is ignored, as the ASGI server ignores it."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def match(self, request: HTTPServerRequest) -> dict[str, Any] | None:
        """`{}` (no path arguments) for an upgrade under the prefix, else None."""
        headers = request.headers
        if headers.get("Upgrade", "").lower() != "websocket":
            return None
        if "upgrade" not in (token.strip() for token in headers.get("Connection", "").lower().split(",")):
            return None
        if self.prefix and not (request.path or "").startswith(self.prefix):
            return None
        return {}


def websocket_rule(engine: Engine, prefix: str = "") -> tornado.routing.Rule:
    """The rule to list before the catch-all HTTP handler: upgrades go to the apps' websockets."""
    return tornado.routing.Rule(
        UpgradeMatcher(prefix), WebSocketHandler, {"engine": engine, "prefix": prefix}
    )
