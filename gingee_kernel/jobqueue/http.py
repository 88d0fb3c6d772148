"""The queue API (api.py) on `gingee serve`, at `/_gingee/api/queue/...`.

Who may call it: with gingee.json `admin.token` set, any peer sending `Authorization: Bearer <token>`;
without one, loopback peers only (the socket's own address; proxy headers are never read).
"""

from __future__ import annotations

import hmac
import json
from typing import Any

import tornado.web

from ..metrics_http import parse_peer, socket_peer
from . import api
from .service import QueueService

PREFIX = "/_gingee/api/queue"


class QueueApiHandler(tornado.web.RequestHandler):
    """GET, POST and DELETE under PREFIX, answered by `api.handle` as JSON."""

    SUPPORTED_METHODS = ("GET", "POST", "DELETE")

    def initialize(self, service: QueueService, token: str | None) -> None:
        self.service = service
        self.token = token.encode() if token else None

    def _allowed(self) -> tuple[bool, str]:
        if self.token is not None:
            scheme, _, value = (self.request.headers.get("Authorization") or "").partition(" ")
            ok = scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token)
            return ok, "send Authorization: Bearer <admin.token from gingee.json>"
        peer = parse_peer(socket_peer(self.request))
        return bool(
            peer and peer.is_loopback
        ), "set admin.token in gingee.json to call the queue API remotely"

    def _service(self) -> QueueService | None:
        """The queue to answer from (a host whose queue starts later may have none yet)."""
        return self.service

    async def _answer(self, rest: str) -> None:
        allowed, reason = self._allowed()
        service = self._service() if allowed else None
        if not allowed:
            status, body = 403, {"error": "ACCESS_DENIED", "reason": reason}
        elif service is None:
            status, body = no_queue(rest)
        else:
            query = {k: self.get_query_argument(k) for k in self.request.query_arguments}
            status, body = await api.handle(service, self.request.method or "GET", rest, query)
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    async def get(self, rest: str | None) -> None:
        await self._answer(rest or "")

    async def post(self, rest: str | None) -> None:
        await self._answer(rest or "")

    async def delete(self, rest: str | None) -> None:
        await self._answer(rest or "")

    def check_xsrf_cookie(self) -> None:
        """Bearer-token (or loopback) API: no cookies, so no XSRF."""


def no_queue(rest: str) -> tuple[int, dict[str, Any]]:
    """The answer of a host with no queue started: no apps in the overview, 404 for an app."""
    name = rest.strip("/").split("/", 1)[0]
    if not name:
        return 200, {"driver": None, "apps": {}}
    reason = f"app '{name}' uses no queue here (define a job or grant 'queue')"
    return 404, {"error": "APP_NOT_FOUND", "reason": reason}


def queue_api_handlers(service: QueueService, config: dict[str, Any]) -> list[Any]:
    """The URL table of the queue API, for `Server.extra_handlers`."""
    token = (config.get("admin") or {}).get("token")
    return [(rf"{PREFIX}(?:/(.*))?", QueueApiHandler, {"service": service, "token": token})]
