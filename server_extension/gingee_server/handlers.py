"""The extension's handlers: the admin API, metrics, gingee.js, and (last) the apps; URL table at the end
(the queue API, queue_handlers.py, is mounted ahead of it).

The admin API and metrics are always behind Jupyter's auth (`@web.authenticated`, 403 JSON rather than a
login redirect) and ask Jupyter's authorizer about resource "gingee"; POSTs honour Jupyter's XSRF rules.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from prometheus_client.exposition import choose_encoder
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

import gingee_kernel
from gingee_kernel.engine.apidocs import ASSETS, VIEWER_DIR
from gingee_kernel.errors import HttpError
from gingee_kernel.json_errors import JsonErrors
from gingee_kernel.live import SECRET_HEADER, Registration
from gingee_kernel.metrics.export import SCRAPE
from gingee_kernel.metrics.merge import KERNEL_METRICS_PATH, Merged

from .app_handler import AUTH_RESOURCE, AppHandler
from .host import GingeeHost

log = logging.getLogger("gingee.jupyter")

STATIC_DIR = Path(gingee_kernel.__file__).parent / "static"
VIEWER_FILES = "|".join(map(re.escape, ASSETS))


class GingeeAPIHandler(APIHandler):
    """Base of the admin API: the host, and Gingee's `{error, reason}` JSON for its errors."""

    auth_resource = AUTH_RESOURCE

    @property
    def host(self) -> GingeeHost:
        """The extension's host (apps, live registrations)."""
        return self.settings["gingee_host"]  # type: ignore[no-any-return]

    def send_error_json(self, error: HttpError) -> None:
        """Answer with a Gingee error."""
        self.set_status(error.status)
        for name, value in error.headers.items():
            self.set_header(name, value)
        self.finish(json.dumps(error.body()))


class AppsHandler(GingeeAPIHandler):
    """GET every app: source (disk or live), status, load error, public, sandbox, shadowing, URL."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self.host.wait_ready()
        self.finish(json.dumps(self.host.describe()))


class ReloadHandler(GingeeAPIHandler):
    """POST reloads an on-disk app from disk and returns its new description."""

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        await self.host.wait_ready()
        try:
            self.finish(json.dumps(await self.host.reload(name)))
        except HttpError as error:
            self.send_error_json(error)


class APINotFoundHandler(GingeeAPIHandler):
    """Any other path under gingee/api/."""

    @web.authenticated
    async def get(self, *args: Any) -> None:
        self.send_error_json(HttpError(404, "NOT_FOUND", "no such Gingee API; see gingee/api/apps"))

    post = put = patch = delete = get


class MetricsHandler(GingeeAPIHandler):
    """GET the Prometheus exposition of Gingee's metrics (scrapes are not user activity)."""

    _track_activity = False

    @web.authenticated
    @authorized
    async def get(self) -> None:
        kernels = {(r.port, r.secret): r for r in self.host.live.all().values()}
        texts = await asyncio.gather(*(kernel_metrics(r) for r in kernels.values()))
        await SCRAPE.refresh()
        encoder, content_type = choose_encoder(self.request.headers.get("Accept") or "")
        body = encoder(Merged(SCRAPE.collect(), [text for text in texts if text]))
        self.set_header("Cache-Control", "no-store")
        self.finish(body, set_content_type=content_type)


def kernel_request(
    registration: Registration, path: str, method: str = "GET", timeout: float = 3.0
) -> HTTPRequest:
    """A request to a live app's kernel, on its secret port (`path` from the port's root)."""
    return HTTPRequest(
        f"http://127.0.0.1:{registration.port}{path}",
        method=method,
        headers={SECRET_HEADER: registration.secret},
        body=b"" if method == "POST" else None,
        connect_timeout=1.0,
        request_timeout=timeout,
    )


async def kernel_metrics(registration: Registration) -> str | None:
    """The Gingee series of a live app's kernel (its secret port), or None if it does not answer."""
    try:
        reply = await AsyncHTTPClient().fetch(kernel_request(registration, KERNEL_METRICS_PATH))
    except Exception as exc:  # a busy or gone kernel must not break the scrape
        log.info("gingee: no metrics from the kernel of app '%s' (%s)", registration.app, exc)
        return None
    return reply.body.decode("utf-8", "replace")


class StaticHandler(JsonErrors, web.StaticFileHandler):
    """`gingee.js` and friends: public files, loadable from sandboxed (opaque-origin) app pages (errors
    as Gingee's JSON)."""

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Access-Control-Allow-Origin", "*")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-cache")


default_handlers: list[tuple[Any, ...]] = [
    (r"/gingee/api/apps/?", AppsHandler),
    (r"/gingee/api/apps/([A-Za-z0-9_-]+)/reload/?", ReloadHandler),
    (r"/gingee/api(/.*)?", APINotFoundHandler),
    (r"/gingee/static/(.*)", StaticHandler, {"path": str(STATIC_DIR)}),
    # The docs viewer's files (engine/apidocs.py), loaded by sandboxed docs pages that carry no login.
    (rf"/gingee/[^/]+/_gingee/docs/({VIEWER_FILES})", StaticHandler, {"path": str(VIEWER_DIR)}),
    (r"/gingee/metrics/?", MetricsHandler),
    (r"/gingee(/.*)?", AppHandler),
]
