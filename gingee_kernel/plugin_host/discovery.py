"""Installed plugins, from distribution metadata only: nothing here imports a plugin.

A plugin is a distribution with entry points in the group `gingee.modules` (`geoip = "pkg.mod:Module"`).
`record_hash` fingerprints what a distribution installed, from its RECORD: the pin of gingee.json
`plugins.allow.<name>.sha256`.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as metadata
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

GROUP = "gingee.modules"
#: dist-info files an installer writes differently (pip, uv): left out of the pin.
_INSTALLER_FILES = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD", "uv_cache.json"}


@dataclass(frozen=True)
class Installed:
    """One installed plugin distribution: its canonical name, version and `gingee.modules` entry points."""

    name: str
    version: str
    entry_points: dict[str, metadata.EntryPoint]
    distribution: metadata.Distribution


def _plugin(dist: metadata.Distribution) -> Installed | None:
    points = {ep.name: ep for ep in dist.entry_points if ep.group == GROUP}
    if not points:
        return None
    return Installed(canonicalize_name(dist.metadata["Name"]), dist.version, points, dist)


def find(name: str) -> Installed | None:
    """The installed distribution `name` (any spelling: `Gingee_GeoIP` is `gingee-geoip`), if it is a
    plugin. Only that distribution's entry points count: another one publishing the same entry-point
    name is never looked at."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    return _plugin(dist)


def installed() -> dict[str, Installed]:
    """Every installed plugin distribution by canonical name (the first on sys.path wins, as for imports)."""
    found: dict[str, Installed] = {}
    for dist in metadata.distributions():
        plugin = _plugin(dist)
        if plugin is not None and plugin.name not in found:
            found[plugin.name] = plugin
    return found


def record_hash(dist: metadata.Distribution) -> tuple[str, list[str]]:
    """(pin, altered): the SHA-256 over the sorted `path NUL sha256` lines of the files the distribution's
    RECORD lists, as they are on disk now (bytecode and installer bookkeeping left out); and the files
    whose bytes no longer match the hash RECORD holds for them, or that are gone."""
    lines: list[str] = []
    altered: list[str] = []
    for file in dist.files or []:
        rel = file.as_posix()
        parts = Path(rel).parts
        if rel.endswith(".pyc") or "__pycache__" in parts:
            continue
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] in _INSTALLER_FILES:
            continue
        path = Path(str(file.locate()))
        try:
            data = path.read_bytes()
        except OSError:
            altered.append(rel)
            continue
        digest = hashlib.sha256(data).digest()
        if file.hash is not None and file.hash.mode == "sha256":
            recorded = base64.urlsafe_b64decode(file.hash.value + "=" * (-len(file.hash.value) % 4))
            if recorded != digest:
                altered.append(rel)
        lines.append(f"{rel}\0{digest.hex()}\n")
    pin = hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()
    return pin, sorted(altered)
