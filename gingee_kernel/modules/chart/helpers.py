"""What every chart kind draws with: sizes in Chart.js pixels, the font and its glyphs, Chart.js's default
palette and repeating colour arrays, and its tension curves and gaps between nulls."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.font_manager import FontProperties
from matplotlib.ft2font import FT2Font

from .colors import RGBA, parse_color
from .spec import PALETTE, Theme

PT = 0.72  # points in one Chart.js pixel
_FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
DEFAULT_FONT = str(_FONTS / "DejaVuSans.ttf")
DEFAULT_BOLD = str(_FONTS / "DejaVuSans-Bold.ttf")


@lru_cache(maxsize=32)
def _font_info(path: str) -> tuple[str, frozenset[int]]:
    """The family name and the code points of a font file."""
    font = FT2Font(path)
    return str(font.family_name), frozenset(font.get_charmap())


class TextStyle:
    """Text properties for one chart: its font file, and strings made safe to draw (no mathtext, and
    no glyph the font lacks, which matplotlib would warn about: those become a white square)."""

    def __init__(self, font: str | None, theme: Theme) -> None:
        self.regular = font or DEFAULT_FONT
        self.bold = font or DEFAULT_BOLD
        self.colour = theme.text
        self.family, glyphs = _font_info(self.regular)
        self.glyphs = glyphs
        self.missing = "\u25a1" if 0x25A1 in glyphs else "?"

    def clean(self, text: str) -> str:
        text = "".join(c if c == "\n" or ord(c) in self.glyphs else self.missing for c in text)
        return text.replace("$", r"\$")

    def props(self, size_px: float, bold: bool = False) -> dict[str, Any]:
        font = FontProperties(family=[self.family, "sans-serif"], fname=self.bold if bold else self.regular,
                              size=size_px * PT, weight="bold" if bold else "normal")  # fmt: skip
        return {"fontproperties": font, "color": self.colour}


def cycle(colours: list[RGBA], count: int, default: RGBA) -> list[RGBA]:
    """One colour a data point: Chart.js repeats a shorter array."""
    if not colours:
        return [default] * count
    return [colours[i % len(colours)] for i in range(count)]


def palette(index: int, alpha: float) -> RGBA:
    red, green, blue, _ = parse_color(PALETTE[index % len(PALETTE)])
    return (red, green, blue, alpha)


def spline(x: np.ndarray, y: np.ndarray, tension: float) -> tuple[np.ndarray, np.ndarray]:
    """Chart.js's curve through the points: cubic Béziers with control points along the neighbours'
    chord, scaled by `tension` and the neighbouring distances (helpers.curve splineCurve)."""
    if tension <= 0 or len(x) < 3:
        return x, y
    points = np.column_stack([x, y])
    before, after = np.empty_like(points), np.empty_like(points)
    for i, current in enumerate(points):
        previous = points[max(i - 1, 0)]
        following = points[min(i + 1, len(points) - 1)]
        d01 = float(np.hypot(*(current - previous)))
        d12 = float(np.hypot(*(following - current)))
        total = d01 + d12 or 1.0
        before[i] = current - tension * d01 / total * (following - previous)
        after[i] = current + tension * d12 / total * (following - previous)
    t = np.linspace(0, 1, 16)[:, None]
    curve = [points[:1]]
    for i in range(len(points) - 1):
        p0, p1, p2, p3 = points[i], after[i], before[i + 1], points[i + 1]
        segment = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3
        curve.append(segment[1:])
    joined = np.vstack(curve)
    return joined[:, 0], joined[:, 1]


def runs(values: list[float | None]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(indices, values) of each unbroken run: a null is a gap, as Chart.js's spanGaps false."""
    runs, current = [], []
    for i, value in enumerate(values):
        if value is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((i, value))
    if current:
        runs.append(current)
    return [(np.array([i for i, _ in run], float), np.array([v for _, v in run], float)) for run in runs]
