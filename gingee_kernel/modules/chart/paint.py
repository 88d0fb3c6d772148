"""The chart kinds drawn on matplotlib axes: category charts (bars, lines, both), scatter and bubble, pie
and doughnut rings, radar, and the legend."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..content.offload import Budget
from .colors import RGBA
from .helpers import PT, TextStyle, cycle, palette, runs, spline
from .spec import Axis, Dataset, Spec, Theme


class Painter:
    """Draws one Spec on one Figure, collecting the legend's entries as it goes."""

    def __init__(
        self, spec: Spec, fig: Figure, text: TextStyle, theme: Theme, width: int, budget: Budget
    ) -> None:
        self.spec = spec
        self.fig = fig
        self.text = text
        self.theme = theme
        self.width = width
        self.budget = budget
        self.handles: list[Any] = []

    # --- shared -----------------------------------------------------------------------------------

    def legend_entry(self, label: str | None, face: RGBA, edge: RGBA) -> None:
        """A Chart.js legend box: filled with the background colour, outlined with the border colour."""
        if not label:
            return
        handle = Patch(facecolor=face, edgecolor=edge, linewidth=1 * PT)
        handle.set_label(self.text.clean(label))
        self.handles.append(handle)

    def style_axes(self, ax: Any) -> None:
        ax.set_facecolor((0, 0, 0, 0))
        for side, spine in ax.spines.items():
            spine.set_color(self.theme.grid)
            spine.set_visible(side in ("left", "bottom"))
        ax.tick_params(colors=self.theme.grid, labelcolor=self.theme.text, labelsize=self.spec.font_size * PT)

    def axis(self, ax: Any, name: str, axis: Axis, numeric: bool) -> None:
        """Title, limits, scale, grid and visibility of the matplotlib axis `name` from its Chart.js scale."""
        mpl_axis = ax.xaxis if name == "x" else ax.yaxis
        if axis.title:
            label = ax.set_xlabel if name == "x" else ax.set_ylabel
            label(self.text.clean(axis.title), **self.text.props(self.spec.font_size))
        if numeric:
            if axis.log:
                (ax.set_xscale if name == "x" else ax.set_yscale)("log")
            get, set_ = (ax.get_xlim, ax.set_xlim) if name == "x" else (ax.get_ylim, ax.set_ylim)
            low, high = get()
            if axis.begin_at_zero and not axis.log:
                low, high = min(low, 0.0), max(high, 0.0)
            if axis.suggested_min is not None:
                low = min(low, axis.suggested_min)
            if axis.suggested_max is not None:
                high = max(high, axis.suggested_max)
            low = axis.min if axis.min is not None else low
            high = axis.max if axis.max is not None else high
            if high > low:
                set_(low, high)
        if axis.reverse:
            (ax.invert_xaxis if name == "x" else ax.invert_yaxis)()
        if axis.grid and axis.display:
            ax.grid(True, axis=name, color=self.theme.grid, linewidth=1 * PT)
        if not axis.display:
            mpl_axis.set_visible(False)
            ax.spines["bottom" if name == "x" else "left"].set_visible(False)

    def tick_fonts(self, ax: Any) -> None:
        font = self.text.props(self.spec.font_size)["fontproperties"]
        for mpl_axis in (ax.xaxis, ax.yaxis):
            for tick in mpl_axis.get_major_ticks():
                tick.label1.set_fontproperties(font)
                tick.label2.set_fontproperties(font)

    def category_ticks(self, ax: Any, name: str, count: int) -> None:
        """The labels on the category axis, thinned like Chart.js's autoSkip when they would overlap."""
        labels = [self.text.clean(label) for label in self.spec.labels[:count]]
        labels += [""] * (count - len(labels))
        longest = max((len(line) for label in labels for line in label.split("\n")), default=1)
        room = self.width / max(1.0, (longest * 0.6 + 2) * self.spec.font_size) if name == "x" else count
        step = max(1, int(np.ceil(count / max(room, 1))))
        positions = list(range(0, count, step))
        setter = ax.set_xticks if name == "x" else ax.set_yticks
        setter(positions, [labels[i] for i in positions])

    # --- chart kinds ------------------------------------------------------------------------------

    def cartesian(self) -> Any:
        spec = self.spec
        ax = self.fig.add_subplot()
        self.style_axes(ax)
        if spec.kind in ("scatter", "bubble"):
            self.scatter(ax)
            self.axis(ax, "x", spec.scales["x"], numeric=True)
            self.axis(ax, "y", spec.scales["y"], numeric=True)
        else:
            count = max([1, len(spec.labels), *(len(d.values) for d in spec.datasets)])
            self.bars(ax, count)
            self.lines(ax, count)
            index, value = ("y", "x") if spec.horizontal else ("x", "y")
            has_bars = any(d.kind == "bar" for d in spec.datasets)
            low, high = (-0.5, count - 0.5) if has_bars or count < 2 else (0.0, count - 1.0)
            (ax.set_ylim if spec.horizontal else ax.set_xlim)(low, high)
            self.category_ticks(ax, index, count)
            if spec.horizontal:
                ax.invert_yaxis()  # Chart.js draws the first label at the top
            self.axis(ax, index, spec.scales[index], numeric=False)
            self.axis(ax, value, spec.scales[value], numeric=True)
        self.tick_fonts(ax)
        return ax

    def bars(self, ax: Any, count: int) -> None:
        spec = self.spec
        stacked = spec.scales["x"].stacked or spec.scales["y"].stacked
        bars = [(i, d) for i, d in enumerate(spec.datasets) if d.kind == "bar" and not d.hidden]
        groups: list[str] = []
        for i, dataset in bars:
            key = (dataset.stack or "") if stacked else (dataset.stack or f"#{i}")
            if key not in groups:
                groups.append(key)
        slot = 0.8 / max(1, len(groups))
        base = {key: (np.zeros(count), np.zeros(count)) for key in groups}  # positive, negative stacks
        for i, dataset in bars:
            self.budget.check()
            key = (dataset.stack or "") if stacked else (dataset.stack or f"#{i}")
            group = groups.index(key)
            values = np.array([np.nan if v is None else v for v in dataset.values[:count]], float)
            where = np.arange(len(values), dtype=float) - 0.4 + slot * (group + 0.5)
            face = cycle(dataset.background, len(values), palette(i, 0.5))
            edge = cycle(dataset.border, len(values), palette(i, 1.0))
            drawn = ~np.isnan(values)
            positive, negative = base[key]
            bottoms = np.where(values >= 0, positive[: len(values)], negative[: len(values)])
            heights = np.nan_to_num(values)
            kwargs = {
                "color": [face[j] for j in np.flatnonzero(drawn)],
                "edgecolor": [edge[j] for j in np.flatnonzero(drawn)],
                "linewidth": (dataset.border_width or 0) * PT,
                "zorder": 2,
            }
            if spec.horizontal:
                ax.barh(where[drawn], heights[drawn], height=slot * 0.9, left=bottoms[drawn], **kwargs)
            else:
                ax.bar(where[drawn], heights[drawn], width=slot * 0.9, bottom=bottoms[drawn], **kwargs)
            if stacked:
                positive[: len(values)] += np.where(heights > 0, heights, 0)
                negative[: len(values)] += np.where(heights < 0, heights, 0)
            self.legend_entry(
                dataset.label, face[0] if face else palette(i, 0.5), edge[0] if edge else palette(i, 1)
            )

    def lines(self, ax: Any, count: int) -> None:
        spec = self.spec
        stack = np.zeros(count)
        stacked = spec.scales["x" if spec.horizontal else "y"].stacked
        for i, dataset in enumerate(spec.datasets):
            if dataset.kind != "line" or dataset.hidden:
                continue
            self.budget.check()
            values: list[float | None] = list(dataset.values[:count])
            if stacked:
                values = [None if v is None else v + stack[j] for j, v in enumerate(values)]
                stack[: len(values)] += [v or 0 for v in dataset.values[:count]]
            edge = dataset.border[0] if dataset.border else palette(i, 1.0)
            face = dataset.background[0] if dataset.background else palette(i, 0.5)
            self.path(ax, dataset, runs(values), edge, face, spec.horizontal)
            self.legend_entry(dataset.label, face, edge)

    def path(self, ax: Any, dataset: Dataset, runs: list[Any], edge: RGBA, face: RGBA, swap: bool) -> None:
        width = (3 if dataset.border_width is None else dataset.border_width) * PT
        radius = 3 if dataset.point_radius is None else dataset.point_radius
        dashes = (
            [d * PT / max(width, 0.01) for d in dataset.border_dash] if any(dataset.border_dash) else None
        )
        for xs, ys in runs:
            cx, cy = spline(xs, ys, dataset.tension)
            if swap:
                cx, cy, xs, ys = cy, cx, ys, xs
            line = ax.plot(cx, cy, color=edge, linewidth=width, zorder=3)[0]
            if dashes:
                line.set_dashes(dashes)
            if radius > 0:
                marker = {"marker": "o", "markersize": 2 * radius * PT, "markeredgewidth": 1 * PT}
                ax.plot(
                    xs, ys, linestyle="none", markerfacecolor=face, markeredgecolor=edge, zorder=4, **marker
                )
            if dataset.fill:
                self.fill(ax, cx, cy, face, dataset.fill, swap)

    def fill(self, ax: Any, xs: np.ndarray, ys: np.ndarray, face: RGBA, how: bool | str, swap: bool) -> None:
        """Chart.js fill: true/"origin" to zero, "start"/"end" to the value axis's ends (as autoscaled)."""
        if how in ("start", "end"):
            low, high = ax.get_xlim() if swap else ax.get_ylim()
            base = low if how == "start" else high
        else:
            base = 0.0
        if swap:
            ax.fill_betweenx(ys, xs, base, color=face, linewidth=0, zorder=1)
        else:
            ax.fill_between(xs, ys, base, color=face, linewidth=0, zorder=1)

    def scatter(self, ax: Any) -> None:
        for i, dataset in enumerate(self.spec.datasets):
            if dataset.hidden or not dataset.points:
                continue
            self.budget.check()
            xs = np.array([p[0] for p in dataset.points])
            ys = np.array([p[1] for p in dataset.points])
            edge = cycle(dataset.border, len(xs), palette(i, 1.0))
            face = cycle(dataset.background, len(xs), palette(i, 0.5))
            if dataset.kind == "bubble":
                sizes = np.array([(2 * p[2] * PT) ** 2 for p in dataset.points])
            else:
                radius = 3 if dataset.point_radius is None else dataset.point_radius
                sizes = np.full(len(xs), (2 * radius * PT) ** 2)
            if dataset.show_line:
                order = np.argsort(xs, kind="stable")
                ax.plot(
                    xs[order], ys[order], color=edge[0], linewidth=(dataset.border_width or 3) * PT, zorder=2
                )
            width = (1 if dataset.border_width is None else dataset.border_width) * PT
            ax.scatter(xs, ys, s=sizes, c=face, edgecolors=edge, linewidths=width, zorder=3)
            self.legend_entry(dataset.label, face[0], edge[0])

    def round(self) -> Any:
        """Pie and doughnut: one ring a dataset, the first outermost, clockwise from the top."""
        spec = self.spec
        ax = self.fig.add_subplot()
        ax.set_aspect("equal")
        ax.axis("off")
        shown = [d for d in spec.datasets if not d.hidden]
        ring = (1 - spec.cutout) / max(1, len(shown))
        count = max([len(spec.labels), *(len(d.values) for d in shown)])
        for n, dataset in enumerate(shown):
            self.budget.check()
            values = [v or 0.0 for v in dataset.values]
            if not values or sum(values) <= 0:
                continue
            faces = cycle(dataset.background, len(values), (0, 0, 0, 1))
            if not dataset.background:
                faces = [palette(j, 1.0) for j in range(len(values))]
            edges = cycle(
                dataset.border,
                len(values),
                self.theme.background if self.theme.background[3] else (1, 1, 1, 1),
            )
            border = 2 if dataset.border_width is None else dataset.border_width
            wedges, *_ = ax.pie(values, colors=faces, radius=1 - n * ring, startangle=90, counterclock=False,
                                wedgeprops={"width": ring, "linewidth": border * PT})  # fmt: skip
            for wedge, edge in zip(wedges, edges, strict=False):
                wedge.set_edgecolor(edge)
        first = shown[0] if shown else None
        for j in range(count):
            label = spec.labels[j] if j < len(spec.labels) else ""
            if first is not None and first.background:
                face = first.background[j % len(first.background)]
            else:
                face = palette(j, 1.0)
            self.legend_entry(label, face, face)
        return ax

    def radar(self) -> Any:
        spec = self.spec
        ax = self.fig.add_subplot(projection="polar")
        ax.set_facecolor((0, 0, 0, 0))
        ax.set_theta_offset(np.pi / 2)
        ax.set_theta_direction(-1)
        count = max([len(spec.labels), *(len(d.values) for d in spec.datasets)], default=0)
        angles = np.linspace(0, 2 * np.pi, max(count, 1), endpoint=False)
        for i, dataset in enumerate(spec.datasets):
            if dataset.hidden or not dataset.values:
                continue
            self.budget.check()
            values = np.array([np.nan if v is None else v for v in dataset.values[:count]], float)
            values = np.concatenate([values, np.full(count - len(values), np.nan)])
            closed_angles, closed = np.append(angles, angles[0]), np.append(values, values[0])
            edge = dataset.border[0] if dataset.border else palette(i, 1.0)
            face = dataset.background[0] if dataset.background else palette(i, 0.5)
            width = (3 if dataset.border_width is None else dataset.border_width) * PT
            ax.plot(closed_angles, closed, color=edge, linewidth=width, marker="o",
                    markersize=2 * (3 if dataset.point_radius is None else dataset.point_radius) * PT,
                    markerfacecolor=face, markeredgecolor=edge)  # fmt: skip
            if dataset.fill:
                ax.fill(closed_angles, np.nan_to_num(closed), color=face, linewidth=0)
            self.legend_entry(dataset.label, face, edge)
        labels = [self.text.clean(label) for label in spec.labels[:count]]
        ax.set_xticks(angles[: len(labels)], labels)
        ax.tick_params(colors=self.theme.text, labelsize=spec.font_size * PT)
        ax.grid(True, color=self.theme.grid)
        ax.spines["polar"].set_color(self.theme.grid)
        r = spec.scales["r"]
        low, high = ax.get_ylim()
        low = r.min if r.min is not None else (min(low, 0.0) if r.begin_at_zero else low)
        high = r.max if r.max is not None else high
        if high > low:
            ax.set_ylim(low, high)
        self.tick_fonts(ax)
        return ax

    def legend(self, ax: Any) -> None:
        spec = self.spec
        if not spec.legend or not self.handles:
            return
        props = self.text.props(spec.legend_size)
        common = {"handles": self.handles, "frameon": False, "prop": props["fontproperties"],
                  "labelcolor": self.theme.text, "handlelength": 40 / spec.legend_size * 0.6}  # fmt: skip
        longest = max(len(h.get_label()) for h in self.handles)
        across = max(1, min(len(self.handles), int(self.width / ((longest * 0.6 + 5) * spec.legend_size))))
        position = spec.legend_position
        if position == "top":  # above the axes (a radar's outermost labels stand out of them)
            above = 1.12 if spec.kind == "radar" else 1.0
            ax.legend(loc="lower center", bbox_to_anchor=(0.5, above), ncols=across, **common)
        elif position == "bottom":
            self.fig.legend(loc="outside lower center", ncols=across, **common)
        elif position in ("left", "right"):
            self.fig.legend(loc=f"outside {position} center", ncols=1, **common)
        else:
            ax.legend(loc="upper right", **common)
