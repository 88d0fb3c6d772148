"""What a plugin author writes against: subclass `Module`, name the permission and the config schema,
and use the `PluginContext` the engine gives each app's instance.

    class Module(gingee_kernel.plugin_host.api.Module):
        permission = "geoip"                 # apps need the grant "plugin:geoip"
        config_schema = {"type": "object", "properties": {"database": {"type": "string"}}}

        def __init__(self, context):
            super().__init__(context)
            self.table = load(context.data_dir / "geo.csv")

        def lookup(self, ip): ...
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..engine.context import _deadline


@dataclass(frozen=True)
class PluginContext:
    """One app's view, and only that app's: its name, its config section for this plugin, a data folder
    inside its box (`box/data/plugins/<name>/`, created on first use), a logger and a metrics helper."""

    app: str
    plugin: str
    config: dict[str, Any]
    data_dir: Path
    log: logging.Logger

    def budget(self) -> float | None:
        """Seconds left in the current request's time budget (None outside a request)."""
        deadline = _deadline.get()
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def count(self, event: str, amount: float = 1) -> None:
        """Add to the plugin's `/metrics` series `gingee_plugin_events_total{plugin, app, event}`."""
        from ..metrics.series import record_plugin_event

        record_plugin_event(self.plugin, self.app, event, amount)


class Module:
    """The base of a plugin module. One instance per app that uses it, built when the app loads and
    closed (`close()`) when the app unloads or reloads."""

    #: The permission an app must be granted to use the module: `plugin:<permission>` in grants.
    permission: ClassVar[str] = ""
    #: JSON Schema of the app's config section for this plugin (None: no config accepted).
    config_schema: ClassVar[dict[str, Any] | None] = None

    def __init__(self, context: PluginContext) -> None:
        self.context = context

    def startup(self) -> Any:
        """Run once when the app loads, as the app (after every plugin is bound, before the app's own
        startup scripts); sync or async. An exception stops the app's load, naming the plugin."""

    def jobs(self) -> dict[str, Callable[[Any], Any]]:
        """Queue jobs this module adds to each app using it: `{name: handler(g)}`, registered as
        `<module>-<name>` (`queue.add("hello-cleanup", ...)`), run like the app's own jobs."""
        return {}

    def close(self) -> None:
        """Release what the instance holds (connections, files); sync or async."""
