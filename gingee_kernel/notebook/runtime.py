"""Turn a notebook App into a loaded AppRuntime on the kernel host (and take it down again)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..engine.app import AppRuntime
from ..engine.limits import app_limits
from ..engine.loader import background_scripts, script_list, websocket_scripts
from ..engine.pipeline import AppPipeline
from ..engine.router import Route, Router, compile_route
from ..engine.scripts import ScriptLoader
from ..engine.secrets import resolve_secrets
from ..errors import GingeeError, ManifestError
from .model import AppConfigError

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
    """Load or update `app` in the host's project: same runtime (and db engines) unless config changed.

    As `gingee serve` loads an app: `env:`/`file:` secrets resolved, `default_include` middleware run
    before every route, startup, background and websocket scripts never served as file routes.
    """
    project = host.project
    grants = frozenset(app.permissions)
    label = f"App({app.name!r})"
    try:
        roots = [project.dir / r for r in project.config["secrets"]["file_roots"]]
        config = resolve_secrets(app.config, file_roots=roots)
    except GingeeError as exc:
        raise AppConfigError(label, "", str(exc)) from None
    runtime = project.apps.get(app.name)
    if (
        runtime is None
        or runtime.config != config
        or runtime.grants != grants
        or runtime.root != app.root.resolve()
    ):
        if runtime is not None:
            await runtime.close()
        runtime = AppRuntime(
            app.name,
            app.root,
            config,
            project.config,
            grants,
            project_dir=project.dir,
            shared=project.shared,
            dev=True,
        )
    box = runtime.box
    try:
        includes = script_list(box, config.get("default_include", []), label, "default_include")
        hidden = set(script_list(box, config.get("startup_scripts", []), label, "startup_scripts"))
        hidden |= background_scripts(box, config) | websocket_scripts(box, config, label)
    except ManifestError as exc:
        raise AppConfigError(label, exc.pointer, exc.expected) from None
    router, handlers = _router(app)
    limits = app_limits(app.name, project.config, config)
    runtime.pipeline = AppPipeline(
        runtime,
        router,
        ScriptLoader(app.name, box, watch=True),
        includes,
        limits,
        project.executor,
        hidden=hidden,
        handlers=handlers,  # type: ignore[arg-type]
    )
    runtime.public = app.public
    runtime.state["notebook_jobs"] = {name: job.func for name, job in app.jobs.items()}
    project.apps[app.name] = runtime
    project.pinned.add(app.name)
    project.errors.pop(app.name, None)
    return runtime


async def uninstall(host: LiveHost, name: str) -> None:
    """Unload an app from the host."""
    host.project.pinned.discard(name)
    runtime = host.project.apps.pop(name, None)
    if runtime is not None:
        await runtime.close()
