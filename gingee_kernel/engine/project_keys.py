"""Keys a project makes for itself when gingee.json configures none (storage URL signing, sessions).

The key is made once, in `<project>/.gingee/<name>` (mode 0600), so every process of the project reads
the same one; a fleet of hosts sets the key in gingee.json instead. Two processes racing to make it both
end up with the one that was written first.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from .app import AppRuntime

KEY_DIR = Path(".gingee")


def project_key(app: AppRuntime, name: str) -> bytes:
    """The project's key `name`, made on first use; a random key for this process alone if the app has no
    project folder (a bare runtime)."""
    if app.project_dir is None:
        return secrets.token_bytes(32)
    path = app.project_dir / KEY_DIR / name
    with contextlib.suppress(FileExistsError):
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip().encode("utf-8")
