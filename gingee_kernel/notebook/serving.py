"""Where a live app is reachable: the Jupyter server's base_url (also behind Binder's /user/<name>/)."""

from __future__ import annotations

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
    """The Jupyter server's runtime file (`jpserver-<pid>.json`) for the server that started this kernel."""
    parent = os.environ.get("JPY_PARENT_PID")
    if not parent:
        return None
    path = live.runtime_dir() / f"jpserver-{parent}.json"
    try:
        return dict(json.loads(Path(path).read_text("utf-8")))
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
