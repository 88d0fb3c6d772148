"""Export a notebook app to `web/<app>/`: app.json, routes.json, pmft.json and one box script per handler.

A route's script `box/routes/<function>.py` holds the function (its `@app.route` removed) and everything it
reaches (see closure.py); a job's script `box/jobs/<name>.py` does the same, mapped in app.json
`queue.jobs`; the `@app.websocket` handler (and an auth function) go to `box/websockets/handler.py`
(`auth.py`), named in app.json `websockets`.
`app.export(dir)` reads a live App (spec.live_spec); `gingee export NOTEBOOK` reads the file
without running it (spec.static_specs). Both end in the same `plan`.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine import manifest
from ..errors import ManifestError
from .closure import MARKER, Script, collect, gated, render, shared_state
from .model import GATED, AppConfigError, socket_scripts, validated
from .source import ExportError, Notebook, cells_from_file
from .spec import AppSpec, Handler, live_spec, static_specs

if TYPE_CHECKING:
    from .app import App

__all__ = ["MARKER", "ExportError", "export_app", "export_notebook"]

_JOB_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def plan(spec: AppSpec) -> dict[str, str]:
    """The files of the exported app, by path relative to `web/<app>/`."""
    scripts: dict[str, Script] = {}
    entries: list[dict[str, str]] = []
    texts: dict[str, str] = {}
    for path, methods, handler, body, login, response in spec.routes:
        rel = f"routes/{handler.name}.py"
        if rel in scripts and ast.dump(scripts[rel].handler.stmt.node) != ast.dump(handler.stmt.node):
            first = scripts[rel].handler.stmt.cell.label
            raise ExportError(
                f"two route functions are named `{handler.name}` ({first} and {handler.stmt.cell.label}); "
                "rename one: the function name names its script"
            )
        if rel not in scripts:
            scripts[rel] = collect(handler, "route")
            if "handle" in scripts[rel].defined:
                raise ExportError(
                    f"rename `handle` ({handler.stmt.cell.label}): in box/{rel} it would also answer "
                    f"/{spec.name}/routes/{handler.name} by file routing"
                )
            doc = f"{', '.join(methods)} {path}: `{handler.name}` ({handler.stmt.cell.label})."
            texts[rel] = render(scripts[rel], doc)
        options: dict[str, Any] = {"body": body} if body != "buffer" else {}
        if login:
            options["login"] = True
        if response is not None:
            options["response"] = response
        entries += [
            {"path": path, "method": m, "script": rel, "handler": handler.name, **options} for m in methods
        ]
    config, mapped = spec.config, _queue_jobs_supported()
    for name, (handler, options) in spec.jobs.items():
        if not _JOB_NAME.match(name):
            raise ExportError(
                f"job name {name!r} ({handler.stmt.cell.label}) must be letters, digits, - and _"
            )
        rel = f"jobs/{name}.py"
        scripts[rel] = script = collect(handler, "job")
        doc = f"Queue job {name!r}: `{handler.name}` ({handler.stmt.cell.label})."
        if mapped:
            entry = {"script": rel, "function": handler.name, **_job_options(options, handler)}
            config = copy.deepcopy(config)
            config.setdefault("queue", {}).setdefault("jobs", {})[name] = entry
            texts[rel] = render(script, doc)
        else:
            texts[rel] = render(script, doc, _job_handle(script, name, options))
    section = config.get("websockets") or {}
    for rel, handler in socket_scripts(config, spec.sockets).items():
        role = "websocket auth" if rel == section.get("auth") else "websocket handler"
        scripts[rel] = script = collect(handler, role)
        where = f"/{spec.name}{section.get('path', '/ws')}"
        doc = f"The {role} of {where}: `{handler.name}` ({handler.stmt.cell.label})."
        texts[rel] = render(script, doc, _socket_handle(script, rel))
    if config is not spec.config:
        try:
            validated(config, f"{spec.name}: queue.jobs")
        except AppConfigError as exc:
            raise ExportError(str(exc)) from None
    shared_state(scripts)
    permissions = set(spec.grants) | {m for m in GATED if m in config}
    for script in scripts.values():
        permissions |= gated(script)
    pmft = {"permissions": {"mandatory": sorted(permissions), "optional": []}}
    try:
        manifest.validate("pmft", pmft, f"{spec.name}/box/pmft.json")
    except ManifestError as exc:
        raise ExportError(f"{exc} (check the names given to app.grant)") from None
    files = {
        "box/app.json": _json(config),
        "box/routes.json": _json({"routes": entries}),
        "box/pmft.json": _json(pmft),
    }
    files.update({f"box/{rel}": text for rel, text in texts.items()})
    return files


def _queue_jobs_supported() -> bool:
    """True when app.json has `queue.jobs` (job name -> script and function)."""
    queue = manifest.validator("app").schema.get("properties", {}).get("queue", {})
    return "jobs" in queue.get("properties", {})


def _job_options(options: dict[str, Any], handler: Handler) -> dict[str, Any]:
    """`@app.job` options as app.json `queue.jobs` keys (backoff in seconds becomes backoff_ms)."""
    entry: dict[str, Any] = {}
    for key, value in options.items():
        if key in ("attempts", "backoff_ms"):
            entry[key] = value
        elif key == "backoff" and isinstance(value, (int, float)):
            entry["backoff_ms"] = value * 1000
        else:
            raise ExportError(
                f"@app.job option {key}={value!r} on `{handler.name}` ({handler.stmt.cell.label}) has no "
                "place in app.json queue.jobs, which takes attempts and backoff (seconds) or backoff_ms"
            )
    return entry


def _job_handle(script: Script, name: str, options: dict[str, Any]) -> str:
    """`handle(g)` calling the job function, for engines that look jobs up as box/jobs/<name>.py."""
    handler = script.handler
    if handler.name == "handle":
        return f"JOB_OPTIONS = {options!r}" if options else ""
    if "handle" in script.defined:
        raise ExportError(f"rename `handle` ({handler.stmt.cell.label}): box/jobs/{name}.py needs that name")
    is_async = isinstance(handler.stmt.node, ast.AsyncFunctionDef)
    call = f"await {handler.name}(g)" if is_async else f"{handler.name}(g)"
    lines = [f"JOB_OPTIONS = {options!r}\n\n"] if options else []
    lines.append(f"{'async ' if is_async else ''}def handle(g):\n    return {call}")
    return "\n".join(lines)


def _socket_handle(script: Script, rel: str) -> str:
    """`handle = <function>`: app.json `websockets` scripts are called by the name `handle`."""
    handler = script.handler
    if handler.name == "handle":
        return ""
    if "handle" in script.defined:
        raise ExportError(f"rename `handle` ({handler.stmt.cell.label}): box/{rel} needs that name")
    return f"handle = {handler.name}"


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write(folder: Path, files: dict[str, str]) -> Path:
    """Write the files atomically; remove stale generated scripts, never anything else."""
    box = folder / "box"
    for sub in ("routes", "jobs", "websockets"):
        for old in (box / sub).glob("*.py") if (box / sub).is_dir() else []:
            rel = f"box/{sub}/{old.name}"
            if rel not in files and old.read_text(encoding="utf-8", errors="replace").startswith(MARKER):
                old.unlink()
    for rel, text in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, target)
    return folder


def export_app(app: App, out: str | os.PathLike[str] = "web") -> Path:
    """Export a live App to `<out>/<app.name>/`; returns that folder."""
    return write(Path(out) / app.name, plan(live_spec(app)))


def export_notebook(
    notebook: str | os.PathLike[str], out: str | os.PathLike[str] = "web", app: str | None = None
) -> list[Path]:
    """Export the apps a `.ipynb` (or `# %%` .py) file defines, reading it without running it."""
    path = Path(notebook)
    specs = static_specs(Notebook(cells_from_file(path)))
    if app is not None:
        specs = [s for s in specs if s.name == app]
    if not specs:
        wanted = f"App({app!r})" if app else "App(...)"
        raise ExportError(f'{path.name} defines no {wanted}; export needs `app = gk.App("name")` in a cell')
    return [write(Path(out) / spec.name, plan(spec)) for spec in specs]
