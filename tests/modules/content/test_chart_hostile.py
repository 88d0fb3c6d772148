"""chart.render on bad input: each wrong value is INVALID_CHART (422) naming its JSON pointer; sizes and point
counts over the app's limits are refused (413) before anything is drawn; fonts come from the box only through
the fs grant, and one app's fonts never reach another app's charts."""

from __future__ import annotations

import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import matplotlib
import pytest

from gingee_kernel.engine.context import app_context
from gingee_kernel.errors import PermissionDenied
from gingee_kernel.modules import chart
from gingee_kernel.modules.chart import InvalidChart
from gingee_kernel.modules.content.errors import ContentError, ContentTooLarge, MissingExtra
from tests.fixtures.apps import MakeApp

SVG = "{http://www.w3.org/2000/svg}"


def bars(*datasets: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"type": "bar", "data": {"labels": ["a", "b"], "datasets": list(datasets)}, "options": options}


@pytest.mark.parametrize(
    ("config", "pointer", "says"),
    [
        ("bar", "", "expected an object"),
        ({"type": "polarArea", "data": {}}, "/type", "use one of bar, line, pie"),
        ({"data": {}}, "/type", "chart type None"),
        ({"type": "bar"}, "/data", "expected an object"),
        ({"type": "bar", "data": {"datasets": {}}}, "/data/datasets", "expected an array"),
        ({"type": "bar", "data": {"labels": "abc"}}, "/data/labels", "expected an array"),
        ({"type": "bar", "data": {"labels": [{"a": 1}]}}, "/data/labels/0", "expected a string"),
        ({"type": "bar", "data": {"labels": ["x" * 501]}}, "/data/labels/0", "over 500"),
        (bars({"data": [1, "two"]}), "/data/datasets/0/data/1", "expected a number or null, got 'two'"),
        (bars({"data": [1, True]}), "/data/datasets/0/data/1", "got True"),
        (bars({"data": [float("nan")]}), "/data/datasets/0/data/0", "got nan"),
        (bars({"data": [1]}, {"data": [float("inf")]}), "/data/datasets/1/data/0", "got inf"),
        (bars("nope"), "/data/datasets/0", "expected an object"),
        (
            bars({"data": [1], "backgroundColor": ["red", "nope"]}),
            "/data/datasets/0/backgroundColor/1",
            "not a colour",
        ),
        (bars({"data": [1], "borderColor": "url(#x)"}), "/data/datasets/0/borderColor", "not a colour"),
        (bars({"data": [1], "borderWidth": -1}), "/data/datasets/0/borderWidth", "0 to 100"),
        (bars({"data": [1], "borderWidth": 10**9}), "/data/datasets/0/borderWidth", "0 to 100"),
        (bars({"data": [1], "type": "pie"}), "/data/datasets/0/type", "cannot be drawn in a bar chart"),
        (bars({"data": [1], "label": 5j}), "/data/datasets/0/label", "expected a string"),
        (
            bars({"data": [1]}, plugins={"legend": {"position": "middle"}}),
            "/options/plugins/legend/position",
            "top",
        ),
        (
            bars({"data": [1]}, plugins={"legend": {"display": "yes"}}),
            "/options/plugins/legend/display",
            "true or false",
        ),
        (
            bars({"data": [1]}, plugins={"title": {"font": {"size": 10**6}}}),
            "/options/plugins/title/font/size",
            "1 to 200",
        ),
        (
            bars({"data": [1]}, scales={"y": {"min": "0"}}),
            "/options/scales/y/min",
            "expected a number or null",
        ),
        (
            bars({"data": [1]}, scales={"y": {"type": "time"}}),
            "/options/scales/y/type",
            "linear, logarithmic",
        ),
        (
            bars({"data": [0]}, scales={"y": {"type": "logarithmic"}}),
            "/data/datasets/0/data/0",
            "logarithmic",
        ),
        (bars({"data": [1]}, indexAxis="z"), "/options/indexAxis", "'x' or 'y'"),
        ({"type": "pie", "data": {"datasets": [{"data": [1, -2]}]}}, "/data/datasets/0/data/1", "negative"),
        ({"type": "doughnut", "data": {}, "options": {"cutout": "150%"}}, "/options/cutout", "0% to 99%"),
        (
            {"type": "scatter", "data": {"datasets": [{"data": [{"x": 1}]}]}},
            "/data/datasets/0/data/0/y",
            "a number",
        ),
        ({"type": "scatter", "data": {"datasets": [{"data": [5]}]}}, "/data/datasets/0/data/0", "an object"),
        (
            {"type": "bubble", "data": {"datasets": [{"data": [{"x": 1, "y": 1, "r": "big"}]}]}},
            "/data/datasets/0/data/0/r",
            "a number",
        ),
    ],
)
async def test_a_bad_value_is_invalid_chart_naming_its_pointer(config: Any, pointer: str, says: str) -> None:
    with pytest.raises(InvalidChart) as info:
        await chart.render(config)
    error = info.value
    assert error.code == "INVALID_CHART" and error.status == 422 and error.pointer == pointer
    assert error.body()["pointer"] == pointer
    assert str(error).startswith(f"chart: {pointer or '/'}: ") and says in str(error)


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"format": "jpg"}, "format must be one of png, svg"),
        ({"width": 0}, "width must be a whole number of pixels"),
        ({"height": 2.5}, "height must be a whole number"),
        ({"width": True}, "width must be a whole number"),
        ({"dpi": 5}, "dpi must be a number from 10 to 1000"),
        ({"dpi": float("nan")}, "dpi must be a number"),
        ({"theme": "neon"}, "theme must be None, one of light, dark, transparent"),
        ({"theme": {"background": "nope"}}, "theme: 'nope' is not a colour"),
        ({"theme": {"font": "x"}}, "theme must be"),
    ],
)
async def test_bad_arguments_are_invalid_argument(kwargs: dict[str, Any], says: str) -> None:
    with pytest.raises(ContentError) as info:
        await chart.render(bars({"data": [1]}), **kwargs)
    assert info.value.code == "INVALID_ARGUMENT" and says in str(info.value)


