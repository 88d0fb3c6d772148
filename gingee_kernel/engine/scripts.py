"""Load an app's server scripts as Python modules, cache them, and reload them when asked.

Each app's box is a synthetic package `gingee_apps.<id>`, so a script can import its neighbours with
relative imports (`from .lib import helpers`). `reload()` drops every module of the app; in dev mode
`get()` also reloads when any loaded file of the app changed on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import re
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

_ROOT_PACKAGE = "gingee_apps"
_NOT_IDENT = re.compile(r"\W")


class ScriptError(Exception):
    """A script could not be loaded or lacks the function a route names."""


def _ident(text: str) -> str:
    name = _NOT_IDENT.sub("_", text)
    return name if name and not name[0].isdigit() else "_" + name


class ScriptLoader:
    """Loads scripts from one app's box and keeps them until `reload()`."""

    def __init__(self, app_name: str, box: Path, *, watch: bool = False) -> None:
        self.box = box
        self.watch = watch
        digest = hashlib.sha1(str(box).encode()).hexdigest()[:8]
        self.package = f"{_ROOT_PACKAGE}.{_ident(app_name)}_{digest}"
        self._modules: dict[Path, types.ModuleType] = {}
        self._mtimes: dict[str, float] = {}
        self._lock = threading.Lock()

    def function(self, path: Path, name: str = "handle") -> Callable[..., Any]:
        """The callable `name` of the script at resolved `path` (loading it if needed)."""
        module = self.module(path)
        func = getattr(module, name, None)
        if not callable(func):
            rel = path.relative_to(self.box)
            raise ScriptError(f"box/{rel} defines no function {name}(g)")
        return func

    def has_function(self, path: Path, name: str = "handle") -> bool:
        """True if the script at `path` defines a callable `name`."""
        return callable(getattr(self.module(path), name, None))

    def module(self, path: Path) -> types.ModuleType:
        """The loaded module for the script at resolved `path`."""
        if self.watch and self._changed():
            self.reload()
        module = self._modules.get(path)
        if module is not None:
            return module
        with self._lock:
            module = self._modules.get(path)
            if module is None:
                module = self._load(path)
                self._modules[path] = module
        return module

    def reload(self) -> None:
        """Forget every module of this app so the next request loads fresh code."""
        with self._lock:
            prefix = self.package + "."
            for name in [n for n in sys.modules if n == self.package or n.startswith(prefix)]:
                del sys.modules[name]
            self._modules.clear()
            self._mtimes.clear()
            importlib.invalidate_caches()

    def _changed(self) -> bool:
        for file, mtime in list(self._mtimes.items()):
            try:
                if Path(file).stat().st_mtime != mtime:
                    return True
            except OSError:
                return True
        return False

    def _ensure_packages(self, rel_parent: Path) -> str:
        _ensure_package(_ROOT_PACKAGE, [])
        _ensure_package(self.package, [str(self.box)])
        name = self.package
        folder = self.box
        for part in rel_parent.parts:
            folder = folder / part
            name = f"{name}.{_ident(part)}"
            _ensure_package(name, [str(folder)])
        return name

    def _load(self, path: Path) -> types.ModuleType:
        rel = path.relative_to(self.box)
        package = self._ensure_packages(rel.parent)
        fullname = f"{package}.{_ident(rel.stem)}"
        spec = importlib.util.spec_from_file_location(fullname, path)
        if spec is None or spec.loader is None:
            raise ScriptError(f"box/{rel} cannot be loaded as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[fullname] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(fullname, None)
            raise
        self._track()
        return module

    def _track(self) -> None:
        prefix = self.package + "."
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if file and name.startswith(prefix) and file not in self._mtimes:
                with contextlib.suppress(OSError):
                    self._mtimes[file] = Path(file).stat().st_mtime


def _ensure_package(name: str, path: list[str]) -> None:
    if name in sys.modules:
        return
    module = types.ModuleType(name)
    module.__path__ = path
    module.__package__ = name
    sys.modules[name] = module
