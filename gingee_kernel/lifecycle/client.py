"""Deploy a package to a running `gingee serve` through its operator API: upgrade the app if the server
has it, install it if not. Used by `gingee deploy` and by `App.deploy` in a notebook."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from ..errors import GingeeError
from .package import Package, pack

Progress = Callable[[int, int], None]
TOKEN_ENV = "GINGEE_ADMIN_TOKEN"
_CHUNK = 1 << 16


class DeployError(GingeeError):
    """The server refused the deploy (or could not be reached); `status` and `body` say what it answered."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def _chunks(data: bytes, progress: Progress | None) -> Iterator[bytes]:
    total = len(data)
    for start in range(0, total, _CHUNK):
        chunk = data[start : start + _CHUNK]
        yield chunk
        if progress is not None:
            progress(min(start + _CHUNK, total), total)


def deploy(
    source: Path | str,
    server: str,
    *,
    token: str | None = None,
    dry_run: bool = False,
    force: bool = False,
    grant_declared: bool = False,
    progress: Progress | None = None,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Send `source` (a .gin package, or an app folder, packed first) to `server` (`https://host:7070`).

    Returns the server's answer: `{"action": "install"|"upgrade", "plan": {...}, "text": "..."}`. The
    token defaults to $GINGEE_ADMIN_TOKEN. Raises DeployError with the server's reason."""
    source = Path(source)
    with tempfile.TemporaryDirectory(prefix="gingee-deploy-") as tmp:
        path = pack(source, Path(tmp) / "app.gin") if source.is_dir() else source
        data = path.read_bytes()
    with Package.open(data, label=str(source)) as package:
        name = package.name
    token = token or os.environ.get(TOKEN_ENV)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    base = server.rstrip("/") + "/_gingee/api/apps"
    params = {
        k: "1" for k, v in (("dry_run", dry_run), ("force", force), ("grant_declared", grant_declared)) if v
    }
    try:
        with httpx.Client(timeout=timeout, headers=headers, follow_redirects=False) as client:
            found = client.get(f"{base}/{name}")
            if found.status_code not in (200, 404):
                raise DeployError(_reason(found), found.status_code, _json(found))
            action = "upgrade" if found.status_code == 200 else "install"
            response = client.request(
                "PUT" if action == "upgrade" else "POST",
                f"{base}/{name}" if action == "upgrade" else base,
                params=params,
                content=_chunks(data, progress),
                headers={"Content-Type": "application/zip", "Content-Length": str(len(data))},
            )
    except httpx.HTTPError as exc:
        raise DeployError(f"could not reach {server}: {exc}") from None
    body = _json(response)
    if response.status_code >= 400:
        raise DeployError(_reason(response), response.status_code, body)
    return {"action": action, "status": response.status_code, **(body if isinstance(body, dict) else {})}


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _reason(response: httpx.Response) -> str:
    body = _json(response)
    reason = body.get("reason") if isinstance(body, dict) else None
    return f"the server answered {response.status_code}: {reason or response.text[:200]}"
