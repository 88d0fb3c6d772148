"""`App.pack()` and `App.deploy()`: a notebook app as a `.gin` package, and on a running `gingee serve`."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..lifecycle.client import deploy
from ..lifecycle.package import SUFFIX, pack

if TYPE_CHECKING:
    from .app import App


@dataclass
class Deployment:
    """What the server did: `action` ("install" or "upgrade"), its `plan` and `text`, and the app's `url`."""

    action: str
    status: int
    url: str
    text: str
    plan: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"{self.text}\nserving at {self.url}" if not self.plan.get("dry_run") else self.text


def _version(app: App) -> str:
    version = app.config.get("version")
    if not version:
        raise ValueError(
            f'app \'{app.name}\' has no version; a package needs one: App("{app.name}", version="1.0.0")'
        )
    return str(version)


def pack_app(app: App, out: str | Path | None = None) -> Path:
    """Export `app` to a throwaway folder and pack it to `out` (default `<name>-<version>.gin` here)."""
    from .export import export_app

    version = _version(app)
    target = Path(out) if out is not None else Path.cwd() / f"{app.name}-{version}{SUFFIX}"
    with tempfile.TemporaryDirectory(prefix="gingee-pack-") as tmp:
        return pack(export_app(app, Path(tmp) / "web"), target)


def _progress_bar(label: str) -> Callable[[int, int], None] | None:
    """An ipywidgets progress bar for the upload when running in a kernel with widgets, else None."""
    try:
        from IPython import get_ipython
        from IPython.display import display
        from ipywidgets import IntProgress
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    bar = IntProgress(value=0, min=0, max=1, description=label)
    display(bar)

    def update(sent: int, total: int) -> None:
        bar.max = max(total, 1)
        bar.value = sent
        bar.bar_style = "success" if sent >= total else ""

    return update


def deploy_app(
    app: App,
    server: str,
    *,
    token: str | None = None,
    dry_run: bool = False,
    force: bool = False,
    grant_declared: bool = False,
) -> Deployment:
    """Pack `app` and install or upgrade it on the `gingee serve` at `server`; prints the plan."""
    with tempfile.TemporaryDirectory(prefix="gingee-deploy-") as tmp:
        package = pack_app(app, Path(tmp) / f"{app.name}{SUFFIX}")
        answer = deploy(
            package,
            server,
            token=token,
            dry_run=dry_run,
            force=force,
            grant_declared=grant_declared,
            progress=None if dry_run else _progress_bar(f"upload {app.name}"),
        )
    result = Deployment(
        action=answer["action"],
        status=answer["status"],
        url=f"{server.rstrip('/')}/{app.name}/",
        text=answer.get("text", ""),
        plan=answer.get("plan", {}),
    )
    print(repr(result))
    return result
