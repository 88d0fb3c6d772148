"""A Spec drawn with matplotlib's object-oriented API (Figure + FigureCanvasAgg, never pyplot, whose
global state is not thread-safe), in a content-pool thread. Imported on the first render only: importing
matplotlib takes most of a second (and builds its font cache in MPLCONFIGDIR the first time ever).

Sizes follow Chart.js: the figure is `width` x `height` CSS pixels at 100 dpi (dpi 200 doubles the pixels,
like devicePixelRatio 2), so a Chart.js pixel (border widths, point radii, font sizes) is 0.72 points.
"""

from __future__ import annotations

import io
import re
import threading

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..content.offload import Budget
from .helpers import TextStyle
from .paint import Painter
from .spec import Spec, Theme

_svg_lock = threading.Lock()  # rc_context changes process-wide settings: one SVG at a time


def draw(
    budget: Budget, spec: Spec, size: tuple[int, int, float], fmt: str, theme: Theme, font: str | None
) -> bytes:
    """The chart as PNG or SVG bytes (runs in a content-pool thread)."""
    width, height, dpi = size
    fig = Figure(
        figsize=(width / 100, height / 100), dpi=dpi, layout="constrained", facecolor=theme.background
    )
    FigureCanvasAgg(fig)
    text = TextStyle(font, theme)
    painter = Painter(spec, fig, text, theme, width, budget)
    if spec.kind in ("pie", "doughnut"):
        ax = painter.round()
    elif spec.kind == "radar":
        ax = painter.radar()
    else:
        ax = painter.cartesian()
    painter.legend(ax)
    if spec.title:
        fig.suptitle(text.clean(spec.title), **text.props(spec.title_size, bold=True))
    budget.check()
    buffer = io.BytesIO()
    if fmt == "png":
        fig.savefig(buffer, format="png", facecolor=theme.background)
        return buffer.getvalue()
    with _svg_lock, rc_context({"svg.fonttype": "none", "svg.hashsalt": "gingee"}):  # text stays text
        fig.savefig(buffer, format="svg", facecolor=theme.background, metadata={"Date": None})
    # matplotlib sizes the SVG in points (576pt for 800 px): give it the pixels the PNG has
    size_attributes = f'width="{width}" height="{height}"'.encode()
    return re.sub(rb'width="[\d.]+pt" height="[\d.]+pt"', size_attributes, buffer.getvalue(), count=1)
