"""Glob rules over an app folder's relative POSIX paths: `.gpkg` (include / exclude) and `.gup` (preserve).

A pattern is relative to the app folder: `*` matches within one path segment, `**` across segments, `?` one
character; a pattern that names a folder (`box/uploads`, `box/uploads/`) covers everything under it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..engine import manifest
from ..errors import ManifestError

#: Never packed: caches and editor droppings. `box/data/` is left out too unless a pack asks for it.
ALWAYS_EXCLUDED = (
    "**/__pycache__",
    "**/*.pyc",
    "**/.ipynb_checkpoints",
    "**/.DS_Store",
    ".git",
    "**/.git",
)
DATA = "box/data"


@functools.lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    text = pattern.strip().lstrip("/").rstrip("/")
    out = []
    i = 0
    while i < len(text):
        if text.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif text.startswith("**", i):
            out.append(".*")
            i += 2
        elif text[i] == "*":
            out.append("[^/]*")
            i += 1
        elif text[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(text[i]))
            i += 1
    # The pattern itself, or anything below it when it names a folder.
    return re.compile("".join(out) + "(?:/.*)?")


def matches(path: str, patterns: Iterable[str]) -> bool:
    """True if the relative POSIX `path` is matched by one of `patterns`."""
    return any(_compile(p).fullmatch(path) for p in patterns if p.strip())


def read_rules(path: Path, kind: str, label: str) -> dict[str, Any]:
    """A `.gpkg` or `.gup` file, validated (kind "gpkg" or "gup"); a missing file is no rules."""
    if not path.is_file():
        return {}
    document = manifest.read_json(path, label)
    manifest.validate(kind, document, label)
    return dict(document)


def packed(rel: str, rules: dict[str, Any], *, include_data: bool) -> bool:
    """Whether `rel` goes into a package, given the app's `.gpkg` rules."""
    if matches(rel, ALWAYS_EXCLUDED):
        return False
    if not include_data and matches(rel, (DATA,)):
        return False
    include = rules.get("include") or []
    if include and not matches(rel, include):
        return False
    return not matches(rel, rules.get("exclude") or [])


def kept(rel: str, preserve: Iterable[str]) -> bool:
    """Whether an upgrade keeps the installed `rel` (box/data always, plus the `.gup` globs)."""
    return matches(rel, (DATA, *preserve))


def check_patterns(rules: dict[str, Any], label: str) -> None:
    """Refuse patterns that try to leave the app folder (`..`), naming the key."""
    for key, patterns in rules.items():
        for index, pattern in enumerate(patterns or []):
            if ".." in Path(pattern).parts:
                raise ManifestError(label, f"/{key}/{index}", "a glob inside the app folder, without '..'")
