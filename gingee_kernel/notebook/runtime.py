"""Turn a notebook App into a loaded AppRuntime on the kernel host (and take it down again).

Its `@app.job`s become the runtime's in-memory job handlers (jobqueue.handlers), and an app that uses the
queue has the host start the project's queue, so its jobs run in this kernel with either driver.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.app import AppRuntime
from ..engine.limits import app_limits
from ..engine.loader import background_scripts, script_list, websocket_scripts
from ..engine.paths import box_script
from ..engine.pipeline import AppPipeline
from ..engine.router import Route, Router, compile_route
from ..engine.scripts import ScriptLoader
from ..engine.secrets import resolve_secrets
from ..errors import GingeeError, ManifestError
from ..jobqueue.handlers import register_job_handler, registered, unregister_job_handler
from ..jobqueue.job import JOB_NAME
from ..modules.login.settings import login_settings
from .model import AppConfigError, NotebookJob, socket_scripts

if TYPE_CHECKING:
    from .app import App
    from .host import LiveHost

NOTEBOOK_PREFIX = "notebook/"
JOB_OPTIONS = ("attempts", "backoff", "backoff_ms")


def _socket_scripts(
    app: App, box: Path, config: dict[str, Any], label: str
) -> tuple[dict[str, object], set[Path]]:
    """The `@app.websocket` functions as in-memory handlers (keyed by the box script app.json names), and
    the websocket scripts no URL runs: those, and the box files app.json names (which must exist)."""
    functions = socket_scripts(config, app.socket_functions)
    section = {k: v for k, v in (config.get("websockets") or {}).items() if k in ("handler", "auth")}
    section = {k: v for k, v in section.items() if v not in functions}
    hidden = websocket_scripts(box, {"websockets": section}, label)
    return dict(functions), hidden | {box_script(box, name) for name in functions}


def _router(app: App) -> tuple[Router, dict[str, object]]:
    routes: list[Route] = []
    handlers: dict[str, object] = {}
    for route in app.routes:
        key = NOTEBOOK_PREFIX + route.key
        handlers[key] = route.func
        for method in route.methods:
            body = route.body if isinstance(route.body, str) else "buffer"
            compiled = compile_route(route.path, method, key, body=body, login=route.login)
            if isinstance(route.body, dict) or route.response is not None:
                schema = route.body if isinstance(route.body, dict) else None
                compiled = replace(compiled, body_schema=schema, response_schema=route.response)
            routes.append(compiled)
    return Router(routes), handlers


@dataclass(frozen=True)
class JobSettings:
    """A notebook job, checked: its function, and the attempts and backoff (seconds) it asks for."""

    func: Callable[..., Any]
    attempts: int | None
    backoff: float | None


def _number(options: dict[str, Any], key: str, label: str, expected: str) -> float | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise AppConfigError(label, f"/{key}", f"{expected}, not {value!r}")
    return float(value)


def job_settings(job: NotebookJob) -> JobSettings:
    """`@app.job(name, attempts=3, backoff=2)` checked (backoff in seconds; app.json's `backoff_ms` is
    accepted too); AppConfigError naming the bad option, shown in the cell."""
    label = f"@app.job({job.name!r})"
    if not JOB_NAME.match(job.name):
        raise AppConfigError(label, "/name", "a job name of 1-100 letters, digits, '_' or '-'")
    options = job.options
    unknown = sorted(set(options) - set(JOB_OPTIONS))
    if unknown:
        raise AppConfigError(label, f"/{unknown[0]}", "no such option: use attempts=N and backoff=seconds")
    attempts = options.get("attempts")
    if attempts is not None and (isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1):
        raise AppConfigError(
            label, "/attempts", f"an integer >= 1 (runs before the job is dead), not {attempts!r}"
        )
    if "backoff" in options and "backoff_ms" in options:
        raise AppConfigError(label, "/backoff", "backoff (seconds) or backoff_ms, not both")
    backoff = _number(options, "backoff", label, "a number of seconds >= 0 (the first retry's delay)")
    backoff_ms = _number(options, "backoff_ms", label, "a number of milliseconds >= 0")
    return JobSettings(job.func, attempts, backoff_ms / 1000 if backoff_ms is not None else backoff)


def _register_jobs(runtime: AppRuntime, jobs: dict[str, JobSettings]) -> None:
    """Make the runtime's in-memory job handlers exactly the app's jobs (re-running a cell replaces one)."""
    for name in set(registered(runtime)) - set(jobs):
        unregister_job_handler(runtime, name)
    for name, job in jobs.items():
        register_job_handler(runtime, name, job.func, attempts=job.attempts, backoff=job.backoff)


async def install(host: LiveHost, app: App) -> AppRuntime:
    """Load or update `app` in the host's project: same runtime (and db engines) unless config changed.

    As `gingee serve` loads an app: `env:`/`file:` secrets resolved, `default_include` middleware run
    before every route, startup, background and websocket scripts never served as file routes.
    """
    project = host.project
    grants = frozenset(app.permissions)
    label = f"App({app.name!r})"
    jobs = {name: job_settings(job) for name, job in app.jobs.items()}  # checked before anything changes
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
        hidden |= background_scripts(box, config)
        sockets, socket_files = _socket_scripts(app, box, config, label)
    except ManifestError as exc:
        raise AppConfigError(label, exc.pointer, exc.expected) from None
    try:
        login = login_settings(runtime, label)
    except ManifestError as exc:
        raise AppConfigError(label, exc.pointer, exc.expected) from None
    router, handlers = _router(app)
    handlers.update(sockets)
    hidden |= socket_files
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
        login=login,
    )
    runtime.public = app.public
    if config.get("plugins") and "plugins" not in runtime.state:
        from ..plugin_host.loader import load_plugins, start_plugins

        try:
            bound = load_plugins(runtime, label)
        except ManifestError as exc:
            raise AppConfigError(label, exc.pointer, exc.expected) from None
        # A notebook grants what its app declares (as --dev does): the plugins' permissions too.
        runtime.grants = runtime.grants | {b.permission for b in bound.values()}
        await start_plugins(runtime)
    _register_jobs(runtime, jobs)
    project.apps[app.name] = runtime
    project.pinned.add(app.name)
    project.errors.pop(app.name, None)
    if "queue" in grants:
        await host.ensure_queue()  # jobs run in this kernel, whichever driver gingee.json names
    return runtime


async def uninstall(host: LiveHost, name: str) -> None:
    """Unload an app from the host."""
    host.project.pinned.discard(name)
    runtime = host.project.apps.pop(name, None)
    if runtime is not None:
        await runtime.close()
