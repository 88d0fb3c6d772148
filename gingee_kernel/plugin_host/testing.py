"""The documented test helper for plugin authors: run a plugin module in a throwaway app, without a
project, a server or an install.

    from gingee_kernel import plugins
    from gingee_kernel.errors import PermissionDenied
    from gingee_kernel.plugin_host.testing import throwaway_app

    from gingee_weather import Module


    def test_greet():
        with throwaway_app(Module, {"greeting": "Hej"}) as t:
            assert t.module.greet("Ada") == "Hej, Ada!"                       # the instance itself
            assert t.call(lambda: plugins.weather.greet("Ada")) == "Hej, Ada!"  # through the gate


    def test_needs_the_grant():
        with throwaway_app(Module, grant=False) as t, pytest.raises(PermissionDenied):
            t.call(lambda: plugins.weather.greet("Ada"))

The module gets the same `PluginContext` the loader gives it on a server (config validated against its
`config_schema` the same way, `data_dir` = `box/data/plugins/<name>/` inside the throwaway app's box),
and `plugins.<name>` inside `call()` goes through the real permission gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine.app import AppRuntime
from ..engine.config import server_config
from ..engine.context import app_context
from . import loader

__all__ = ["ThrowawayApp", "throwaway_app"]


@dataclass
class ThrowawayApp:
    """What `throwaway_app` yields: the module instance, the app it is bound to, and its data folder."""

    module: Any
    runtime: AppRuntime
    data_dir: Path
    _loop: asyncio.AbstractEventLoop

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` with this app as the current app (as a script's handler runs), awaited if it
        returns an awaitable. Use it for `plugins.<name>...`: that goes through the permission gate.

        Awaitables run on one event loop kept for the whole `with` block (an async client the module
        opens in one call is usable in the next). Call it from sync tests, not inside a running loop."""
        with app_context(self.runtime):
            result = fn(*args)
            if inspect.isawaitable(result):
                result = self._loop.run_until_complete(_wait(result))
        return result


async def _wait(awaitable: Any) -> Any:
    return await awaitable


@contextlib.contextmanager
def throwaway_app(
    module_cls: type,
    config: dict[str, Any] | None = None,
    *,
    app: str = "plugin-test",
    name: str | None = None,
    grant: bool = True,
) -> Iterator[ThrowawayApp]:
    """Bind `module_cls` to a new app in a temporary folder, as the loader binds a plugin, and yield a
    `ThrowawayApp` (`.module`, `.runtime`, `.data_dir`, `.call(fn, *args)`).

    - `config`: the app's config section for the plugin (app.json `plugins.<dist>.config`), validated
      against `module_cls.config_schema` exactly as the loader does (ManifestError on a mismatch);
    - `app`: the app's name (what `context.app` and the log name show);
    - `name`: the module name scripts use, `plugins.<name>` (the entry-point name); defaults to
      `module_cls.permission`;
    - `grant`: give the app the grant `plugin:<permission>` (False: `plugins.<name>` raises
      PermissionDenied, as on a server without the grant).

    The module's `startup()` runs, as the app, before the block, and its `jobs()` are registered as the
    app's (`<name>-<job>`). On exit the instance's `close()` runs (sync or async; an error in it is
    raised, not logged) and the folder is removed.
    """
    permission = str(getattr(module_cls, "permission", "") or "")
    if not loader.PERMISSION.match(permission):
        raise ValueError(
            f"{module_cls!r} declares no valid permission (a class attribute `permission` of lowercase "
            f"letters, digits, '_' and '-'), got {permission!r}"
        )
    name = name or permission
    config = dict(config or {})
    label = f"{app}/box/app.json"
    loader._check_config(module_cls, config, label, f"/plugins/{name}")

    folder = Path(tempfile.mkdtemp(prefix="gingee-plugin-test-"))
    loop = asyncio.new_event_loop()
    runtime: AppRuntime | None = None
    instance: Any = None
    try:
        root = folder / "web" / app
        (root / "box").mkdir(parents=True)
        grants = frozenset({f"plugin:{permission}"}) if grant else frozenset()
        runtime = AppRuntime(app, root, {}, server_config({}), grants, project_dir=folder)
        context = loader.context_for(runtime, name, config)
        instance = module_cls(context)
        distribution = module_cls.__module__.split(".", 1)[0].replace("_", "-")
        runtime.state[loader.STATE_KEY] = {name: loader.Bound(instance, f"plugin:{permission}", distribution)}
        loader._register_jobs(runtime, name, instance, distribution)  # jobs() as `<name>-<job>`
        loop.run_until_complete(loader.start_plugins(runtime))  # startup(), as the app
        yield ThrowawayApp(instance, runtime, context.data_dir, loop)
    finally:
        try:
            closer = getattr(instance, "close", None)
            if callable(closer):
                result = closer()
                if inspect.isawaitable(result):
                    loop.run_until_complete(_wait(result))
            if runtime is not None:
                loop.run_until_complete(runtime.close())
        finally:
            loop.close()
            shutil.rmtree(folder, ignore_errors=True)
