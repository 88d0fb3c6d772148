"""The operator apps API on `gingee serve`, beside the queue API and under the same access rule
(admin_access.py), answering JSON:

    GET    /_gingee/api/apps                        every app: name, version, status, load error, grants
    POST   /_gingee/api/apps[?grant_declared=1&dry_run=1]          install a package (raw body or multipart
                                                                   field "package")
    GET    /_gingee/api/apps/<app>                  one app
    PUT    /_gingee/api/apps/<app>[?force=1&grant_declared=1&dry_run=1]   upgrade it
    DELETE /_gingee/api/apps/<app>[?dry_run=1]      remove it (backed up first)
    POST   /_gingee/api/apps/<app>/reload           reload it from disk
    POST   /_gingee/api/apps/<app>/rollback[?to=VERSION&dry_run=1]
    GET    /_gingee/api/apps/<app>/backups
    GET    /_gingee/api/audit[?app=&limit=100]      the audit log, oldest first

A package body is read up to gingee.json `lifecycle.max_package_size` (413 past it). Under
`--workers N`, a change made by one worker is followed by a SIGHUP to the supervisor, which every worker
answers by reloading its apps.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import uuid
from typing import Any

import tornado.httputil
import tornado.web

from ..admin_access import AdminAccess
from ..deferred_refusal import DeferredRefusal
from ..engine.loader import APP_NAME
from ..engine.permissions import declared, read_grants
from ..engine.project import Project
from ..errors import GingeeError, HttpError, ManifestError
from ..jobqueue.api import query_limit
from ..json_errors import JsonErrors
from ..metrics.http import socket_peer
from .audit import AuditLog
from .operations import Lifecycle, LifecycleError, LoadFailed
from .package import PackageError, PackageLimits, read_app
from .switch import Busy

log = logging.getLogger("gingee.lifecycle")

PREFIX = "/_gingee/api"
#: Room for a multipart envelope around the largest package.
_MULTIPART_SLACK = 1 << 20


def app_status(project: Project, name: str) -> dict[str, Any]:
    """What the API says about one app: version, status, load error, grants, declared permissions."""
    root = project.web_root / name
    version: str | None = None
    asked: set[str] = set()
    try:
        config, pmft = read_app(root)
        version = str(config["version"]) if config.get("version") is not None else None
        asked = declared(pmft)
    except (GingeeError, OSError):
        pass
    runtime = project.apps.get(name)
    if runtime is not None:
        status = "maintenance" if runtime.maintenance else "serving"
    elif name in project.errors:
        status = "failed"
    else:
        status = "not loaded"
    grants_file = project.dir / project.config["permissions_file"]
    try:
        grants = (
            sorted(runtime.grants) if runtime is not None else sorted(read_grants(grants_file).get(name, ()))
        )
    except ManifestError:
        grants = []
    return {
        "name": name,
        "version": version,
        "status": status,
        "error": project.errors.get(name),
        "grants": grants,
        "declared": sorted(asked),
        "public": bool(runtime.public) if runtime is not None else None,
        "isolation": _isolation(project, name) if runtime is not None and runtime.isolated else None,
    }


def _isolation(project: Project, name: str) -> dict[str, Any]:
    """An isolated app's worker: its name, pid (None until the first request), restarts, load error."""
    from ..isolation.host import host_for

    worker = host_for(project).worker(name)
    return {"worker": worker.name, "pid": worker.pid, "restarts": worker.restarts,
            "error": worker.errors.get(name)}  # fmt: skip


