"""The queue API (api.py) on `gingee serve`, at `/_gingee/api/queue/...`.

Who may call it: admin_access.py (the bearer token of gingee.json `admin.token`, else loopback only).
DLQ retries and discards go into the audit log (`logs/audit.jsonl`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..admin_access import AdminAccess
from ..json_errors import JsonErrors
from ..lifecycle.audit import AuditLog
from . import api
from .service import QueueService

PREFIX = "/_gingee/api/queue"


class QueueApiHandler(JsonErrors):
    """GET, POST and DELETE under PREFIX, answered by `api.handle` as JSON."""

    SUPPORTED_METHODS = ("GET", "POST", "DELETE")
    audit: AuditLog | None = None
    who = "?"

    def initialize(self, service: QueueService, access: AdminAccess, audit: AuditLog | None = None) -> None:
        self.service = service
        self.access = access
        self.audit = audit

    def _allowed(self) -> tuple[bool, str]:
        who, reason = self.access.who(self.request)
        self.who = who or "?"
        return who is not None, reason

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
            method = self.request.method or "GET"
            status, body = await api.handle(service, method, rest, query)
            if self.audit is not None and method != "GET":
                app, _, what = rest.strip("/").partition("/")
                self.audit.record(
                    self.who, f"queue {method} {what}", app, "ok" if status < 400 else "error", status=status
                )
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
    access = AdminAccess((config.get("admin") or {}).get("token"))
    audit = AuditLog(Path(config["cluster"]["project_dir"]))
    return [(rf"{PREFIX}(?:/(.*))?", QueueApiHandler, {"service": service, "access": access, "audit": audit})]
