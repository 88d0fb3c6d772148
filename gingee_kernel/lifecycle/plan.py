"""What an install, upgrade, rollback or removal will do: files added, overwritten, unchanged, preserved
and deleted, the versions, and the permissions asked for and granted."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import rules


@dataclass
class Plan:
    """One operation's plan; `as_dict()` is what the API answers, `text()` what the CLI prints."""

    action: str
    app: str
    from_version: str | None = None
    to_version: str | None = None
    added: list[str] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    preserved: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    #: declared (what the package asks for), granted (after the operation), not_granted, newly_declared,
    #: no_longer_declared.
    permissions: dict[str, list[str]] = field(default_factory=dict)
    backup: str | None = None
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        """The plan as a few lines for a terminal or a notebook cell."""
        versions = " -> ".join(v for v in (self.from_version, self.to_version) if v)
        head = f"{'plan: ' if self.dry_run else ''}{self.action} '{self.app}'" + (
            f" ({versions})" if versions else ""
        )
        lines = [head]
        for label in ("added", "overwritten", "preserved", "deleted"):
            names: list[str] = getattr(self, label)
            if names:
                shown = ", ".join(names[:8]) + (f", ... {len(names) - 8} more" if len(names) > 8 else "")
                lines.append(f"  {label:<12}{len(names):>4}  {shown}")
        if self.unchanged:
            lines.append(f"  {'unchanged':<12}{len(self.unchanged):>4}")
        perms = self.permissions
        if perms.get("declared") is not None:
            lines.append(f"  permissions asked for: {', '.join(perms['declared']) or 'none'}")
        for key, label in (
            ("newly_declared", "newly asked for"),
            ("no_longer_declared", "no longer asked for"),
            ("not_granted", "NOT granted (grant with --grant-declared or `gingee grant`)"),
        ):
            if perms.get(key):
                lines.append(f"  {label}: {', '.join(perms[key])}")
        if "granted" in perms:
            lines.append(f"  granted: {', '.join(perms['granted']) or 'nothing'}")
        if self.backup:
            lines.append(f"  backup: {self.backup}")
        return "\n".join(lines)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def installed_files(app_dir: Path) -> list[str]:
    """Every regular file of an installed app folder (caches left out), as sorted relative paths."""
    if not app_dir.is_dir():
        return []
    found = []
    for path in app_dir.rglob("*"):
        rel = path.relative_to(app_dir).as_posix()
        if path.is_file() and not path.is_symlink() and not rules.matches(rel, rules.ALWAYS_EXCLUDED):
            found.append(rel)
    return sorted(found)


def file_plan(
    plan: Plan, live: Path | None, incoming: dict[str, dict[str, Any]], preserve: list[str]
) -> Plan:
    """Fill `plan`'s file lists: `incoming` (path -> {sha256}) replaces `live`, keeping what `preserve`
    (plus box/data) names."""
    current = installed_files(live) if live is not None else []
    kept = [rel for rel in current if rules.kept(rel, preserve)]
    kept_set = set(kept)
    # An installed box/data/ replaces the incoming one whole (switch.Swap.switch): none of its files land.
    live_data = live is not None and (live / rules.DATA).is_dir()
    for rel in sorted(incoming):
        if rel in kept_set or (live_data and rules.matches(rel, (rules.DATA,))):
            continue
        if live is not None and rel in current:
            same = _sha256(live / rel) == incoming[rel]["sha256"]
            (plan.unchanged if same else plan.overwritten).append(rel)
        else:
            plan.added.append(rel)
    plan.preserved = kept
    plan.deleted = [rel for rel in current if rel not in incoming and rel not in kept_set]
    return plan
