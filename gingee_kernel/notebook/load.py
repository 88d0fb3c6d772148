"""`App.load("web/todo")`: bring an app folder (exported from a notebook, or written by hand) into a notebook.

The App's config is the folder's app.json, its routes are routes.json's entries with their scripts loaded as
functions, its jobs are app.json `queue.jobs` and `box/jobs/*.py`, its websocket handler (and auth) are
app.json `websockets`' scripts loaded as functions, and it asks for what pmft.json declares.
Its root is the folder, so public files and file-routed scripts answer as they do under `gingee serve`.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.loader import read_manifests, run_startup, script_list
from ..engine.paths import box_script
from ..engine.permissions import declared
from ..engine.scripts import ScriptLoader
from ..errors import HttpError
from .model import AppConfigError, NotebookJob, NotebookRoute, check_route, validated
from .runtime import install

if TYPE_CHECKING:
    from .app import App


def load_app(cls: type[App], folder: str | Path) -> App:
    """A notebook App made from the app folder `folder` (`web/<name>`); its name is the folder's."""
    root = Path(folder).resolve()
    if not (root / "box" / "app.json").is_file():
        raise AppConfigError(str(root / "box" / "app.json"), "", "an app folder holding box/app.json")
    config, routes, pmft = read_manifests(root, root.parent)
    app = cls(root.name, root=root)
    app.config = validated(config, f"{root.name}/box/app.json")
    box = root / "box"
    loader = ScriptLoader(f"{root.name}.notebook", box)
    used: dict[str, Any] = {}
    for index, entry in enumerate((routes or {}).get("routes", [])):
        script = _script(box, entry["script"], "routes.json", f"/routes/{index}/script")
        func = _named(loader.function(script, entry.get("handler", "handle")), used)
        method = entry.get("method", "GET").upper()
        previous = app.routes[-1] if app.routes else None
        body = entry.get("body", "buffer")
        login = entry.get("login", False) is True
        if (
            previous is not None
            and previous.func is func
            and previous.path == entry["path"]
            and (previous.body, previous.login) == (body, login)
        ):
            previous.methods = (*previous.methods, method)
        else:
            response = entry.get("response")
            check_route(entry["path"], (method,), body, login, response)
            app.routes.append(NotebookRoute(entry["path"], (method,), func, body, login, response))
    for name, job in _jobs(app.config, box, loader).items():
        app.jobs[name] = job
    _websocket(app, box, loader)
    app.extra_grants |= declared(pmft)
    startup = script_list(box, app.config.get("startup_scripts", []), "app.json", "startup_scripts")
    if startup:
        from .host import LiveHost

        host = LiveHost.get()
        host.call(run_startup(host.call(install(host, app)), startup))
    return app


def _script(box: Path, script: str, file: str, pointer: str) -> Path:
    try:
        return box_script(box, script if script.endswith(".py") else script + ".py")
    except HttpError:
        raise AppConfigError(file, pointer, "a script path inside box/") from None


def _named(func: Any, used: dict[str, Any]) -> Any:
    """`func`, or a wrapper with a unique name when another loaded function has its name (a route's key)."""
    name = func.__name__
    if used.get(name, func) is func:
        used[name] = func
        return func
    number = 2
    while f"{name}_{number}" in used:
        number += 1
    if inspect.iscoroutinefunction(func):

        async def wrapper(g: Any) -> Any:
            return await func(g)
    else:

        def wrapper(g: Any) -> Any:
            return func(g)

    functools.update_wrapper(wrapper, func)
    wrapper.__name__ = wrapper.__qualname__ = f"{name}_{number}"
    used[wrapper.__name__] = wrapper
    return wrapper


def _websocket(app: App, box: Path, loader: ScriptLoader) -> None:
    """app.json `websockets` as `@app.websocket`: its handler (and auth) scripts' `handle` functions."""
    section = dict(app.config.get("websockets") or {})
    if not section:
        return
    for key in ("handler", "auth"):
        if section.get(key):
            section[key] = loader.function(_script(box, section[key], "app.json", f"/websockets/{key}"))
    handler = section.pop("handler")
    app.websocket(**section)(handler)


def _jobs(config: dict[str, Any], box: Path, loader: ScriptLoader) -> dict[str, NotebookJob]:
    """Jobs mapped in app.json `queue.jobs`, then `box/jobs/<name>.py` files that define handle(g)."""
    jobs: dict[str, NotebookJob] = {}
    for name, entry in config.get("queue", {}).get("jobs", {}).items():
        func = loader.function(box_script(box, entry["script"]), entry.get("function", "handle"))
        options = {k: entry[k] for k in ("attempts", "backoff_ms") if k in entry}
        jobs[name] = NotebookJob(name, func, options)
    folder = box / "jobs"
    for path in sorted(folder.glob("*.py")) if folder.is_dir() else []:
        if path.stem not in jobs and loader.has_function(path.resolve()):
            jobs[path.stem] = NotebookJob(path.stem, loader.function(path.resolve()))
    return jobs
