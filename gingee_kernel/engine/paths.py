"""Path confinement: decide by resolved path, never by substring.

A URL path is split on "/" first and each segment percent-decoded once; a decoded segment that is
".", "..", empty-after-decoding, or holds "/", "\\" or NUL is refused. The candidate file is then
resolved (symlinks followed) and must lie inside the app's resolved root and outside its `box/`.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

from ..errors import HttpError

_BAD_CHARS = ("/", "\\", "\x00")


def access_denied(reason: str = "access to this path is not allowed") -> HttpError:
    """The 403 the engine answers for every confinement failure."""
    return HttpError(403, "ACCESS_DENIED", reason)


def decode_segments(raw_path: str) -> list[str]:
    """The decoded segments of an app-relative raw path; raises 403 for anything that could escape."""
    segments: list[str] = []
    for raw in raw_path.split("/"):
        if raw == "":
            continue
        try:
            segment = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            raise access_denied("the path is not valid UTF-8") from None
        if segment in {".", ".."} or any(c in segment for c in _BAD_CHARS) or ":" in segment[:2]:
            raise access_denied()
        segments.append(segment)
    return segments


def is_inside(path: Path, root: Path) -> bool:
    """True if resolved `path` is `root` or below it (`app1` is not inside `app10`)."""
    return path == root or path.is_relative_to(root)


def confine(root: Path, segments: list[str]) -> Path:
    """Resolve `segments` under `root` (already resolved); 403 if the result leaves it."""
    candidate = Path(os.path.realpath(root.joinpath(*segments)))
    if not is_inside(candidate, root):
        raise access_denied()
    return candidate


def static_file(app_root: Path, box: Path, segments: list[str]) -> Path:
    """The public file for `segments`, confined to the app root and never inside `box/`."""
    if segments and segments[0] == "box":
        raise access_denied("the app's box/ folder is private")
    path = confine(app_root, segments)
    if is_inside(path, box):
        raise access_denied("the app's box/ folder is private")
    return path


def box_script(box: Path, relative: str) -> Path:
    """A box-relative script path (from a manifest or file routing) confined to the box."""
    parts = [p for p in relative.replace("\\", "/").split("/") if p]
    if not parts or any(p in {".", ".."} or "\x00" in p for p in parts):
        raise access_denied()
    path = confine(box, parts)
    if path == box:
        raise access_denied()
    return path
