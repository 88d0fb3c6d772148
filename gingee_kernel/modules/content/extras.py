"""Optional dependencies of the content modules, imported on first use with an error that says what to
install (`pip install 'gingee[image]'`) instead of a bare ModuleNotFoundError."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtra


def need(import_name: str, *, module: str, package: str, extra: str) -> ModuleType:
    """`import_name` imported, or MissingExtra naming the Gingee `module`, the PyPI `package` and the
    `extra` that installs it."""
    try:
        return importlib.import_module(import_name)
    except ImportError as exc:
        raise MissingExtra(module, package, extra, str(exc)) from None
