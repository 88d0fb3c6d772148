"""Bind an app's plugins when it loads: app.json `plugins` checked against the operator's allow-list,
each allowed module imported, its config validated against its schema, and one instance made per app."""

from __future__ import annotations

import copy
import inspect
import logging
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..engine import manifest
from ..engine._jsonschema import jsonschema
from ..errors import GingeeError, ManifestError
from . import discovery, policy
from .api import PluginContext

if TYPE_CHECKING:
    from ..engine.app import AppRuntime

PERMISSION = re.compile(r"^[a-z][a-z0-9_-]*$")
STATE_KEY = "plugins"


@dataclass(frozen=True)
class Bound:
    """A plugin module bound to one app: the instance scripts get, the grant it needs, its distribution."""

    instance: Any
    permission: str
    distribution: str


def _split(entry: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(entry, str):
        return entry, {}
    return str(entry.get("version", "")), dict(entry.get("config") or {})


def _fresh_import(point: Any) -> Any:
    """Load an entry point, dropping its top-level package from sys.modules first: a reload (SIGHUP,
    --dev) runs the plugin's current code."""
    top = point.value.split(":", 1)[0].split(".", 1)[0]
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        del sys.modules[name]
    return point.load()


def load_plugins(app: AppRuntime, label: str) -> dict[str, Bound]:
    """Bind every plugin app.json names to `app` (kept in `app.state["plugins"]`); raises ManifestError /
    GingeeError naming the plugin and the fix, and then the app does not load."""
    section = app.config.get("plugins") or {}
    bound: dict[str, Bound] = {}
    for name, entry in section.items():
        pointer = f"/plugins/{name}"
        wanted, config = _split(entry)
        plugin = discovery.find(name)
        policy.check(name, wanted, plugin, app.server_config, label, pointer)
        assert plugin is not None
        for module_name, point in sorted(plugin.entry_points.items()):
            if module_name in bound:
                raise ManifestError(
                    label, pointer, f"plugins with distinct module names: '{module_name}' also comes from "
                    f"{bound[module_name].distribution}"
                )  # fmt: skip
            try:
                cls = _fresh_import(point)
            except Exception as exc:
                raise GingeeError(
                    f"{label}: plugin {name} failed to import {point.value}: {type(exc).__name__}: {exc}"
                ) from exc
            permission = str(getattr(cls, "permission", "") or "")
            if not PERMISSION.match(permission):
                raise GingeeError(
                    f"{label}: plugin {name}: {point.value} declares no valid permission (a class attribute "
                    f"`permission` of lowercase letters, digits, '_' and '-'), got {permission!r}"
                )
            _check_config(cls, config, label, pointer)
            context = context_for(app, module_name, config)
            try:
                instance = cls(context)
            except Exception as exc:
                raise GingeeError(
                    f"{label}: plugin {name} ({module_name}) failed to start: {type(exc).__name__}: {exc}"
                ) from exc
            closer = getattr(instance, "close", None)
            if callable(closer):
                app.on_close(closer)
            _register_jobs(app, module_name, instance, name)
            bound[module_name] = Bound(instance, f"plugin:{permission}", plugin.name)
    app.state[STATE_KEY] = bound
    return bound


def context_for(app: AppRuntime, module_name: str, config: dict[str, Any]) -> PluginContext:
    """The context a plugin module's instance for `app` gets: that app's view, and only that app's."""
    return PluginContext(
        app=app.name,
        plugin=module_name,
        config=copy.deepcopy(config),
        data_dir=app.box / "data" / "plugins" / module_name,
        log=logging.getLogger(f"gingee.plugin.{module_name}.{app.name}"),
    )


def _register_jobs(app: AppRuntime, module_name: str, instance: Any, name: str) -> None:
    from ..jobqueue.handlers import register_job_handler

    jobs = getattr(instance, "jobs", None)
    for job, handler in (jobs() if callable(jobs) else {}).items():
        try:
            register_job_handler(app, f"{module_name}-{job}", handler)
        except (TypeError, ValueError) as exc:
            raise GingeeError(f"plugin {name} ({module_name}): job {job!r}: {exc}") from None


async def start_plugins(app: AppRuntime) -> None:
    """Run each bound plugin's `startup()` as the app; the first failure stops the load, naming it."""
    from ..engine.context import app_context

    for module_name, bound in (app.state.get(STATE_KEY) or {}).items():
        hook = getattr(bound.instance, "startup", None)
        if not callable(hook):
            continue
        with app_context(app):
            try:
                result = hook()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                raise GingeeError(
                    f"plugin {bound.distribution} ({module_name}) startup failed: {type(exc).__name__}: {exc}"
                ) from exc


def _check_config(cls: Any, config: dict[str, Any], label: str, pointer: str) -> None:
    schema = getattr(cls, "config_schema", None)
    where = f"{pointer}/config"
    if schema is None:
        if config:
            raise ManifestError(label, where, "no config: this plugin takes none")
        return
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(config), key=lambda e: -len(e.absolute_path))
    if errors:
        error = errors[0]
        raise ManifestError(label, where + manifest.pointer_of(error), manifest.expected_of(error))
