"""A Chart.js config read into a Spec, checked as it is read.

Keys Gingee draws are checked: a value of the wrong shape is InvalidChart naming its JSON pointer
(`/data/datasets/0/data/3`). Keys it does not draw (animation, plugins it lacks, callbacks) are ignored,
as Chart.js ignores what it does not know. The data points are counted against the app's
`chart.max_points` while they are read, before anything is drawn.
"""

from __future__ import annotations

import math
from typing import Any

from ..content.errors import ContentTooLarge
from .colors import RGBA, parse_color
from .spec import LEGEND_POSITIONS, MAX_TEXT, TYPES, Axis, Dataset, InvalidChart, Spec

__all__ = ["read_config"]


class _Reader:
    """Typed reads at JSON pointers, counting data points against `max_points`."""

    def __init__(self, max_points: int) -> None:
        self.max_points = max_points
        self.points = 0

    def count(self, pointer: str, n: int) -> None:
        self.points += n
        if self.points > self.max_points:
            raise ContentTooLarge(
                "chart",
                "TOO_MANY_POINTS",
                f"{pointer}: the chart has over {self.max_points} data points (app.json chart.max_points)",
            )

    @staticmethod
    def object(pointer: str, value: Any, required: bool = False) -> dict[str, Any]:
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise InvalidChart(pointer, f"expected an object, got {_show(value)}")
        return value

    @staticmethod
    def list(pointer: str, value: Any) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise InvalidChart(pointer, f"expected an array, got {_show(value)}")
        return list(value)

    @staticmethod
    def number(pointer: str, value: Any, nullable: bool = False) -> float | None:
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            expected = "a number or null" if nullable else "a number"
            raise InvalidChart(pointer, f"expected {expected}, got {_show(value)}")
        return float(value)

    @staticmethod
    def boolean(pointer: str, value: Any, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            raise InvalidChart(pointer, f"expected true or false, got {_show(value)}")
        return value

    @staticmethod
    def text(pointer: str, value: Any) -> str | None:
        """A label or title: a string, a number, or an array of lines (Chart.js multi-line labels)."""
        if value is None:
            return None
        if isinstance(value, list):
            lines = [_Reader.text(f"{pointer}/{i}", line) or "" for i, line in enumerate(value)]
            value = "\n".join(lines)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = f"{value:g}" if isinstance(value, float) else str(value)
        if not isinstance(value, str):
            raise InvalidChart(pointer, f"expected a string, got {_show(value)}")
        if len(value) > MAX_TEXT:
            raise InvalidChart(pointer, f"the text is {len(value)} characters, over {MAX_TEXT}")
        return value

    @staticmethod
    def colours(pointer: str, value: Any) -> list[RGBA]:
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        if not items:
            return []
        out = []
        for i, item in enumerate(items):
            try:
                out.append(parse_color(item))
            except ValueError as exc:
                raise InvalidChart(
                    f"{pointer}/{i}" if isinstance(value, list) else pointer, str(exc)
                ) from None
        return out


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _axis(read: _Reader, pointer: str, raw: Any) -> Axis:
    axis = read.object(pointer, raw)
    title = read.object(f"{pointer}/title", axis.get("title"))
    kind = axis.get("type", "linear")
    if kind not in ("linear", "logarithmic", "category"):
        raise InvalidChart(
            f"{pointer}/type", f"scale type {_show(kind)} is not drawn: use linear, logarithmic or category"
        )
    return Axis(
        title=read.text(f"{pointer}/title/text", title.get("text"))
        if read.boolean(f"{pointer}/title/display", title.get("display"), True)
        else None,
        min=read.number(f"{pointer}/min", axis.get("min"), nullable=True),
        max=read.number(f"{pointer}/max", axis.get("max"), nullable=True),
        suggested_min=read.number(f"{pointer}/suggestedMin", axis.get("suggestedMin"), nullable=True),
        suggested_max=read.number(f"{pointer}/suggestedMax", axis.get("suggestedMax"), nullable=True),
        begin_at_zero=read.boolean(f"{pointer}/beginAtZero", axis.get("beginAtZero"), False),
        stacked=read.boolean(f"{pointer}/stacked", axis.get("stacked"), False),
        log=kind == "logarithmic",
        reverse=read.boolean(f"{pointer}/reverse", axis.get("reverse"), False),
        display=read.boolean(f"{pointer}/display", axis.get("display"), True),
        grid=read.boolean(
            f"{pointer}/grid/display", read.object(f"{pointer}/grid", axis.get("grid")).get("display"), True
        ),
    )


def _values(read: _Reader, pointer: str, data: list[Any], kind: str) -> Dataset:
    dataset = Dataset(kind=kind, label=None)
    if kind in ("scatter", "bubble"):
        for i, point in enumerate(data):
            at = f"{pointer}/{i}"
            if isinstance(point, list | tuple) and len(point) in (2, 3):
                point = dict(zip(("x", "y", "r"), point, strict=False))
            point = read.object(at, point, required=True)
            x = read.number(f"{at}/x", point.get("x"))
            y = read.number(f"{at}/y", point.get("y"))
            r = read.number(f"{at}/r", point.get("r", 3.0)) if kind == "bubble" else 0.0
            dataset.points.append((x, y, r))  # type: ignore[arg-type]
        return dataset
    for i, value in enumerate(data):
        if isinstance(value, dict):  # {x: label, y: value}, as Chart.js parses objects
            value = value.get("y")
        number = read.number(f"{pointer}/{i}", value, nullable=True)
        if kind in ("pie", "doughnut") and number is not None and number < 0:
            raise InvalidChart(f"{pointer}/{i}", f"a {kind} slice cannot be negative ({value})")
        dataset.values.append(number)
    return dataset


def _dataset(read: _Reader, pointer: str, raw: Any, chart_kind: str) -> Dataset:
    item = read.object(pointer, raw, required=True)
    kind = item.get("type", chart_kind)
    mixable = ("bar", "line")
    if kind != chart_kind and not (chart_kind in mixable and kind in mixable):
        raise InvalidChart(
            f"{pointer}/type", f"a {_show(kind)} dataset cannot be drawn in a {chart_kind} chart"
        )
    data = read.list(f"{pointer}/data", item.get("data", []))
    read.count(f"{pointer}/data", max(1, len(data)))
    dataset = _values(read, f"{pointer}/data", data, kind)
    dataset.label = read.text(f"{pointer}/label", item.get("label"))
    dataset.background = read.colours(f"{pointer}/backgroundColor", item.get("backgroundColor"))
    dataset.border = read.colours(f"{pointer}/borderColor", item.get("borderColor"))
    width = read.number(f"{pointer}/borderWidth", item.get("borderWidth"), nullable=True)
    if width is not None and not 0 <= width <= 100:
        raise InvalidChart(f"{pointer}/borderWidth", f"expected 0 to 100 pixels, got {width:g}")
    dataset.border_width = width
    fill = item.get("fill", False)
    if not isinstance(fill, bool) and fill not in ("origin", "start", "end"):
        fill = False  # Chart.js's relative fills ("-1", "+2", {value}) are not drawn
    dataset.fill = fill
    tension = read.number(f"{pointer}/tension", item.get("tension", 0))
    dataset.tension = min(1.0, max(0.0, tension or 0.0))
    radius = read.number(f"{pointer}/pointRadius", item.get("pointRadius"), nullable=True)
    if radius is not None and not 0 <= radius <= 100:
        raise InvalidChart(f"{pointer}/pointRadius", f"expected 0 to 100 pixels, got {radius:g}")
    dataset.point_radius = radius
    dash = read.list(f"{pointer}/borderDash", item.get("borderDash", []))
    dataset.border_dash = [
        max(0.0, read.number(f"{pointer}/borderDash/{i}", value) or 0.0) for i, value in enumerate(dash[:8])
    ]
    dataset.show_line = read.boolean(f"{pointer}/showLine", item.get("showLine"), False)
    stack = item.get("stack")
    dataset.stack = None if stack is None else str(stack)
    dataset.hidden = read.boolean(f"{pointer}/hidden", item.get("hidden"), False)
    return dataset


def _font(read: _Reader, pointer: str, raw: Any, size: float) -> tuple[float, str | None]:
    font = read.object(pointer, raw)
    value = read.number(f"{pointer}/size", font.get("size", size))
    if not 1 <= (value or 0) <= 200:
        raise InvalidChart(f"{pointer}/size", f"expected 1 to 200 pixels, got {value:g}")
    family = font.get("family")
    if family is not None and not isinstance(family, str):
        raise InvalidChart(f"{pointer}/family", f"expected a string, got {_show(family)}")
    return value or size, family


def read_config(config: Any, max_points: int) -> Spec:
    """`config` (a Chart.js config: type, data, options) as a Spec; InvalidChart naming the pointer of
    the first value that cannot be drawn, ContentTooLarge past `max_points` data points."""
    read = _Reader(max_points)
    root = read.object("", config, required=True)
    kind = root.get("type")
    if kind == "horizontalBar":  # Chart.js 2's name
        kind = "bar"
        root = {**root, "options": {**read.object("/options", root.get("options")), "indexAxis": "y"}}
    if kind not in TYPES:
        raise InvalidChart("/type", f"chart type {_show(kind)} is not drawn: use one of {', '.join(TYPES)}")
    data = read.object("/data", root.get("data"), required=True)
    options = read.object("/options", root.get("options"))
    labels_raw = read.list("/data/labels", data.get("labels", []))
    read.count("/data/labels", len(labels_raw))
    labels = [read.text(f"/data/labels/{i}", label) or "" for i, label in enumerate(labels_raw)]
    datasets = [
        _dataset(read, f"/data/datasets/{i}", raw, kind)
        for i, raw in enumerate(read.list("/data/datasets", data.get("datasets", [])))
    ]
    plugins = read.object("/options/plugins", options.get("plugins"))
    title = read.object("/options/plugins/title", plugins.get("title"))
    legend = read.object("/options/plugins/legend", plugins.get("legend"))
    font_size, family = _font(read, "/options/font", options.get("font"), 12.0)
    title_size, title_family = _font(read, "/options/plugins/title/font", title.get("font"), font_size)
    legend_labels = read.object("/options/plugins/legend/labels", legend.get("labels"))
    legend_size, _ = _font(read, "/options/plugins/legend/labels/font", legend_labels.get("font"), font_size)
    position = legend.get("position", "top")
    if position not in LEGEND_POSITIONS:
        raise InvalidChart(
            "/options/plugins/legend/position",
            f"expected one of {', '.join(LEGEND_POSITIONS)}, got {_show(position)}",
        )
    index_axis = options.get("indexAxis", "x")
    if index_axis not in ("x", "y"):
        raise InvalidChart("/options/indexAxis", f"expected 'x' or 'y', got {_show(index_axis)}")
    scales_raw = read.object("/options/scales", options.get("scales"))
    scales = {
        name: _axis(read, f"/options/scales/{_escape(name)}", scales_raw.get(name))
        for name in ("x", "y", "r")
    }
    cutout = options.get("cutout", "50%" if kind == "doughnut" else 0)
    spec = Spec(
        kind=kind,
        labels=labels,
        datasets=datasets,
        horizontal=kind == "bar" and index_axis == "y",
        title=read.text("/options/plugins/title/text", title.get("text"))
        if read.boolean("/options/plugins/title/display", title.get("display"), True)
        else None,
        title_size=title_size,
        legend=read.boolean("/options/plugins/legend/display", legend.get("display"), True),
        legend_position=position,
        legend_size=legend_size,
        font_size=font_size,
        font_family=family or title_family,
        cutout=_cutout(cutout),
        scales=scales,
        points=read.points,
    )
    _check_log_axes(spec)
    return spec


def _cutout(value: Any) -> float:
    """Chart.js's doughnut hole: "50%" or a fraction-like number of pixels (taken as a percentage)."""
    if isinstance(value, str) and value.endswith("%"):
        try:
            number = float(value[:-1])
        except ValueError:
            raise InvalidChart(
                "/options/cutout", f"expected a percentage like '50%', got {_show(value)}"
            ) from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise InvalidChart("/options/cutout", f"expected a percentage like '50%', got {_show(value)}")
    if not 0 <= number < 100:
        raise InvalidChart("/options/cutout", f"expected 0% to 99%, got {_show(value)}")
    return number / 100


def _check_log_axes(spec: Spec) -> None:
    """A logarithmic value axis draws only positive values: say which one is not."""
    value_axis = "x" if spec.horizontal else "y"
    for i, dataset in enumerate(spec.datasets):
        for axis, values in ((value_axis, dataset.values), ("x", [p[0] for p in dataset.points]),
                             ("y", [p[1] for p in dataset.points])):  # fmt: skip
            if spec.scales[axis].log:
                for j, value in enumerate(values):
                    if value is not None and value <= 0:
                        raise InvalidChart(
                            f"/data/datasets/{i}/data/{j}",
                            f"{value:g} cannot be drawn on the logarithmic {axis} axis (only values above 0)",
                        )
