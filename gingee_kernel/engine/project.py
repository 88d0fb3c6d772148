"""Project: `gingee.json` plus every app under its web root, loaded, reloaded and closed together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import GingeeError, ManifestError
from ..metrics.series import record_app_load_error
from . import manifest
from .app import AppRuntime
from .config import server_config, settle_cluster
from .loader import is_app_dir, load_app
from .secrets import resolve_secrets

log = logging.getLogger("gingee.project")


def load_server_config(project_dir: Path) -> dict[str, Any]:
    """The project's effective server config; a broken gingee.json raises ManifestError."""
    path = project_dir / "gingee.json"
    user = manifest.load("gingee", path, "gingee.json") if path.is_file() else {}
    merged = server_config(user)
    roots = [project_dir / r for r in merged["secrets"]["file_roots"]]
    try:
        return resolve_secrets(merged, file_roots=roots)
    except GingeeError as exc:
        raise ManifestError("gingee.json", "", str(exc)) from None


def _nothing() -> None:
    """The change of a plain reload: the files are already what should be served."""


async def _drain(app: AppRuntime) -> None:
    """Wait until no request is running in `app` (at most its request budget and a second)."""
    pipeline = app.pipeline
    if pipeline is None:
        return
    deadline = time.monotonic() + float(pipeline.limits.request_timeout) + 1.0
    while pipeline.gate.inflight > 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.005)


