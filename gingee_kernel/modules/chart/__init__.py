"""Gingee `chart` module: Chart.js configs drawn server-side as PNG or SVG, with matplotlib. Ungated.

    from gingee_kernel import chart

    async def handle(g):
        return await chart.render({                       # a PNG Picture, sent as image/png
            "type": "bar",
            "data": {
                "labels": ["Jan", "Feb", "Mar"],
                "datasets": [{"label": "Sales", "data": [12, 19, 3], "backgroundColor": "#36a2eb"}],
            },
            "options": {"plugins": {"title": {"display": True, "text": "Q1"}}},
        })

    svg = await chart.render(config, format="svg", width=600, height=300, theme="dark")
    family = await chart.register_font("box", "fonts/Inter.ttf")  # "options": {"font": {"family": family}}

A Node author's config ports as it is: `type` bar, line, pie, doughnut, scatter, bubble or radar (a bar
chart with `options.indexAxis: "y"` is horizontal); `data.labels`; `data.datasets[]` with label, data
(numbers or null; `{x, y}` points for scatter, `{x, y, r}` for bubble), backgroundColor and borderColor
(a CSS colour or one a point), borderWidth, borderDash, fill, tension, pointRadius, showLine, stack,
hidden and a per-dataset `type` (bar and line mix); `options.plugins.title` and `.legend`
(display, position, font.size); `options.scales.x/.y/.r` (title.text, min, max, suggestedMin/Max,
beginAtZero, stacked, reverse, display, grid.display, type linear/logarithmic/category); and
`options.font` (size, family). Other keys (animation, tooltips, callbacks) are ignored, as Chart.js
ignores what it does not know; a known key of the wrong shape is ContentError INVALID_CHART whose
reason and JSON `pointer` name it (`/data/datasets/0/data/3`).

Rendering runs in the content thread pool within the request's time budget. matplotlib is imported on
the first render, never at import (about 0.8 s; the very first time on a machine it also builds its font
cache in MPLCONFIGDIR, by default ~/.config/matplotlib).

Limits (app.json `chart`): width x height x (dpi/100)^2 at most `max_pixels` (16 000 000) and at most
`max_points` (100 000) labels and data points, both checked before anything is drawn:
ContentTooLarge (413) CHART_TOO_LARGE / TOO_MANY_POINTS.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

from ..content.errors import ContentError, ContentTooLarge, MissingExtra
from ..content.extras import need
from ..content.offload import Budget, run_cpu
from ..content.picture import Picture
from ..content.settings import limits
from . import fonts
from .colors import parse_color
from .config import read_config
from .spec import THEMES, TYPES, InvalidChart, Theme

__all__ = ["TYPES", "InvalidChart", "register_font", "render"]

Format = Literal["png", "svg"]

_MAX_SIDE = 20_000  # CSS pixels of one side, whatever the pixel limit allows
register_font = fonts.register_font


def _bad(reason: str) -> ContentError:
    return ContentError("chart", "INVALID_ARGUMENT", reason)


def _theme(theme: Any) -> Theme:
    """None (light, white background), "light", "dark", "transparent", or a dict of background, color and
    grid colours over the light theme."""
    if theme is None:
        return THEMES["light"]
    if isinstance(theme, str) and theme in THEMES:
        return THEMES[theme]
    if isinstance(theme, dict) and set(theme) <= {"background", "color", "grid"}:
        base = THEMES["light"]
        try:
            return Theme(
                parse_color(theme["background"]) if "background" in theme else base.background,
                parse_color(theme["color"]) if "color" in theme else base.text,
                parse_color(theme["grid"]) if "grid" in theme else base.grid,
            )
        except ValueError as exc:
            raise _bad(f"theme: {exc}") from None
    names = ", ".join(THEMES)
    raise _bad(f"theme must be None, one of {names}, or a dict of background, color and grid, not {theme!r}")


def _size(width: Any, height: Any, dpi: Any) -> tuple[int, int, float]:
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_SIDE:
            raise _bad(f"{name} must be a whole number of pixels from 1 to {_MAX_SIDE}, not {value!r}")
    if isinstance(dpi, bool) or not isinstance(dpi, int | float) or not 10 <= dpi <= 1000:
        raise _bad(f"dpi must be a number from 10 to 1000, not {dpi!r}")
    most = limits("chart")["max_pixels"]
    pixels = width * height * (dpi / 100) ** 2
    if pixels > most:
        raise ContentTooLarge(
            "chart",
            "CHART_TOO_LARGE",
            f"{width}x{height} at {dpi:g} dpi is {pixels:,.0f} pixels, over the limit of {most:,} "
            "(app.json chart.max_pixels)",
        )
    return width, height, float(dpi)


async def render(
    config: dict[str, Any],
    *,
    width: int = 800,
    height: int = 400,
    format: Format = "png",
    dpi: float = 100,
    theme: str | dict[str, str] | None = None,
) -> Picture:
    """`config` (a Chart.js config) drawn as a PNG (`width` x `height` pixels at dpi 100, scaled by
    dpi/100) or an SVG (text kept as text). A Picture: bytes with `.content_type`, shown inline in a
    notebook. InvalidChart (422) names the pointer of a bad value; ContentTooLarge (413) for the limits."""
    if format not in ("png", "svg"):
        raise _bad(f"format must be one of png, svg, not {format!r}")
    size = _size(width, height, dpi)
    palette = _theme(theme)
    if importlib.util.find_spec("matplotlib") is None:
        raise MissingExtra("chart", "matplotlib", "chart")
    max_points = limits("chart")["max_points"]
    data = await run_cpu("chart", _render, config, max_points, size, format, palette)
    return Picture(data, "image/svg+xml" if format == "svg" else "image/png")


def _render(
    budget: Budget, config: Any, max_points: int, size: tuple[int, int, float], fmt: str, theme: Theme
) -> bytes:
    spec = read_config(config, max_points)
    budget.check()
    draw = need("gingee_kernel.modules.chart.draw", module="chart", package="matplotlib", extra="chart")
    return draw.draw(budget, spec, size, fmt, theme, fonts.resolve(spec.font_family))
