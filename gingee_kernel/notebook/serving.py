"""Where a live app is reachable: the Jupyter server's base_url (also behind Binder's /user/<name>/)."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import live

if TYPE_CHECKING:
    from .host import LiveHost


@dataclass(frozen=True)
class ServeInfo:
    """A served app: the URL path under the server (`/user/ada/gingee/todo/`) and the full URL if known."""

    app: str
    path: str
    url: str | None
    port: int

    def _repr_html_(self) -> str:
        return (
            f"<div>Gingee app <strong>{self.app}</strong> is live at "
            f"<a href='{self.path}' target='_blank' rel='noopener'>{self.url or self.path}</a></div>"
        )

    def __repr__(self) -> str:
        return f"Gingee app '{self.app}' is live at {self.url or self.path}"


def server_info() -> dict[str, Any] | None:
    """The runtime file (`jpserver-<pid>.json`) of the Jupyter server this kernel belongs to.

    First the server that started the kernel (`JPY_PARENT_PID`). When the kernel was launched some other
    way (a kernel provisioner, nbclient beside a server), the newest running server whose root_dir holds
    the kernel's working directory.
    """
    runtime = live.runtime_dir()
    parent = os.environ.get("JPY_PARENT_PID")
    if parent:
        info = _read(runtime / f"jpserver-{parent}.json")
        if info is not None:
            return info
    cwd = Path.cwd().resolve()
    candidates: list[tuple[float, dict[str, Any]]] = []
    for path in runtime.glob("jpserver-*.json"):
        info = _read(path)
        if info is None or not live.pid_alive(int(info.get("pid", 0) or 0)):
            continue
        root = Path(str(info.get("root_dir") or info.get("notebook_dir") or "/")).expanduser()
        if cwd == root.resolve() or root.resolve() in cwd.parents:
            with contextlib.suppress(OSError):
                candidates.append((path.stat().st_mtime, info))
    return max(candidates, key=lambda c: c[0])[1] if candidates else None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text("utf-8")))
    except (OSError, ValueError):
        return None


def base_url() -> str:
    """The server's base_url (`/user/ada/`): its runtime file, else JupyterHub's prefix, else `/`."""
    info = server_info()
    base = (info or {}).get("base_url") or os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/"
    return base if base.endswith("/") else base + "/"


def announce(app: str, host: LiveHost) -> ServeInfo:
    """The ServeInfo of a just-registered app; printed by the cell as a link that works under base_url."""
    info = server_info()
    path = f"{base_url()}gingee/{app}/"
    # The server's own URL already ends with its base_url.
    url = str(info["url"]).rstrip("/") + f"/gingee/{app}/" if info and info.get("url") else None
    return ServeInfo(app=app, path=path, url=url, port=host.port or 0)