async def test_huge_dimensions_are_refused_before_any_drawing(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_work(*args: Any) -> bytes:
        raise AssertionError("the render was started")

    monkeypatch.setattr(chart, "run_cpu", no_work)
    for kwargs in ({"width": 20_000, "height": 20_000}, {"width": 4000, "height": 4000, "dpi": 101}):
        with pytest.raises(ContentTooLarge) as info:
            await chart.render(bars({"data": [1]}), **kwargs)  # type: ignore[arg-type]
        assert info.value.status == 413 and info.value.code == "CHART_TOO_LARGE"
        assert "chart.max_pixels" in str(info.value)
    with pytest.raises(ContentError, match="from 1 to 20000"):
        await chart.render(bars({"data": [1]}), width=10**9, height=1)


async def test_app_json_lowers_the_limits(make_app: MakeApp) -> None:
    app = make_app("small", config={"chart": {"max_pixels": 20_000, "max_points": 10}})
    with app_context(app):
        assert len(await chart.render(bars({"data": [1, 2]}), width=200, height=100)) > 0
        with pytest.raises(ContentTooLarge, match="over the limit of 20,000"):
            await chart.render(bars({"data": [1]}), width=201, height=100)
        with pytest.raises(ContentTooLarge) as info:
            await chart.render(
                bars({"data": list(range(5))}, {"data": list(range(5))}), width=100, height=100
            )
    assert info.value.code == "TOO_MANY_POINTS" and "chart.max_points" in str(info.value)


async def test_too_many_points_by_default() -> None:
    config = {"type": "line", "data": {"datasets": [{"data": [0] * 60_000}, {"data": [0] * 40_001}]}}
    with pytest.raises(ContentTooLarge) as info:
        await chart.render(config)
    assert info.value.code == "TOO_MANY_POINTS" and "/data/datasets/1/data" in str(info.value)


async def test_without_matplotlib_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtra, match=r"needs matplotlib.*pip install 'gingee\[chart\]'"):
        await chart.render(bars({"data": [1]}))


# --- fonts -----------------------------------------------------------------------------------------

SERIF = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSerif.ttf"


def families(svg: bytes) -> set[str]:
    styles = [element.get("style", "") for element in ET.fromstring(svg).iter(f"{SVG}text")]
    return {
        style.split("font-family: ")[1].split(",")[0].strip("'") for style in styles if "font-family" in style
    }


async def test_a_registered_font_draws_this_apps_charts_only(make_app: MakeApp) -> None:
    own = make_app("branded", grants={"fs"})
    other = make_app("plain", grants={"fs"})
    (own.box / "fonts").mkdir()
    shutil.copy(SERIF, own.box / "fonts" / "brand.ttf")
    stack = "'DejaVu Serif', Helvetica, sans-serif"
    config = bars(
        {"label": "Sales", "data": [1, 2]}, font={"family": stack}, plugins={"title": {"text": "B"}}
    )
    with app_context(own):
        assert await chart.register_font("box", "fonts/brand.ttf") == "DejaVu Serif"
        assert families(await chart.render(config, format="svg")) == {"DejaVu Serif"}
        assert len(await chart.render(config)) > 0  # and the PNG draws with it
    with app_context(other):
        assert families(await chart.render(config, format="svg")) == {"DejaVu Sans"}


async def test_fonts_come_through_fs_and_must_be_fonts(make_app: MakeApp) -> None:
    ungranted = make_app("nofs")
    with app_context(ungranted), pytest.raises(PermissionDenied, match="'fs' permission"):
        await chart.register_font("box", "fonts/brand.ttf")
    app = make_app("fonts", grants={"fs"})
    (app.box / "fake.ttf").write_bytes(b"<html>not a font</html>")
    (app.box / "broken.ttf").write_bytes(b"\x00\x01\x00\x00" + b"\x00" * 100)
    with app_context(app):
        with pytest.raises(ContentError) as info:
            await chart.register_font("box", "fake.ttf")
        assert info.value.code == "INVALID_FONT"
        with pytest.raises(ContentError, match="not a font matplotlib can read"):
            await chart.register_font("box", "broken.ttf")
        with pytest.raises(PermissionError):  # FsAccessDenied: the box is the limit
            await chart.register_font("box", "../../secret.ttf")
