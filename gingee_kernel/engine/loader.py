"""Load one app from `web/<app>/`: manifests, secrets, routes, grants, limits and startup scripts."""

from __future__ import annotations

import re
from concurrent.futures import Executor
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import GingeeError, HttpError, ManifestError
from ..modules.login.settings import login_settings
from . import manifest
from .app import AppRuntime
from .context import app_context
from .g import G
from .limits import app_limits
from .paths import box_script
from .permissions import grants_for
from .pipeline import AppPipeline
from .router import Route, Router, compile_route
from .scripts import ScriptLoader
from .secrets import resolve_secrets
from .validation import schema_problem

APP_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def is_app_dir(path: Path) -> bool:
    """True for `web/<name>/` folders that hold `box/app.json` and have a safe name."""
    return path.is_dir() and APP_NAME.match(path.name) is not None and (path / "box" / "app.json").is_file()


def read_manifests(
    root: Path, label_root: Path
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    """app.json, routes.json and pmft.json of an app, each validated (the last two may be absent)."""
    box = root / "box"

    def label(name: str) -> str:
        return (
            str((box / name).relative_to(label_root)) if box.is_relative_to(label_root) else str(box / name)
        )

    config = manifest.load("app", box / "app.json", label("app.json"))
    routes = (
        manifest.load("routes", box / "routes.json", label("routes.json"))
        if (box / "routes.json").is_file()
        else None
    )
    pmft = (
        manifest.load("pmft", box / "pmft.json", label("pmft.json"))
        if (box / "pmft.json").is_file()
        else None
    )
    return config, routes, pmft


def compile_routes(box: Path, routes: dict[str, Any] | None, label: str) -> Router:
    """The app's Router; a route with a bad path or a script outside the box is a ManifestError."""
    compiled: list[Route] = []
    for index, entry in enumerate((routes or {}).get("routes", [])):
        body = entry.get("body", "buffer")
        try:
            route = compile_route(
                entry["path"], entry.get("method", "GET"), "", entry.get("handler", "handle"),
                body if isinstance(body, str) else "buffer", entry.get("login", False) is True,
            )  # fmt: skip
        except ValueError as exc:
            raise ManifestError(label, f"/routes/{index}/path", str(exc)) from None
        schemas = {key: entry.get(key) for key in ("body", "response") if isinstance(entry.get(key), dict)}
        for key, schema in schemas.items():
            problem = schema_problem(schema)
            if problem:
                raise ManifestError(label, f"/routes/{index}/{key}", f"a JSON Schema (2020-12): {problem}")
        script = entry["script"] if entry["script"].endswith(".py") else entry["script"] + ".py"
        try:
            path = box_script(box, script)
        except HttpError:
            raise ManifestError(label, f"/routes/{index}/script", "a script path inside box/") from None
        compiled.append(
            replace(
                route,
                script=str(path.relative_to(box)),
                body_schema=schemas.get("body"),
                response_schema=schemas.get("response"),
                summary=entry.get("summary"),
            )
        )
    return Router(compiled)


def script_list(box: Path, names: list[str], label: str, key: str) -> list[Path]:
    """Resolve box-relative script names (startup_scripts, default_include); each must exist."""
    return [_existing_script(box, name, label, f"/{key}/{index}") for index, name in enumerate(names)]


def _existing_script(box: Path, name: str, label: str, pointer: str) -> Path:
    """The box script `name`; a ManifestError at `pointer` if it is outside box/ or does not exist."""
    try:
        path = box_script(box, name)
    except HttpError:
        raise ManifestError(label, pointer, "a script path inside box/") from None
    if not path.is_file():
        raise ManifestError(label, pointer, f"an existing script, but box/{name} does not exist")
    return path


def background_scripts(box: Path, config: dict[str, Any]) -> set[Path]:
    """Scripts app.json names as queue jobs or schedule targets: never run by a URL."""
    names = [job["script"] for job in ((config.get("queue") or {}).get("jobs") or {}).values()]
    names += [s["target"]["script"] for s in config.get("schedules", []) if "script" in s["target"]]
    paths: set[Path] = set()
    for name in names:
        try:
            paths.add(box_script(box, name))
        except HttpError:
            continue
    return paths


def websocket_scripts(box: Path, config: dict[str, Any], label: str) -> set[Path]:
    """The websocket handler and auth scripts app.json names: each must exist, and no URL runs them."""
    section = config.get("websockets") or {}
    paths: set[Path] = set()
    for key in ("handler", "auth"):
        name = section.get(key)
        if not name:
            continue
        paths.add(_existing_script(box, name, label, f"/websockets/{key}"))
    return paths


async def load_app(
    root: Path,
    *,
    project_dir: Path,
    server_config: dict[str, Any],
    shared: dict[str, Any],
    executor: Executor,
    dev: bool,
    isolated: bool = False,
    resolved: dict[str, Any] | None = None,
    grants: frozenset[str] | None = None,
) -> AppRuntime:
    """Load, validate and start one app; raises GingeeError (with file, pointer, expected) if it can't.

    `isolated`: the app runs in a worker process (isolation/), so here, in the master, none of its code
    runs: no startup script, no plugin, and its scripts cannot be imported (IsolatedScripts). In that
    worker, `resolved` and `grants` are the app.json and grants the master resolved (the worker sees
    neither the secrets' sources nor the permissions file)."""
    name = root.name
    config, routes, pmft = read_manifests(root, project_dir)
    app_label = str((root / "box" / "app.json").relative_to(project_dir))
    if resolved is not None:
        config = resolved
    else:
        roots = [project_dir / r for r in server_config["secrets"]["file_roots"]]
        try:
            config = resolve_secrets(config, file_roots=roots)
        except GingeeError as exc:
            raise ManifestError(app_label, "", str(exc)) from None
    if grants is None:
        grants = grants_for(name, pmft, project_dir / server_config["permissions_file"], dev=dev)
    app = AppRuntime(
        name, root, config, server_config, grants, project_dir=project_dir, shared=shared, dev=dev
    )
    routes_label = str((root / "box" / "routes.json").relative_to(project_dir))
    router = compile_routes(app.box, routes, routes_label)
    includes = script_list(app.box, config.get("default_include", []), app_label, "default_include")
    startup = script_list(app.box, config.get("startup_scripts", []), app_label, "startup_scripts")
    limits = app_limits(name, server_config, config)
    hidden = set(startup) | background_scripts(app.box, config)
    if isolated:
        from ..isolation.scripts import IsolatedScripts

        scripts: ScriptLoader = IsolatedScripts(name, app.box)
    else:
        scripts = ScriptLoader(name, app.box, watch=dev)
    app.isolated = isolated
    app.pipeline = AppPipeline(
        app,
        router,
        scripts,
        includes,
        limits,
        executor,
        hidden=hidden,
        login=login_settings(app, app_label),
    )
    app.pipeline.hidden |= websocket_scripts(app.box, config, app_label)
    if isolated:
        return app
    try:
        if config.get("plugins"):
            from ..plugin_host.loader import load_plugins, start_plugins

            load_plugins(app, app_label)
            await start_plugins(app)
        await run_startup(app, startup)
    except BaseException:
        await app.close()
        raise
    return app


async def run_startup(app: AppRuntime, scripts: list[Path]) -> None:
    """Run each startup script's handle(g) once, as the app; the first failure stops the load."""
    pipeline: AppPipeline = app.pipeline
    for path in scripts:
        with app_context(app):
            g = G(pipeline.info, app.log)
            try:
                await pipeline.call(pipeline.scripts.function(path), g)
            except Exception as exc:
                rel = path.relative_to(app.box)
                raise GingeeError(f"startup script box/{rel} failed: {type(exc).__name__}: {exc}") from exc
