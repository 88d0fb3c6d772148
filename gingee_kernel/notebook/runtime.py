"""Turn a notebook App into a loaded AppRuntime on the kernel host (and take it down again)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..engine.app import AppRuntime
from ..engine.limits import app_limits
from ..engine.pipeline import AppPipeline
from ..engine.router import Route, Router, compile_route
from ..engine.scripts import ScriptLoader

if TYPE_CHECKING:
    from .app import App
    from .host import LiveHost

NOTEBOOK_PREFIX = "notebook/"


def _router(app: App) -> tuple[Router, dict[str, object]]:
    routes: list[Route] = []
    handlers: dict[str, object] = {}
    for route in app.routes:
        key = NOTEBOOK_PREFIX + route.key
        handlers[key] = route.func
        for method in route.methods:
            compiled = compile_route(route.path, method, key)
            routes.append(compiled)
    return Router(routes), handlers


async def install(host: LiveHost, app: App) -> AppRuntime:
    """Load or update `app` in the host's project: same runtime (and db engines) unless config changed."""
    project = host.project
    grants = frozenset(app.permissions)
    runtime = project.apps.get(app.name)
    if (
        runtime is None
        or runtime.config != app.config
        or runtime.grants != grants
        or runtime.root != app.root.resolve()
    ):
        if runtime is not None:
            await runtime.close()
        runtime = AppRuntime(
            app.name,
            app.root,
            app.config,
            project.config,
            grants,
            project_dir=project.dir,
            shared=project.shared,
            dev=True,
        )
    router, handlers = _router(app)
    limits = app_limits(app.name, project.config, app.config)
    runtime.pipeline = AppPipeline(
        runtime,
        router,
        ScriptLoader(app.name, runtime.box, watch=True),
        [],
        limits,
        project.executor,
        handlers=handlers,  # type: ignore[arg-type]
    )
    runtime.public = app.public
    runtime.state["notebook_jobs"] = {name: job.func for name, job in app.jobs.items()}
    project.apps[app.name] = runtime
    project.errors.pop(app.name, None)
    return runtime


async def uninstall(host: LiveHost, name: str) -> None:
    """Unload an app from the host."""
    runtime = host.project.apps.pop(name, None)
    if runtime is not None:
        await runtime.close()
