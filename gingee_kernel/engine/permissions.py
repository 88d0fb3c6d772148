"""Grants: what the operator allowed each app (`settings/permissions.json`), or in dev what pmft.json asks.

File shape: `{"<app>": {"granted": ["db", "cache"]}}`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ManifestError
from .manifest import read_json, validator

log = logging.getLogger("gingee.permissions")


PLUGIN_PERMISSION = re.compile(r"^plugin:[a-z][a-z0-9_-]*$")


def known_permissions() -> list[str]:
    """Every built-in permission key an app may declare or be granted (plugins add `plugin:<name>` ones)."""
    choices = validator("pmft").schema["$defs"]["permission"]["anyOf"]
    return list(next(c["enum"] for c in choices if "enum" in c))


def declared(pmft: dict[str, Any] | None) -> set[str]:
    """Permissions a pmft.json declares, mandatory and optional."""
    if not pmft:
        return set()
    perms = pmft.get("permissions", {})
    return set(perms.get("mandatory", [])) | set(perms.get("optional", []))


def read_grants(path: Path) -> dict[str, set[str]]:
    """The grants file as {app: permissions}; a missing file grants nothing."""
    if not path.is_file():
        return {}
    data = read_json(path)
    if not isinstance(data, dict):
        raise ManifestError(str(path), "", 'an object like {"app": {"granted": ["db"]}}')
    grants: dict[str, set[str]] = {}
    for app, entry in data.items():
        granted = entry.get("granted") if isinstance(entry, dict) else None
        if not isinstance(granted, list) or not all(isinstance(p, str) for p in granted):
            raise ManifestError(str(path), f"/{app}/granted", "an array of permission names")
        grants[app] = set(granted)
    return grants


def grants_for(app: str, pmft: dict[str, Any] | None, grants_file: Path, *, dev: bool) -> frozenset[str]:
    """What `app` may use: the operator's grants, plus (in dev) everything its pmft.json declares."""
    granted = read_grants(grants_file).get(app, set())
    if dev:
        asked = declared(pmft) - granted
        if asked:
            log.info(
                "dev mode: granting app '%s' what its pmft.json declares: %s", app, ", ".join(sorted(asked))
            )
        granted = granted | asked
    return frozenset(granted)


def grant(grants_file: Path, app: str, permissions: list[str], *, revoke: bool = False) -> set[str]:
    """Add (or remove) permissions for `app` in the grants file, written atomically; returns the new set."""
    unknown = sorted(p for p in set(permissions) - set(known_permissions()) if not PLUGIN_PERMISSION.match(p))
    if unknown:
        raise ValueError(
            f"unknown permission(s) {', '.join(unknown)}; known: {', '.join(known_permissions())}"
        )
    data: dict[str, Any] = read_json(grants_file) if grants_file.is_file() else {}
    current = set(data.get(app, {}).get("granted", []))
    current = current - set(permissions) if revoke else current | set(permissions)
    data[app] = {"granted": sorted(current)}
    grants_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=grants_file.parent, prefix=".permissions.")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2, sort_keys=True)
        out.write("\n")
    os.replace(tmp, grants_file)
    return current
