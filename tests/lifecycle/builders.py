"""Helpers for the lifecycle tests: app folders, projects, and hand-made (hostile) `.gin` zips.

- `make_app(root, name, version, files)`: an app folder `root/name` with `box/app.json` at `version`.
- `make_project(root, config)`: a project folder (`gingee.json`, empty `web/`); `lifecycle(project)` opens it.
- `manifest_for(entries, name, version)`: the `.gingee-package.json` a packer would write for `entries`.
- `make_zip(entries, manifest)`: a zip of `entries` plus that manifest (or none, or raw bytes), as bytes.
- `snapshot(folder)` / `staging_leftovers(project)`: what a refused operation must leave unchanged.
"""

from __future__ import annotations

import hashlib
import io
import json
import stat
import zipfile
from pathlib import Path
from typing import Any

from gingee_kernel.engine.project import load_server_config
from gingee_kernel.lifecycle.operations import Lifecycle
from gingee_kernel.lifecycle.package import MANIFEST, content_hash
from gingee_kernel.lifecycle.switch import STAGING

Content = str | bytes | dict[str, Any] | list[Any]


def _bytes(content: Content) -> bytes:
    if isinstance(content, bytes):
        return content
    if isinstance(content, str):
        return content.encode()
    return json.dumps(content).encode()


def make_app(root: Path, name: str, version: str | None, files: dict[str, Content] | None = None) -> Path:
    """Write app folder `root/name`: `box/app.json` (`{"version": version}`, or `{}` when None, unless
    `files` has its own) and `files` (paths relative to the app folder; dicts and lists as JSON)."""
    app = root / name
    everything: dict[str, Content] = {"box/app.json": {} if version is None else {"version": version}}
    everything.update(files or {})
    for rel, content in everything.items():
        path = app / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_bytes(content))
    return app


def make_project(root: Path, config: dict[str, Any] | None = None) -> Path:
    """A project folder at `root`: `gingee.json` (`config`, default `{}`) and an empty `web/`."""
    (root / "web").mkdir(parents=True, exist_ok=True)
    (root / "gingee.json").write_text(json.dumps(config or {}))
    return root


def lifecycle(project: Path) -> Lifecycle:
    """The project's Lifecycle as the CLI builds it (who="cli")."""
    return Lifecycle(project, load_server_config(project))


def manifest_for(
    entries: dict[str, bytes],
    name: str = "shop",
    version: str = "1.0.0",
    permissions: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """A correct package manifest for `entries` (path -> bytes): sizes, SHA-256s and content hash."""
    files = {
        rel: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()} for rel, data in entries.items()
    }
    return {
        "format": 1,
        "name": name,
        "version": version,
        "permissions": permissions or {"mandatory": [], "optional": []},
        "files": files,
        "sha256": content_hash(files),
    }


def make_zip(
    entries: dict[str, bytes],
    manifest: dict[str, Any] | bytes | None,
    *,
    symlinks: dict[str, str] | None = None,
) -> bytes:
    """A zip holding `entries` (written as given, names unchecked) and `manifest` as `.gingee-package.json`
    (a dict as JSON, bytes verbatim, None for no manifest); `symlinks` (name -> target) are added as
    symlink entries (`external_attr` of S_IFLNK)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if manifest is not None:
            raw = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
            archive.writestr(MANIFEST, raw)
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative POSIX path -> bytes), to compare before and after."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def staging_leftovers(project: Path, web_root: str = "web") -> list[str]:
    """What is under `<web_root>/.gingee-staging/` apart from its `.lock` (a clean operation leaves none)."""
    staging = project / web_root / STAGING
    if not staging.exists():
        return []
    return sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.name != ".lock")
