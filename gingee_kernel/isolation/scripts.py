"""In the master, an isolated app's scripts: known by file, never imported (they run in its worker)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..engine.scripts import ScriptError, ScriptLoader


class IsolatedScripts(ScriptLoader):
    """Routing asks whether a file route exists (the file does); anything that would run the code here
    (a job, a schedule, a websocket handler of this process) fails loudly instead of running it."""

    def function(self, path: Path, name: str = "handle") -> Callable[..., Any]:
        rel = path.relative_to(self.box) if path.is_relative_to(self.box) else path
        raise ScriptError(f"box/{rel} belongs to an isolated app: it runs in the app's worker process only")

    def has_function(self, path: Path, name: str = "handle") -> bool:
        return path.is_file()
