"""Live apps announced by kernels: `gingee_kernel.live` registrations in Jupyter's runtime dir, cached.

The runtime dir is read again only when its modification time changes (a kernel writing, replacing or
removing its file changes it), and always within a second of a change, so that two changes inside one
timestamp tick are never missed. A registration whose process is gone is dropped on the next lookup.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from gingee_kernel import live

#: A directory read less than this long after its last change is read again on the next lookup.
_RACY_SECONDS = 1.0


class LiveIndex:
    """The current live registrations of one runtime dir, by app name."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._found: dict[str, live.Registration] = {}
        self._mtime: int | None = None
        self._trusted = False

    def _refresh(self) -> None:
        try:
            mtime = os.stat(self.directory).st_mtime_ns
        except OSError:
            self._found, self._mtime, self._trusted = {}, None, False
            return
        if self._trusted and mtime == self._mtime:
            return
        self._found = live.read_all(self.directory)
        self._mtime = mtime
        self._trusted = time.time() - mtime / 1e9 > _RACY_SECONDS

    def all(self) -> dict[str, live.Registration]:
        """Every registration whose process is alive, by app name."""
        self._refresh()
        return dict(self._found)

    def get(self, app: str) -> live.Registration | None:
        """The registration of `app`, or None."""
        self._refresh()
        return self._found.get(app)

    def drop(self, registration: live.Registration) -> None:
        """Forget a registration that no longer answers and delete its file."""
        live.remove(registration, self.directory)
        if self._found.get(registration.app) == registration:
            del self._found[registration.app]
        self._trusted = False
