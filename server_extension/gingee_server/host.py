"""The Jupyter host's state: the project's on-disk apps (one Engine), live apps from kernels, the proxy.

`resolve(name)` says where a request for `{base_url}gingee/<name>/...` goes: to a live app announced by a
kernel (which shadows an on-disk app of the same name), to the engine, or nowhere (404). `describe()`
feeds the admin API.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.dispatch import Engine
from gingee_kernel.engine.loader import is_app_dir
from gingee_kernel.engine.project import Project
from gingee_kernel.engine.sizes import parse_size
from gingee_kernel.errors import GingeeError, HttpError
from gingee_kernel.jobqueue.service import close_service, start_project_queue
from gingee_kernel.live import Registration

from .policy import AppPolicy, SafetyPolicy
from .proxy import LiveProxy
from .registry import LiveIndex

log = logging.getLogger("gingee.jupyter")

#: First path segments under `{base_url}gingee/` that belong to the extension, never to an app.
RESERVED = frozenset({"api", "static", "metrics"})
DEFAULT_MAX_BODY = 10 * 1024 * 1024
PRIVATE = AppPolicy(public=False)


@dataclass(frozen=True)
class Target:
    """Where one request goes: `source` is "disk", "live" or "none" (no such app)."""

    name: str
    source: str
    policy: AppPolicy
    registration: Registration | None = None


class GingeeHost:
    """The project in Jupyter's root dir, the live apps in its runtime dir, and how to reach them."""

    def __init__(
        self,
        project_dir: Path,
        runtime_dir: Path,
        base_url: str,
        *,
        dev: bool = True,
        safety: SafetyPolicy | None = None,
        proxy: LiveProxy | None = None,
    ) -> None:
        #: The URL path every app sits under, without a trailing slash (`/user/ada/gingee`).
        self.prefix = base_url.rstrip("/") + "/gingee"
        self.safety = safety or SafetyPolicy()
        self.proxy = proxy or LiveProxy()
        self.live = LiveIndex(runtime_dir)
        self.project: Project | None = None
        self.engine: Engine | None = None
        self.project_error: str | None = None
        self.queue_error: str | None = None  # why the project's queue did not start (Redis down...)
        try:
            self.project = Project(project_dir, dev=dev)
            self.engine = Engine(self.project)
        except GingeeError as exc:
            self.project_error = str(exc)
            log.error("gingee: the project in %s cannot be served: %s", project_dir, exc)
        self._policies: weakref.WeakKeyDictionary[AppRuntime, AppPolicy] = weakref.WeakKeyDictionary()
        self._ready: asyncio.Event | None = None
        self._started = False

    def _ready_event(self) -> asyncio.Event:
        if self._ready is None:
            self._ready = asyncio.Event()
        return self._ready

    async def start(self) -> None:
        """Load every on-disk app (a broken one is reported, the others serve) and start the queue."""
        try:
            if self.project is not None:
                await self.project.load()
                try:  # memory: jobs run here; arq: only enqueued here, `gingee worker` runs them
                    await start_project_queue(self.project)
                except GingeeError as exc:
                    self.queue_error = str(exc)
                    log.error("gingee: the project's queue did not start: %s", exc)
                for name in sorted(set(self.project.apps) & RESERVED):
                    log.error("gingee: app '%s' is not reachable: %s", name, _reserved(name))
        finally:
            self._started = True
            self._ready_event().set()

    async def wait_ready(self) -> None:
        """Wait until the apps have loaded (requests may arrive before the start hook has run)."""
        if not self._started:
            await self._ready_event().wait()

    async def stop(self) -> None:
        """Close the proxy's connections, the queue (running jobs drain) and the apps."""
        await self.proxy.close()
        if self.project is not None:
            await close_service(self.project.shared)
            await self.project.close()

    def app_url(self, name: str) -> str:
        """The URL path of an app, with its trailing slash."""
        return f"{self.prefix}/{name}/"

    def policy(self, app: AppRuntime) -> AppPolicy:
        """The safety policy of a loaded app (its warning is logged once per load)."""
        policy = self._policies.get(app)
        if policy is None:
            policy = self.safety.for_app(app.name, app.public, app.config.get("jupyter"))
            if policy.warning:
                log.warning("gingee: %s", policy.warning)
            self._policies[app] = policy
        return policy

    def live_policy(self, registration: Registration) -> AppPolicy:
        """The safety policy of a live app (from its registration)."""
        jupyter = {"sandbox": getattr(registration, "sandbox", True)}
        return self.safety.for_app(registration.app, registration.public, jupyter)

    async def resolve(self, name: str) -> Target:
        """Where a request for app `name` goes; in dev mode on-disk changes are picked up first."""
        registration = self.live.get(name) if name else None
        if registration is not None:
            return Target(name, "live", self.live_policy(registration), registration)
        project = self.project
        if project is None:
            return Target(name, "disk", PRIVATE)
        if project.dev and name:
            await project.refresh(name)
        app = project.apps.get(name)
        if app is not None:
            return Target(name, "disk", self.policy(app))
        if not name or name in project.errors or is_app_dir(project.web_root / name):
            return Target(name, "disk", PRIVATE)
        return Target(name, "none", PRIVATE)

    def not_found(self, name: str) -> HttpError:
        """The 404 for a name that is neither on disk nor live."""
        where = "web"
        if self.project is not None and self.project.web_root.is_relative_to(self.project.dir):
            where = self.project.web_root.relative_to(self.project.dir).as_posix()
        return HttpError(
            404,
            "APP_NOT_FOUND",
            f"no app named '{name}': none is served live from a kernel (run app.serve() in the notebook "
            f"that defines it) and there is no {where}/{name}/box/app.json",
        )

    def unavailable(self, registration: Registration) -> HttpError:
        """The 502 for a live app whose kernel is gone."""
        return HttpError(
            502,
            "KERNEL_APP_UNAVAILABLE",
            f"app '{registration.app}' was served live from a kernel (pid {registration.pid}) that no "
            "longer answers: it stopped or restarted. Re-run app.serve() in its notebook.",
        )

    def project_unavailable(self) -> HttpError:
        """The 503 for on-disk apps when gingee.json is broken."""
        return HttpError(
            503,
            "PROJECT_UNAVAILABLE",
            f"the Gingee project cannot be served: {self.project_error}",
            headers={"Retry-After": "5"},
        )

    def max_body_size(self, registration: Registration) -> int:
        """The body limit for requests proxied to a live app."""
        own = getattr(registration, "max_body_size", None)
        if own:
            return int(own)
        if self.project is not None:
            return parse_size(self.project.config["max_body_size"])
        return DEFAULT_MAX_BODY

    # --- admin API ----------------------------------------------------------------------------------

    def disk_names(self) -> list[str]:
        """Every on-disk app name: loaded, failed, or present but not loaded yet."""
        project = self.project
        if project is None:
            return []
        return sorted(set(project.apps) | set(project.errors) | {p.name for p in project.app_dirs()})

    def describe(self) -> list[dict[str, Any]]:
        """Every app, once by name: a live app (shadowing any on-disk one), else the on-disk one."""
        live = self.live.all()
        disk = self.disk_names()
        names = sorted(set(disk) | set(live))
        return [self.describe_one(name, live.get(name), name in disk) for name in names]

    def describe_one(self, name: str, registration: Registration | None, on_disk: bool) -> dict[str, Any]:
        """One app as the admin API shows it."""
        disk = self._describe_disk(name) if on_disk else None
        if registration is None:
            assert disk is not None
            return {"name": name, **disk, "shadows_disk": False, "url": self.app_url(name)}
        policy = self.live_policy(registration)
        entry: dict[str, Any] = {
            "name": name,
            "source": "live",
            "status": "error" if name in RESERVED else "serving",
            "error": _reserved(name) if name in RESERVED else None,
            "public": policy.public,
            "sandbox": policy.sandbox,
            "warning": policy.warning,
            "kernel_id": registration.kernel_id,
            "pid": registration.pid,
            "shadows_disk": on_disk,
            "url": self.app_url(name),
        }
        if disk is not None:
            entry["disk"] = disk
        return entry

    def _describe_disk(self, name: str) -> dict[str, Any]:
        project = self.project
        assert project is not None
        app = project.apps.get(name)
        policy = self.policy(app) if app is not None else PRIVATE
        if name in RESERVED:
            status, error = "error", _reserved(name)
        elif app is not None:
            status, error = "serving", None
        else:
            status, error = "error", project.errors.get(name, "not loaded yet (it loads on first request)")
        return {
            "source": "disk",
            "status": status,
            "error": error,
            "public": policy.public,
            "sandbox": policy.sandbox,
            "warning": policy.warning,
        }

    async def reload(self, name: str) -> dict[str, Any]:
        """Reload an on-disk app from disk; 404 if there is none, 409 if it only lives in a kernel."""
        project = self.project
        if project is None:
            raise self.project_unavailable()
        registration = self.live.get(name)
        on_disk = name in self.disk_names() or is_app_dir(project.web_root / name)
        if not on_disk:
            if registration is not None:
                raise HttpError(
                    409,
                    "APP_IS_LIVE",
                    f"app '{name}' is served live from a kernel; re-run its cells (or app.serve()) there",
                )
            raise self.not_found(name)
        await project.reload(name)
        still_on_disk = name in self.disk_names()
        if not still_on_disk and registration is None:
            raise self.not_found(name)
        return self.describe_one(name, registration, still_on_disk)


def _reserved(name: str) -> str:
    return f"'{name}' is reserved under gingee/ (api, static, metrics); rename the app folder"
