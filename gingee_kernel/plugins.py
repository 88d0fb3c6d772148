"""Plugin modules, for server scripts: `from gingee_kernel import plugins`, then `plugins.geoip.lookup(ip)`.

`plugins.<name>` is the current app's instance of the plugin module `<name>` (an entry point of a
distribution the app names in app.json `plugins`, allowed in gingee.json `plugins.allow`). Using it needs
the grant `plugin:<permission>` the module declares; otherwise PermissionDenied.
"""

from __future__ import annotations

from typing import Any

from .engine.context import current_app, require
from .errors import ModuleConfigError


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    app = current_app()
    bound = (app.state.get("plugins") or {}).get(name)
    if bound is None:
        raise ModuleConfigError(
            f"app '{app.name}' uses no plugin module '{name}': name its distribution in app.json "
            f'"plugins" (and allow it in gingee.json plugins.allow); `gingee plugins list PROJECT` shows '
            "what is installed"
        )
    require(bound.permission)
    from .metrics.series import record_plugin_event

    record_plugin_event(name, app.name, "used")
    return bound.instance
