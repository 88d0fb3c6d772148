"""Fonts an app registers for its charts, read from its box through the `fs` module (its grant, its
confinement). Each app sees only the fonts it registered: a config's `options.font.family` names one of
them (a CSS stack like `"'Inter', sans-serif"` takes the first registered name), or the chart is drawn
in DejaVu Sans, which matplotlib ships. The font file is passed to matplotlib by path for each chart
(FontProperties(fname=...)), never added to its process-wide font list, so one app's family names do
not reach another's charts.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from pathlib import Path

from ...engine.context import current_app
from ...errors import NoAppContext
from ..content.errors import ContentError
from ..content.extras import need
from ..content.files import read_file
from ..content.offload import Budget, run_cpu

__all__ = ["MAX_FONT_SIZE", "register_font", "resolve"]

#: Bytes of one font file; a larger one is refused before it is read.
MAX_FONT_SIZE = 20 * 10**6
_MAGIC = (b"\x00\x01\x00\x00", b"true", b"OTTO", b"ttcf")

_lock = threading.Lock()
_folder: Path | None = None
_registered: dict[str | None, dict[str, str]] = {}  # app name -> lowercase family -> file


def _app_name() -> str | None:
    try:
        return current_app().name
    except NoAppContext:
        return None


def _store(data: bytes) -> Path:
    """The font's bytes in this process's private font folder, named by their hash."""
    global _folder
    with _lock:
        if _folder is None:
            _folder = Path(tempfile.mkdtemp(prefix="gingee-chart-fonts-"))
        target = _folder / f"{hashlib.sha256(data).hexdigest()}.font"
        if not target.exists():
            target.write_bytes(data)
    return target


def _family(budget: Budget, path: str) -> str:
    ft2font = need("matplotlib.ft2font", module="chart", package="matplotlib", extra="chart")
    try:
        return str(ft2font.FT2Font(path).family_name)
    except (RuntimeError, OSError, ValueError) as exc:
        raise ContentError(
            "chart", "INVALID_FONT", f"the file is not a font matplotlib can read: {exc}"
        ) from None


async def register_font(scope: str, path: str) -> str:
    """Register the TrueType/OpenType font at `scope:path` (needs the `fs` grant) for this app's charts;
    its family name, to give as `options.font.family`. ContentError INVALID_FONT for a file that is not
    a font, ContentTooLarge past MAX_FONT_SIZE bytes."""
    data = read_file("chart", scope, path, MAX_FONT_SIZE)
    if data[:4] not in _MAGIC:
        raise ContentError("chart", "INVALID_FONT", f"{scope}:{path} is not a TrueType or OpenType font")
    stored = _store(data)
    family = await run_cpu("chart", _family, str(stored))
    with _lock:
        _registered.setdefault(_app_name(), {})[family.lower()] = str(stored)
    return family


def resolve(stack: str | None) -> str | None:
    """The file of the first family in a CSS font stack that the current app registered, or None."""
    if not stack:
        return None
    fonts = _registered.get(_app_name(), {})
    for name in stack.split(","):
        found = fonts.get(name.strip().strip("'\"").lower())
        if found:
            return found
    return None
