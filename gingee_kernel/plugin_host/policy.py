"""gingee.json `plugins.allow`: which plugin distributions may load, at which versions, with which files.

    "plugins": {"allow": {"gingee-geoip": {"version": ">=1.2,<2", "sha256": "<gingee plugins list>",
                                            "prereleases": false}}}

A plugin loads only when the operator allows it, its installed version is inside both the operator's range
and the app's, and its files match RECORD (and the pin, when one is given). Prereleases match a range only
when `prereleases` is true, whatever packaging's default of the day is.
"""

from __future__ import annotations

from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..errors import ManifestError
from .discovery import Installed, record_hash


def allow_entry(server_config: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The operator's entry for distribution `name` (keys compared by canonical name), or None."""
    allow = (server_config.get("plugins") or {}).get("allow") or {}
    for key, entry in allow.items():
        if canonicalize_name(key) == canonicalize_name(name):
            return dict(entry)
    return None


def _spec(text: str, label: str, pointer: str) -> SpecifierSet:
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise ManifestError(label, pointer, f'a version range such as ">=1.2,<2", not {text!r}') from None


def check(
    name: str, wanted: str, plugin: Installed | None, server_config: dict[str, Any], label: str, pointer: str
) -> None:
    """Refuse (ManifestError naming the fix) unless `name` may load for an app asking for `wanted`."""
    entry = allow_entry(server_config, name)
    if entry is None:
        raise ManifestError(
            label,
            pointer,
            f"a plugin the operator allows: '{name}' is not in gingee.json plugins.allow (add "
            f'"{name}": {{"version": "...", "sha256": "..."}}; `gingee plugins list PROJECT` shows both)',
        )
    if plugin is None:
        raise ManifestError(
            label, pointer, f"an installed plugin: no distribution '{name}' with gingee.modules entry points "
            f"is installed (pip install {name})"
        )  # fmt: skip
    prereleases = entry.get("prereleases") is True
    try:
        version = Version(plugin.version)
    except InvalidVersion:
        raise ManifestError(
            label, pointer, f"a PEP 440 version; '{name}' is installed as {plugin.version!r}"
        ) from None
    ranges = (
        (str(entry.get("version") or ""), "gingee.json", f"/plugins/allow/{name}/version"),
        (wanted, label, pointer),
    )
    for text, where, at in ranges:
        spec = _spec(text, where, at)
        if not spec.contains(version, prereleases=prereleases):
            extra = '; prereleases need "prereleases": true in plugins.allow' if version.is_prerelease else ""
            raise ManifestError(
                where, at, f"a range that holds the installed {name} {version}: {text!r} does not{extra}"
            )
    pin, altered = record_hash(plugin.distribution)
    if altered:
        raise ManifestError(
            label,
            pointer,
            f"an intact '{name}': {len(altered)} installed file(s) differ from its RECORD "
            f"({', '.join(altered[:3])}); reinstall it (pip install --force-reinstall {name}=={version})",
        )
    wanted_pin = entry.get("sha256")
    if wanted_pin and wanted_pin != pin:
        raise ManifestError(
            "gingee.json",
            f"/plugins/allow/{name}/sha256",
            f"the hash of the installed {name} {version}, which is {pin}: its files changed since it was "
            "pinned (reinstall the pinned build, or pin the new one after review)",
        )
