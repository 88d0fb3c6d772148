"""The plain description of a chart that config.py reads out of a Chart.js config and draw.py draws:
chart kinds, scales, datasets and themes, and the InvalidChart error (no matplotlib here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..content.errors import ContentError
from .colors import RGBA, parse_color

TYPES = ("bar", "line", "pie", "doughnut", "scatter", "bubble", "radar")
LEGEND_POSITIONS = ("top", "bottom", "left", "right", "chartArea")
MAX_TEXT = 500  # characters in one label or title

# Chart.js 4's default palette (its colors plugin): borders, and the same at half opacity for fills.
PALETTE = ("#36a2eb", "#ff6384", "#ff9f40", "#ffcd56", "#4bc0c0", "#9966ff", "#c9cbcf")


@dataclass(frozen=True)
class Theme:
    """The chart's background, text and grid colours."""

    background: RGBA
    text: RGBA
    grid: RGBA


THEMES = {
    "light": Theme((1.0, 1.0, 1.0, 1.0), parse_color("#666"), parse_color("rgba(0, 0, 0, 0.1)")),
    "dark": Theme(parse_color("#1e1e1e"), parse_color("#ccc"), parse_color("rgba(255, 255, 255, 0.15)")),
    "transparent": Theme((0.0, 0.0, 0.0, 0.0), parse_color("#666"), parse_color("rgba(0, 0, 0, 0.1)")),
}


class InvalidChart(ContentError):
    """A config value Gingee cannot draw; `pointer` is its JSON pointer (also in the JSON answer)."""

    def __init__(self, pointer: str, reason: str) -> None:
        super().__init__("chart", "INVALID_CHART", f"{pointer or '/'}: {reason}")
        self.pointer = pointer
        self.extra = {"pointer": pointer}


@dataclass
class Axis:
    title: str | None = None
    min: float | None = None
    max: float | None = None
    suggested_min: float | None = None
    suggested_max: float | None = None
    begin_at_zero: bool = False
    stacked: bool = False
    log: bool = False
    reverse: bool = False
    display: bool = True
    grid: bool = True


@dataclass
class Dataset:
    kind: str
    label: str | None
    values: list[float | None] = field(default_factory=list)  # by label (bar, line, pie, radar)
    points: list[tuple[float, float, float]] = field(default_factory=list)  # x, y, r (scatter, bubble)
    background: list[RGBA] = field(default_factory=list)  # one colour, or one a data point
    border: list[RGBA] = field(default_factory=list)
    border_width: float | None = None
    fill: bool | str = False
    tension: float = 0.0
    point_radius: float | None = None
    border_dash: list[float] = field(default_factory=list)
    show_line: bool = False
    stack: str | None = None
    hidden: bool = False


@dataclass
class Spec:
    kind: str
    labels: list[str]
    datasets: list[Dataset]
    horizontal: bool = False
    title: str | None = None
    title_size: float = 12.0
    legend: bool = True
    legend_position: str = "top"
    legend_size: float = 12.0
    font_size: float = 12.0
    font_family: str | None = None
    cutout: float = 0.0
    scales: dict[str, Axis] = field(default_factory=dict)
    points: int = 0