class Project:
    """The apps of one project folder. `apps` holds those that loaded; `errors` says why others did not."""

    def __init__(
        self, project_dir: Path | str, *, dev: bool = False, config: dict[str, Any] | None = None
    ) -> None:
        self.dir = Path(project_dir).resolve()
        self.dev = dev
        self.config = config if config is not None else load_server_config(self.dir)
        settle_cluster(self.config, self.dir)
        self.web_root = (self.dir / self.config["web_root"]).resolve()
        self.apps: dict[str, AppRuntime] = {}
        self.errors: dict[str, str] = {}
        # Apps installed by a host (a notebook's live apps): never reloaded or refreshed from disk.
        self.pinned: set[str] = set()
        self.shared: dict[str, Any] = {}
        threads = int(self.config["limits"]["script_threads"])
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gingee-script")
        self._mtimes: dict[str, float] = {}
        self._lock = asyncio.Lock()
        #: Apps being switched (Project.replace): a request for one waits for its event before routing.
        self.holding: dict[str, asyncio.Event] = {}

    def app_dirs(self) -> list[Path]:
        """Every app folder under the web root, sorted by name."""
        if not self.web_root.is_dir():
            return []
        return sorted(p for p in self.web_root.iterdir() if is_app_dir(p))

    async def load(self) -> None:
        """Load every app; one broken app is logged and skipped, the others serve. An install or upgrade
        that a killed process left half done is first finished or undone (lifecycle/switch.py)."""
        from ..lifecycle.switch import recover

        for message in recover(self.web_root):
            log.warning("%s", message)
        for root in self.app_dirs():
            await self._load_one(root)
        log.info(
            "project %s: %d app(s) serving%s",
            self.dir,
            len(self.apps),
            f", {len(self.errors)} failed to load" if self.errors else "",
        )

    async def reload(self, name: str | None = None) -> None:
        """Reload one app (or all) from disk, each as `replace` does: requests wait while it switches."""
        names = (
            [name] if name else sorted(set(self.apps) | set(self.errors) | {p.name for p in self.app_dirs()})
        )
        for app_name in names:
            if app_name not in self.pinned:
                await self.replace(app_name, _nothing)

    async def load_one(self, name: str) -> str | None:
        """Load the app `name` from disk (if it is one); returns its load error, or None."""
        root = self.web_root / name
        if is_app_dir(root):
            await self._load_one(root)
        return self.errors.get(name)

    async def replace(
        self, name: str, change: Callable[[], None], undo: Callable[[], None] | None = None
    ) -> str | None:
        """Switch app `name` to what `change()` puts on disk, atomically as requests see it.

        New requests for the app wait; requests in flight finish on the old version (up to its time
        budget); the old version is closed, `change()` runs, and the app loads from disk; then the waiting
        requests go on, to the new version. If it does not load and `undo` is given, `undo()` restores the
        old files, the old version loads again, and the new version's load error is returned."""
        async with self._lock:
            hold = self.holding[name] = asyncio.Event()
            try:
                old = self.apps.get(name)
                if old is not None:
                    old.maintenance = True  # queue jobs wait ("later") rather than fail meanwhile
                    await _drain(old)
                    old.pipeline.scripts.reload()
                    await old.close()
                    if old.isolated:  # its worker holds the old code and config: the next request starts anew
                        from ..isolation.host import host_for

                        await host_for(self).retire(name)
                self.errors.pop(name, None)
                try:
                    change()
                except BaseException:
                    if old is not None:  # nothing switched: serve the old version again
                        self.apps.pop(name, None)
                        await self.load_one(name)
                    raise
                self.apps.pop(name, None)
                error = await self.load_one(name)
                if error is not None and undo is not None:
                    self.errors.pop(name, None)
                    undo()
                    await self.load_one(name)
                if not is_app_dir(self.web_root / name):
                    self._mtimes.pop(name, None)
                return error
            finally:
                del self.holding[name]
                hold.set()

    async def _load_one(self, root: Path) -> None:
        name = root.name
        self._mtimes[name] = self._manifest_mtime(root)
        try:
            app = await load_app(
                root,
                project_dir=self.dir,
                server_config=self.config,
                shared=self.shared,
                executor=self.executor,
                dev=self.dev,
                isolated=self.isolates(root),
            )
        except GingeeError as exc:
            record_app_load_error(name)
            self.errors[name] = str(exc)
            log.error("app '%s' was not loaded: %s", name, exc)
            return
        except Exception as exc:
            record_app_load_error(name)
            self.errors[name] = f"{type(exc).__name__}: {exc}"
            log.exception("app '%s' was not loaded", name)
            return
        self.apps[name] = app
        if app.isolated:
            from ..isolation.host import host_for

            host_for(self)  # its requests and jobs go to a worker process, started on first use
        log.info(
            "app '%s' loaded%s (grants: %s)",
            name,
            ", isolated in a worker process" if app.isolated else "",
            ", ".join(sorted(app.grants)) or "none",
        )

    def isolates(self, root: Path) -> bool:
        """Whether the app in `root` runs in a worker process (gingee.json or its app.json `isolation`)."""
        from ..isolation.settings import IsolationSettings

        settings = self.shared.get("isolation_settings")
        if settings is None:
            settings = self.shared["isolation_settings"] = IsolationSettings.from_config(self.config)
        asks = False
        with contextlib.suppress(OSError, ValueError):
            asks = b'"isolation"' in (root / "box" / "app.json").read_bytes()
        if not asks:
            return settings.isolated(root.name)
        config = manifest.load("app", root / "box" / "app.json", str(root / "box" / "app.json"))
        return settings.isolated(root.name, config)

    def _manifest_mtime(self, root: Path) -> float:
        box = root / "box"
        newest = 0.0
        for name in ("app.json", "routes.json", "pmft.json"):
            with contextlib.suppress(OSError):
                newest = max(newest, os.stat(box / name).st_mtime)
        return newest

    async def refresh(self, name: str) -> None:
        """In dev mode: reload `name` if its manifests changed on disk since it loaded."""
        if name in self.pinned:
            return
        root = self.web_root / name
        known = self._mtimes.get(name)
        if known is None:
            if is_app_dir(root):
                await self.reload(name)
            return
        if self._manifest_mtime(root) != known:
            await self.reload(name)

    async def close(self) -> None:
        """Close every app and the script thread pool."""
        for app in list(self.apps.values()):
            await app.close()
        self.apps.clear()
        for resource in list(self.shared.values()):
            closer = getattr(resource, "close", None)
            if closer is not None:
                result = closer()
                if asyncio.iscoroutine(result):
                    await result
        self.shared.clear()
        self.executor.shutdown(wait=False, cancel_futures=True)
