"""AppRuntime: everything the engine knows about one loaded app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

CloseHook = Callable[[], Awaitable[None] | None]


class AppRuntime:
    """One loaded app: its folders, validated config, grants and per-app module state.

    `root` is the resolved `web/<app>` folder and `box` its resolved `box/`. `config` is the validated
    `app.json` with secrets resolved; `server_config` the resolved `gingee.json` with defaults applied.
    `state` is where modules keep per-app objects (database engines, clients); `shared` is one dict for
    the whole project (a Redis pool used by every app). Hooks added with `on_close` run at unload.
    """

    def __init__(
        self,
        name: str,
        root: Path,
        config: dict[str, Any],
        server_config: dict[str, Any],
        grants: frozenset[str] = frozenset(),
        *,
        project_dir: Path | None = None,
        shared: dict[str, Any] | None = None,
        dev: bool = False,
    ) -> None:
        self.name = name
        self.root = root.resolve()
        self.box = (self.root / "box").resolve()
        self.config = config
        self.server_config = server_config
        self.grants = grants
        self.project_dir = project_dir
        self.shared: dict[str, Any] = shared if shared is not None else {}
        self.dev = dev
        self.state: dict[str, Any] = {}
        self.log = logging.getLogger(f"gingee.app.{name}")
        self._close_hooks: list[CloseHook] = []
        # Set by the loader (engine/loader.py); modules never need these.
        self.public: bool = bool(config.get("public", False))
        self.maintenance: bool = bool(config.get("maintenance", False))
        self.pipeline: Any = None
        #: Its code runs in a worker process (isolation/): in this one only routing and static files.
        self.isolated = False

    def on_close(self, hook: CloseHook) -> None:
        """Run `hook` (sync or async) when the app is unloaded or reloaded."""
        self._close_hooks.append(hook)

    async def close(self) -> None:
        """Run the close hooks, newest first; a failing hook is logged and the rest still run."""
        while self._close_hooks:
            hook = self._close_hooks.pop()
            try:
                result = hook()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                self.log.exception("closing app '%s': a close hook failed", self.name)
        self.state.clear()

    def __repr__(self) -> str:
        return f"<AppRuntime {self.name!r} grants={sorted(self.grants)}>"
