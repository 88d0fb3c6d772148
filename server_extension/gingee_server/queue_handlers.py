"""`{base_url}gingee/api/queue/...`: the queue operator API (stats, job listings, DLQ retry and discard) of
the on-disk project and of the apps served live from kernels, as `gingee serve` answers it under
`/_gingee/api/queue/`.

The routing and answers are `gingee_kernel.jobqueue.api.handle`; this handler adds Jupyter's auth (403
JSON, never a login redirect), Jupyter's authorizer on resource "gingee" (read for GET, write for POST
and DELETE) and Jupyter's XSRF check on writes (Tornado calls `check_xsrf_cookie` before POST/DELETE;
token-authenticated requests skip it, as everywhere in Jupyter). The host starts the on-disk project's
queue when it loads the project (host.py): the memory driver runs jobs in the Jupyter process, arq only
enqueues here and `gingee worker` runs them.

A live app's jobs run in its kernel, so `.../api/queue/<app>/...` for a live app (which shadows an on-disk
app of its name, as everywhere) is relayed to that kernel's secret port (`KERNEL_QUEUE_PATH`), and the
overview `.../api/queue/` merges each kernel's apps into the on-disk ones, naming them under `live`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.httpclient import AsyncHTTPClient

from gingee_kernel.errors import HttpError
from gingee_kernel.jobqueue import api
from gingee_kernel.jobqueue.service import SHARED_KEY, QueueService
from gingee_kernel.live import KERNEL_QUEUE_PATH, Registration

from .handlers import GingeeAPIHandler, kernel_request

log = logging.getLogger("gingee.jupyter")

#: Seconds a kernel has to answer a queue API request (it answers from its own loop, beside the cells).
KERNEL_TIMEOUT = 10.0

Answer = tuple[int, dict[str, Any]]


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
        path = path.strip("/")
        method = self.request.method or "GET"
        name = path.split("/", 1)[0]
        registration = self.host.live.get(name) if name else None
        try:
            if registration is not None:
                status, body = await self._kernel(registration, method, path)
            elif name:
                status, body = await self._disk(method, path)
            else:
                status, body = await self._overview(method)
        except HttpError as error:
            self.send_error_json(error)
            return
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    async def _disk(self, method: str, path: str) -> Answer:
        query = {name: self.get_query_argument(name) for name in self.request.query_arguments}
        return await api.handle(self._service(), method, path, query)

    async def _kernel(self, registration: Registration, method: str, path: str) -> Answer:
        """Relay to the live app's kernel; its queue answers with the same API."""
        status, body = await kernel_queue(registration, method, path, self.request.query)
        if status == 599:
            self.host.live.drop(registration)
            raise self.host.unavailable(registration)
        return status, body

    async def _overview(self, method: str) -> Answer:
        """Every app's counts: the on-disk project's, then each live app's from its kernel (shadowing)."""
        live = self.host.live.all()
        try:
            status, body = await self._disk(method, "")
        except HttpError as error:  # no on-disk queue: an error, unless live apps have theirs
            if not live:
                raise
            status, body = 200, {"driver": None, "apps": {}, "disk_error": error.reason}
        if status != 200:
            return status, body
        kernels = {(r.port, r.secret): r for r in live.values()}
        answers = await asyncio.gather(*(kernel_queue(r, "GET", "", "") for r in kernels.values()))
        apps: dict[str, Any] = body["apps"]
        drivers: dict[str, str] = {}
        for (kernel_status, kernel_body), registration in zip(answers, kernels.values(), strict=True):
            if kernel_status != 200:
                continue
            for name, counts in kernel_body.get("apps", {}).items():
                if live.get(name) == registration:  # only the apps this kernel serves live
                    apps[name] = counts
                    drivers[name] = kernel_body.get("driver")
        body["apps"] = dict(sorted(apps.items()))
        body["live"] = drivers
        return 200, body


async def kernel_queue(registration: Registration, method: str, path: str, query: str) -> Answer:
    """One queue API request to a live app's kernel (its secret port): (status, JSON body), or status 599
    with the reason if the kernel does not answer."""
    target = f"{KERNEL_QUEUE_PATH}{quote(path)}" + (f"?{query}" if query else "")
    request = kernel_request(registration, target, method, KERNEL_TIMEOUT)
    try:
        reply = await AsyncHTTPClient().fetch(request, raise_error=False)
    except Exception as exc:  # a gone or wedged kernel: the caller answers 502, the overview skips it
        log.info("gingee: the kernel of app '%s' did not answer the queue API (%s)", registration.app, exc)
        return 599, {"error": "KERNEL_APP_UNAVAILABLE", "reason": str(exc)}
    if reply.code == 599:
        return 599, {"error": "KERNEL_APP_UNAVAILABLE", "reason": str(reply.error)}
    try:
        return reply.code, json.loads(reply.body)
    except ValueError:
        return 502, {"error": "BAD_KERNEL_ANSWER", "reason": f"the kernel answered HTTP {reply.code}"}


#: Mounted ahead of the extension's other handlers (before the `gingee/api/...` catch-all).
queue_handlers: list[tuple[Any, ...]] = [(r"/gingee/api/queue(?:/(.*))?", QueueAPIHandler)]
