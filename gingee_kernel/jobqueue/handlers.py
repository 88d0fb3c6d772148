"""Which function runs a job: one of Gingee's own jobs (`gingee.<module>`), an in-memory registration
(notebooks), else app.json `queue.jobs`, else `box/jobs/<name>.py`. `find` answers at `queue.add` time;
`load` gives the callable when the job runs."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine.app import AppRuntime
from ..engine.paths import box_script
from ..errors import HttpError
from .errors import HandlerNotFound
from .job import JOB_NAME, seconds

_REGISTRY = "queue.handlers"  # app.state key: {name: HandlerRef} registered in memory
_FOUND = "queue.found"  # app.state key: {name: HandlerRef} resolved from files (not in dev mode)

JobFunction = Callable[[Any], Any]

#: Gingee's own jobs (the modules' background work, such as mail.send_later): name -> "module:function".
#: The dot keeps them apart from app job names, which cannot hold one; imported when first needed, so a
#: `gingee worker` runs them without the app ever importing the module.
BUILTIN_JOBS = {
    "gingee.mail": "gingee_kernel.modules.mail:deliver_job",
    "gingee.search": "gingee_kernel.modules.search:index_job",
}


@dataclass(frozen=True)
class HandlerRef:
    """Where a job's handler lives: an in-memory `func`, or `function` in the box `script`; plus the
    attempts and backoff (seconds) it asks for, if any."""

    func: JobFunction | None = None
    script: Path | None = None
    function: str = "handle"
    attempts: int | None = None
    backoff: float | None = None


def check_name(name: Any) -> str:
    """`name` if it is a valid job name; ValueError saying what is allowed otherwise."""
    if not isinstance(name, str) or not JOB_NAME.match(name):
        raise ValueError(
            f"queue: job name {name!r} is not valid: use 1-100 letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def register_job_handler(
    app: AppRuntime,
    name: str,
    func: JobFunction,
    *,
    attempts: int | None = None,
    backoff: float | None = None,
) -> None:
    """Run `func(g)` for jobs called `name` of `app`, replacing an earlier registration (`@app.job`)."""
    check_name(name)
    if not callable(func):
        raise TypeError(f"queue: the handler of job '{name}' must be callable, not {type(func).__name__}")
    if attempts is not None and (not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1):
        raise ValueError("queue: attempts must be an integer >= 1")
    app.state.setdefault(_REGISTRY, {})[name] = HandlerRef(
        func=func, attempts=attempts, backoff=seconds(backoff, "queue: backoff")
    )


def unregister_job_handler(app: AppRuntime, name: str) -> bool:
    """Forget the in-memory handler of `name`; True if there was one."""
    return app.state.get(_REGISTRY, {}).pop(name, None) is not None


def registered(app: AppRuntime) -> dict[str, HandlerRef]:
    """The in-memory handlers of `app`, by job name."""
    return dict(app.state.get(_REGISTRY, {}))


def find(app: AppRuntime, name: str) -> HandlerRef:
    """The handler of job `name` in `app`; HandlerNotFound if none exists."""
    builtin = BUILTIN_JOBS.get(name) if isinstance(name, str) else None
    if builtin is not None:
        module, function = builtin.split(":")
        return HandlerRef(func=getattr(importlib.import_module(module), function))
    registry = app.state.get(_REGISTRY)
    ref = registry.get(name) if registry else None
    if ref is not None:
        return ref
    cache: dict[str, HandlerRef] | None = None if app.dev else app.state.setdefault(_FOUND, {})
    if cache is not None:
        ref = cache.get(name)
        if ref is not None:
            return ref
    check_name(name)
    ref = _from_files(app, name)
    if cache is not None:
        cache[name] = ref
    return ref


def _from_files(app: AppRuntime, name: str) -> HandlerRef:
    mapped = ((app.config.get("queue") or {}).get("jobs") or {}).get(name)
    if mapped is not None:
        rel = mapped["script"]
        try:
            script = box_script(app.box, rel)
        except HttpError:
            raise HandlerNotFound(
                app.name, name, f"app.json queue.jobs script {rel!r} is outside box/"
            ) from None
        if not script.is_file():
            raise HandlerNotFound(app.name, name, f"app.json maps it to box/{rel}, which does not exist")
        backoff_ms = mapped.get("backoff_ms")
        return HandlerRef(
            script=script,
            function=mapped.get("function", "handle"),
            attempts=mapped.get("attempts"),
            backoff=None if backoff_ms is None else backoff_ms / 1000,
        )
    script = box_script(app.box, f"jobs/{name}.py")
    if not script.is_file():
        raise HandlerNotFound(app.name, name)
    return HandlerRef(script=script)


def load(app: AppRuntime, ref: HandlerRef) -> JobFunction:
    """The callable to run for `ref` (loading its script through the app's script loader)."""
    if ref.func is not None:
        return ref.func
    assert ref.script is not None
    return app.pipeline.scripts.function(ref.script, ref.function)
