"""The kernel's HTTP port, which only the Jupyter server extension may use: every request must carry the
host's random secret (`live.SECRET_HEADER`), or it gets 403 JSON.

Behind the secret: the apps (HTTP and websocket upgrades, relayed by the extension from
`{base_url}gingee/<app>/`), this kernel's Gingee metrics (`KERNEL_METRICS_PATH`, merged into
`{base_url}gingee/metrics`) and its queue API (`live.KERNEL_QUEUE_PATH`, relayed from
`{base_url}gingee/api/queue/<app>/`).
"""

from __future__ import annotations

import hmac
import json
import re
from typing import TYPE_CHECKING, Any

import tornado.httputil
import tornado.routing
import tornado.web

from .. import live
from ..deferred_refusal import DeferredRefusal
from ..engine.dispatch import Engine
from ..engine.tornado_handler import GingeeHandler
from ..jobqueue.http import QueueApiHandler
from ..jobqueue.service import SHARED_KEY, QueueService
from ..metrics.export import exposition
from ..metrics.merge import KERNEL_METRICS_PATH
from ..modules.ws.tornado_host import UpgradeMatcher, WebSocketHandler

if TYPE_CHECKING:
    from .host import LiveHost

REFUSED = {"error": "ACCESS_DENIED", "reason": "this port only answers the Jupyter server"}
_REFUSED = json.dumps(REFUSED).encode()


def _has_secret(request: tornado.httputil.HTTPServerRequest, secret: str) -> bool:
    given = request.headers.get(live.SECRET_HEADER, "")
    return hmac.compare_digest(given.encode(), secret.encode())


def _refuse(handler: tornado.web.RequestHandler) -> None:
    handler.set_status(403)
    handler.set_header("Content-Type", "application/json")
    handler.finish(_REFUSED)


class _SecretHandler(GingeeHandler):
    """Answers only requests that carry the host's secret (sent by the Jupyter server extension)."""

    def initialize(self, engine: Engine, prefix: str = "", secret: str = "") -> None:
        super().initialize(engine, prefix)
        self.secret = secret
        self._stranger: DeferredRefusal | None = None

    async def prepare(self) -> None:
        if _has_secret(self.request, self.secret):
            await super().prepare()
            return
        # A stranger's body is not read (discard 0): with one coming, the 403 goes out at once and the
        # connection closes; a body-less request is answered from the method, keeping it open.
        self._stranger = DeferredRefusal(self, discard=0)
        self._stranger.refuse(403, REFUSED)

    def data_received(self, chunk: bytes) -> Any:
        if self._stranger is not None:
            self._stranger.received(len(chunk))
            return None
        return super().data_received(chunk)

    async def _serve(self) -> None:
        if self._stranger is not None:
            self._stranger.answer()
        else:
            await super()._serve()

    get = post = put = patch = delete = head = options = _serve  # type: ignore[assignment]

    def is_operator(self) -> bool:
        """What the Jupyter server vouches for with its secret (its own rule: a logged-in user, on an app
        that is not public); every request here comes from loopback, so loopback proves nothing."""
        return self.request.headers.get(live.OPERATOR_HEADER) == "1"

    def public_root(self) -> str:
        """The Jupyter server's view, which it sends with its secret: the scheme it was reached by, the
        browser's Host, and `{base_url}gingee` (the prefix header, `{base_url}gingee/<app>/`)."""
        return kernel_public_root(self.request)


def kernel_public_root(request: tornado.httputil.HTTPServerRequest) -> str:
    """What precedes `/<app>` for the browser, from the headers the Jupyter server extension relays."""
    headers = request.headers
    scheme = headers.get("X-Forwarded-Proto", "http").split(",", 1)[0].strip().lower()
    prefix = headers.get(live.PREFIX_HEADER, "").rstrip("/")
    return f"{scheme if scheme in ('http', 'https') else 'http'}://{request.host}{prefix.rsplit('/', 1)[0]}"


class _SecretSocketHandler(WebSocketHandler):
    """The apps' websockets, for upgrades that carry the host's secret (relayed by the extension)."""

    def initialize(self, engine: Engine, prefix: str = "", secret: str = "") -> None:
        super().initialize(engine, prefix)
        self.secret = secret

    async def get(self, *args: Any, **kwargs: Any) -> None:
        if not _has_secret(self.request, self.secret):
            _refuse(self)
            return
        await super().get(*args, **kwargs)


class _MetricsHandler(tornado.web.RequestHandler):
    """This kernel's Gingee metrics, for the Jupyter server's `{base_url}gingee/metrics` (secret only)."""

    def initialize(self, secret: str = "") -> None:
        self.secret = secret

    async def get(self) -> None:
        if not _has_secret(self.request, self.secret):
            _refuse(self)
            return
        body, content_type = await exposition()
        self.set_header("Content-Type", content_type)
        self.finish(body)


class _QueueHandler(QueueApiHandler):
    """The queue operator API of this kernel's apps (`jobqueue.api`), for the Jupyter server's
    `{base_url}gingee/api/queue/<app>/...` (secret only). The kernel starts its queue when an app first
    needs it, so it is looked up per request."""

    def initialize(self, host: LiveHost) -> None:  # type: ignore[override]
        self.host = host

    def _allowed(self) -> tuple[bool, str]:
        return _has_secret(self.request, self.host.secret), "this port only answers the Jupyter server"

    def _service(self) -> QueueService | None:
        return self.host.project.shared.get(SHARED_KEY)  # type: ignore[no-any-return]


def application(host: LiveHost) -> tornado.web.Application:
    """The port's Tornado application for `host` (its engine, secret and queue)."""
    handler_args = {"engine": host.engine, "secret": host.secret}
    return tornado.web.Application(
        [
            tornado.routing.Rule(UpgradeMatcher(), _SecretSocketHandler, handler_args),
            (re.escape(KERNEL_METRICS_PATH), _MetricsHandler, {"secret": host.secret}),
            (re.escape(live.KERNEL_QUEUE_PATH) + "(.*)", _QueueHandler, {"host": host}),
            (r"/.*", _SecretHandler, handler_args),
        ],
        log_function=lambda handler: None,
    )