@tornado.web.stream_request_body
class AppsApiHandler(JsonErrors):
    """`/_gingee/api/apps[/<app>[/<action>]]` and `/_gingee/api/audit`."""

    streams_body = True

    SUPPORTED_METHODS = ("GET", "POST", "PUT", "DELETE")

    def initialize(self, project: Project, access: AdminAccess, worker: bool = False) -> None:
        self.project = project
        self.access = access
        self.worker = worker
        self.limits = PackageLimits.from_config(project.config)
        self._chunks: list[bytes] = []
        self._size = 0
        self._limit = self.limits.max_package_bytes + _MULTIPART_SLACK
        #: A refusal decided before the body was read: answered once it is (deferred_refusal.py).
        self.refusal = DeferredRefusal(self, self.limits.max_package_bytes + _MULTIPART_SLACK, self._reply)
        self.who: str | None = None

    def prepare(self) -> None:
        self.who, reason = self.access.who(self.request)
        if self.who is None:
            self.refusal.refuse(403, {"error": "ACCESS_DENIED", "reason": reason})
            return
        # A raw body is the package itself; only a multipart envelope gets room around it.
        multipart = self.request.headers.get("Content-Type", "").startswith("multipart/form-data")
        self._limit = self.limits.max_package_bytes + (_MULTIPART_SLACK if multipart else 0)
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > self._limit:
            self.refusal.refuse(413, self._too_large_body())
        # A chunked body is counted in data_received (the connection's max_body_size is not set: past it,
        # Tornado drops the connection without an answer).

    def _too_large_body(self) -> dict[str, Any]:
        return {
            "error": "PACKAGE_TOO_LARGE",
            "reason": f"a package may be at most {self.limits.max_package_bytes} bytes "
            "(gingee.json lifecycle.max_package_size)",
        }

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self.refusal.pending:
            self.refusal.received(self._size)
        elif self._size > self._limit:
            self._chunks.clear()
            self.refusal.refuse(413, self._too_large_body(), self._size)
        else:
            self._chunks.append(chunk)

    def _reply(self, status: int, body: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    def check_xsrf_cookie(self) -> None:
        """Bearer-token (or loopback) API without cookies; cross-site requests are refused in prepare."""

    def _flag(self, name: str) -> bool:
        return self.get_query_argument(name, "0").lower() in ("1", "true", "yes")

    def _package_body(self) -> bytes:
        body = b"".join(self._chunks)
        kind = self.request.headers.get("Content-Type", "")
        if kind.startswith("multipart/form-data"):
            args: dict[str, list[bytes]] = {}
            files: dict[str, list[tornado.httputil.HTTPFile]] = {}
            try:
                tornado.httputil.parse_body_arguments(kind, body, args, files)
            except tornado.httputil.HTTPInputError as exc:
                raise PackageError(f"the multipart body is broken: {exc}") from None
            uploads = files.get("package") or next(iter(files.values()), [])
            if not uploads:
                raise PackageError('the multipart body has no file; send the package in the field "package"')
            if len(uploads[0].body) > self.limits.max_package_bytes:
                raise _TooLarge()
            return bytes(uploads[0].body)
        if not body:
            raise PackageError("no package: send the .gin file as the request body")
        return body

    def _lifecycle(self) -> Lifecycle:
        return Lifecycle(
            self.project.dir, self.project.config, who=self.who or "?", replace=self.project.replace
        )

    async def get(self, path: str) -> None:
        await self._answer(path)

    async def post(self, path: str) -> None:
        await self._answer(path)

    async def put(self, path: str) -> None:
        await self._answer(path)

    async def delete(self, path: str) -> None:
        await self._answer(path)

    async def _answer(self, path: str) -> None:
        refusal = self.refusal
        if refusal.pending:
            if not refusal.answered:  # else answered while the body was arriving
                assert refusal.body is not None
                self._audit_refusal(path, refusal.status, refusal.body)
                refusal.answer()
            return
        try:
            status, body, changed = await self._route(
                self.request.method or "GET", path.strip("/").split("/")
            )
        except HttpError as exc:
            status, body, changed = exc.status, exc.body(), False
        except _TooLarge:
            status, body, changed = 413, self._too_large_body(), False
        except LoadFailed as exc:
            status, body, changed = (
                exc.status,
                {"error": exc.code, "reason": str(exc), "plan": exc.plan.as_dict()},
                False,
            )
        except LifecycleError as exc:
            status, body, changed = exc.status, {"error": exc.code, "reason": str(exc)}, False
        except Busy as exc:
            status, body, changed = 409, {"error": "BUSY", "reason": str(exc)}, False
        except (PackageError, ManifestError) as exc:
            status, body, changed = 400, {"error": "BAD_PACKAGE", "reason": str(exc)}, False
        except GingeeError as exc:
            status, body, changed = 400, {"error": "REFUSED", "reason": str(exc)}, False
        except Exception:
            request_id = uuid.uuid4().hex[:12]
            log.exception("operator API %s %s failed (request id %s)", self.request.method, path, request_id)
            status = 500
            body = {
                "error": "INTERNAL_SERVER_ERROR",
                "reason": f"see the server log (request id {request_id})",
            }
            changed = False
        self._audit_refusal(path, status, body)
        fleet = self.project.shared.get("fleet")
        published = False
        if changed and status < 400 and fleet is not None:
            status, body = await self._publish(fleet, body, status)
            published = status < 400  # this host's other workers follow the registry too
        if changed and self.worker and not published:
            os.kill(os.getppid(), signal.SIGHUP)  # the supervisor has every worker reload its apps
        self._reply(status, body)

    async def _publish(self, fleet: Any, body: dict[str, Any], status: int) -> tuple[int, dict[str, Any]]:
        """Announce a change made here to the fleet (the other workers of this host follow it too); the
        answer says which registry revision it is, or that the change is here only."""
        plan = body.get("plan") or {}
        app, op = plan.get("app") or body.get("name"), plan.get("action") or "reload"
        try:
            rev = await fleet.publish(app, op=op, who=self.who or "?")
        except Exception as exc:
            log.error("operator API: app '%s' changed here but could not be published: %s", app, exc)
            reason = (
                f"app '{app}' changed on this node, but the fleet registry could not be told "
                f"({type(exc).__name__}); the other nodes still serve the previous version: retry the "
                "operation, or publish this node's copy with `gingee cluster publish`"
            )
            return 503, {**body, "error": "NOT_PUBLISHED", "reason": reason}
        return status, {**body, "fleet": {"rev": rev, "node": fleet.node_id}}

    def _audit_refusal(self, path: str, status: int, body: dict[str, Any]) -> None:
        """A refused or denied state-changing call goes into the audit log, with the app it was about."""
        if status < 400 or self.request.method == "GET" or status in (404, 405, 422):  # 422: audited already
            return
        parts = path.strip("/").split("/")
        app = parts[1] if len(parts) > 1 and parts[0] == "apps" and APP_NAME.match(parts[1]) else None
        who = self.who or f"peer:{socket_peer(self.request)}"
        result = "denied" if status == 403 else "refused"
        AuditLog(self.project.dir).record(
            who, f"{self.request.method} {path}", app, result, reason=body.get("reason")
        )

    async def _route(self, method: str, parts: list[str]) -> tuple[int, Any, bool]:
        """(status, body, whether the apps changed) for a request under PREFIX."""
        if parts == ["audit"]:
            self._only(method, "GET")
            app = self.get_query_argument("app", None)
            limit = query_limit({"limit": self.get_query_argument("limit", "100")})
            return 200, {"entries": AuditLog(self.project.dir).read(app, limit)}, False
        if parts[0] != "apps" or len(parts) > 3:
            return (
                404,
                {"error": "NOT_FOUND", "reason": f"no operator API at {PREFIX}/{'/'.join(parts)}"},
                False,
            )
        dry_run = self._flag("dry_run")
        if len(parts) == 1:
            self._only(method, "GET", "POST")
            if method == "GET":
                names = sorted(
                    set(self.project.apps)
                    | set(self.project.errors)
                    | {p.name for p in self.project.app_dirs()}
                )
                return 200, {"apps": [app_status(self.project, n) for n in names]}, False
            plan = await self._lifecycle().install(
                self._package_body(), grant_declared=self._flag("grant_declared"), dry_run=dry_run
            )
            return (200 if dry_run else 201), {"plan": plan.as_dict(), "text": plan.text()}, not dry_run
        name = parts[1]
        if not APP_NAME.match(name):
            return 400, {"error": "BAD_NAME", "reason": f"'{name}' is not an app name"}, False
        if len(parts) == 2:
            self._only(method, "GET", "PUT", "DELETE")
            if method == "GET":
                if not (self.project.web_root / name).is_dir() and name not in self.project.apps:
                    return 404, {"error": "APP_NOT_FOUND", "reason": f"no app named '{name}'"}, False
                return 200, app_status(self.project, name), False
            if method == "PUT":
                plan = await self._lifecycle().upgrade(
                    self._package_body(),
                    app=name,
                    force=self._flag("force"),
                    grant_declared=self._flag("grant_declared"),
                    dry_run=dry_run,
                )
            else:
                plan = await self._lifecycle().remove(name, dry_run=dry_run)
            return 200, {"plan": plan.as_dict(), "text": plan.text()}, not dry_run
        action = parts[2]
        if action == "backups":
            self._only(method, "GET")
            return 200, {"app": name, "backups": self._lifecycle().backups(name)}, False
        if action == "rollback":
            self._only(method, "POST")
            plan = await self._lifecycle().rollback(
                name, to=self.get_query_argument("to", None), dry_run=dry_run
            )
            return 200, {"plan": plan.as_dict(), "text": plan.text()}, not dry_run
        if action == "reload":
            self._only(method, "POST")
            if not (self.project.web_root / name).is_dir():
                return 404, {"error": "APP_NOT_FOUND", "reason": f"no app named '{name}'"}, False
            await self.project.reload(name)
            state = app_status(self.project, name)
            AuditLog(self.project.dir).record(
                self.who or "?",
                "reload",
                name,
                "ok" if state["error"] is None else "error",
                error=state["error"],
            )
            return (200 if state["error"] is None else 422), state, True
        return 404, {"error": "NOT_FOUND", "reason": f"no operator API action '{action}'"}, False

    def _only(self, method: str, *allowed: str) -> None:
        if method not in allowed:
            raise _MethodNotAllowed(allowed)


class _TooLarge(Exception):
    """A multipart upload whose package is over lifecycle.max_package_size."""


class _MethodNotAllowed(LifecycleError):
    status = 405
    code = "METHOD_NOT_ALLOWED"

    def __init__(self, allowed: tuple[str, ...]) -> None:
        super().__init__(f"use {', '.join(allowed)} here")


def apps_api_handlers(project: Project, *, worker: bool = False) -> list[Any]:
    """The URL table of the apps and audit API, for `Server.extra_handlers`."""
    access = AdminAccess((project.config.get("admin") or {}).get("token"))
    args = {"project": project, "access": access, "worker": worker}
    return [(rf"{PREFIX}/((?:apps|audit)(?:/.*)?)", AppsApiHandler, args)]
