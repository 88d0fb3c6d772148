"""`{base_url}gingee/api/queue/...`: the queue operator API of the on-disk project (stats, job listings,
DLQ retry and discard), as `gingee serve` answers it under `/_gingee/api/queue/`.

The routing and answers are `gingee_kernel.jobqueue.api.handle`; this handler adds Jupyter's auth (403
JSON, never a login redirect), Jupyter's authorizer on resource "gingee" (read for GET, write for POST
and DELETE) and Jupyter's XSRF check on writes (Tornado calls `check_xsrf_cookie` before POST/DELETE;
token-authenticated requests skip it, as everywhere in Jupyter). The host starts the queue when it loads
the project (host.py): the memory driver runs jobs in the Jupyter process, arq only enqueues here and
`gingee worker` runs them.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from gingee_kernel.errors import HttpError
from gingee_kernel.jobqueue import api
from gingee_kernel.jobqueue.service import SHARED_KEY, QueueService

from .handlers import GingeeAPIHandler


class QueueAPIHandler(GingeeAPIHandler):
    """GET stats, jobs and dead jobs; POST `.../dlq/<id>/retry` or `.../discard`; DELETE `.../dlq/<id>`."""

    @web.authenticated
    @authorized
    async def get(self, path: str | None = None) -> None:
        await self._answer(path or "")

    @web.authenticated
    @authorized
    async def post(self, path: str | None = None) -> None:
        await self._answer(path or "")

    @web.authenticated
    @authorized
    async def delete(self, path: str | None = None) -> None:
        await self._answer(path or "")

    def _service(self) -> QueueService:
        host = self.host
        if host.project is None:
            raise host.project_unavailable()
        service: QueueService | None = host.project.shared.get(SHARED_KEY)
        if service is None:
            reason = host.queue_error or "the project's queue has not started"
            raise HttpError(503, "QUEUE_UNAVAILABLE", reason, headers={"Retry-After": "5"})
        return service

    async def _answer(self, path: str) -> None:
        await self.host.wait_ready()
        try:
            service = self._service()
        except HttpError as error:
            self.send_error_json(error)
            return
        query = {name: self.get_query_argument(name) for name in self.request.query_arguments}
        status, body = await api.handle(service, self.request.method or "GET", path, query)
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))


#: Mounted ahead of the extension's other handlers (before the `gingee/api/...` catch-all).
queue_handlers: list[tuple[Any, ...]] = [(r"/gingee/api/queue(?:/(.*))?", QueueAPIHandler)]
