"""Gingee for Python: the runtime.

Server scripts import modules from here: `from gingee_kernel import db, cache`. Modules load on first
use, so `import gingee_kernel` stays light (it runs at every kernel start).
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    GingeeError,
    HttpError,
    ManifestError,
    ModuleConfigError,
    NoAppContext,
    PermissionDenied,
    ServiceUnavailable,
)

__version__ = "0.1.0"

_MODULES = (
    "auth",
    "cache",
    "chart",
    "crypto",
    "db",
    "fs",
    "html",
    "httpclient",
    "image",
    "mail",
    "pdf",
    "plugins",
    "qrcode",
    "queue",
    "search",
    "storage",
    "utils",
    "websockets",
    "zip",
)

__all__ = [
    "GingeeError",
    "HttpError",
    "ManifestError",
    "ModuleConfigError",
    "NoAppContext",
    "PermissionDenied",
    "App",
    "ServiceUnavailable",
    "check",
    "fleet_view",
    "__version__",
    *_MODULES,
]


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext gingee_kernel`: the `%gingee METHOD PATH` magic (the Gingee kernel loads it on start)."""
    from .notebook.magics import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str) -> Any:
    if name == "App":
        from .notebook import App

        return App
    if name == "check":
        from .notebook.check import check

        return check
    if name == "fleet_view":
        from .notebook.fleet_view import fleet_view

        return fleet_view
    if name == "plugins":
        module = importlib.import_module(".plugins", __name__)
        globals()[name] = module
        return module
    if name in _MODULES:
        module = importlib.import_module(f".modules.{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'gingee_kernel' has no attribute {name!r}")
