"""The live-registration file: how a kernel tells the Jupyter server "I serve app X on port P".

The one thing the kernel host and the Jupyter host share. A kernel that calls `app.serve()` writes
`<jupyter runtime dir>/gingee-live-<app>-<pid>.json` (mode 0600) holding the port, its pid, its
kernel id and a random secret; the server extension proxies `{base_url}gingee/<app>/...` there,
sending the secret in a header the kernel's server requires. Files whose pid is gone are stale and
ignored (and removed); when the kernel stops, its files go with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

#: Header carrying the registration's secret from the extension to the kernel's server.
SECRET_HEADER = "X-Gingee-Live-Secret"
#: Header carrying the public prefix (`{base_url}gingee/<app>/`) so the kernel builds correct links.
PREFIX_HEADER = "X-Gingee-Prefix"
#: Header by which the extension vouches that the operator (the logged-in user, on an app that is not public)
#: sent the request (`Request.operator`: who may read the app's OpenAPI document and docs page).
OPERATOR_HEADER = "X-Gingee-Operator"
#: The queue operator API of a kernel's live apps on its secret port (`jobqueue.api`, relayed by the
#: extension's `{base_url}gingee/api/queue/<app>/...`).
KERNEL_QUEUE_PATH = "/.gingee/queue/"
_PATTERN = "gingee-live-*.json"


@dataclass(frozen=True)
class Registration:
    """One live app served from a kernel."""

    app: str
    port: int
    pid: int
    secret: str
    kernel_id: str | None = None
    public: bool = False
    created: float = 0.0

    @property
    def filename(self) -> str:
        """The registration's file name in the runtime dir."""
        return f"gingee-live-{self.app}-{self.pid}.json"


_FIELDS = frozenset(f.name for f in fields(Registration))


def runtime_dir() -> Path:
    """Jupyter's runtime dir (where jpserver-<pid>.json and kernel connection files live)."""
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir())


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write(registration: Registration, directory: Path | None = None) -> Path:
    """Write (or replace) a registration file, readable by its owner only."""
    folder = directory or runtime_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / registration.filename
    data = asdict(registration) | {"created": registration.created or time.time()}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out)
    os.replace(tmp, path)
    return path


def remove(registration: Registration, directory: Path | None = None) -> None:
    """Delete a registration file if it is there."""
    with contextlib.suppress(FileNotFoundError):
        ((directory or runtime_dir()) / registration.filename).unlink()


def read_all(directory: Path | None = None) -> dict[str, Registration]:
    """Live registrations by app name (newest wins); stale files (dead pid, unreadable) are removed."""
    folder = directory or runtime_dir()
    found: dict[str, Registration] = {}
    if not folder.is_dir():
        return found
    for path in folder.glob(_PATTERN):
        try:
            data = json.loads(path.read_text("utf-8"))
            # Keys a newer Gingee may add are ignored, so kernels and servers of nearby versions agree.
            registration = Registration(**{k: v for k, v in data.items() if k in _FIELDS})
        except (OSError, ValueError, TypeError):
            continue
        if not pid_alive(registration.pid):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        current = found.get(registration.app)
        if current is None or registration.created > current.created:
            found[registration.app] = registration
    return found
