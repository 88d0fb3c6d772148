"""chart.render: every chart type decodes as a PNG of the asked size, the bars' colours sit where their values
put them, the SVG is XML with the title, legend and axis texts as text; the notebook shows the Picture."""

from __future__ import annotations

import asyncio
import base64
import io
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import pytest
from PIL import Image

from gingee_kernel.modules import chart
from gingee_kernel.modules.content.picture import Picture

RED, BLUE = (255, 0, 0), (0, 0, 255)
LABELS = ["Jan", "Feb", "Mar", "Apr"]
SVG = "{http://www.w3.org/2000/svg}"


def bar_config(**options: Any) -> dict[str, Any]:
    return {
        "type": "bar",
        "data": {
            "labels": ["a", "b"],
            "datasets": [{"label": "Red", "data": [10, 5], "backgroundColor": "#ff0000"}],
        },
        "options": options,
    }


CONFIGS: dict[str, dict[str, Any]] = {
    "bar": bar_config(),
    "horizontal bar": bar_config(indexAxis="y"),
    "line": {"type": "line", "data": {"labels": LABELS, "datasets": [
        {"label": "A", "data": [1, 3, None, 2], "fill": True, "tension": 0.4},
        {"label": "B", "data": [2, 2, 1, 0], "borderDash": [5, 5]}]}},
    "pie": {"type": "pie", "data": {"labels": LABELS, "datasets": [{"data": [1, 2, 3, 4]}]}},
    "doughnut": {"type": "doughnut", "data": {"labels": ["x", "y"],
                                              "datasets": [{"data": [1, 2]}, {"data": [2, 1]}]}},
    "scatter": {"type": "scatter", "data": {"datasets": [{"label": "P",
                                                          "data": [{"x": 1, "y": 2}, [3, 4]]}]}},
    "bubble": {"type": "bubble", "data": {"datasets": [{"label": "B", "data": [{"x": 1, "y": 2, "r": 8}]}]}},
    "radar": {"type": "radar", "data": {"labels": LABELS,
                                        "datasets": [{"label": "R", "data": [1, 2, 3, 4], "fill": True}]}},
    "mixed": {"type": "bar", "data": {"labels": LABELS, "datasets": [
        {"label": "Bars", "data": [1, 2, 3, 4]}, {"type": "line", "label": "Line", "data": [4, 3, 2, 1]}]}},
    "logarithmic": {"type": "line", "data": {"labels": LABELS, "datasets": [{"data": [1, 10, 100, 1000]}]},
                    "options": {"scales": {"y": {"type": "logarithmic"}}}},
}  # fmt: skip


def pixels(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGB")


def mask(image: Image.Image, colour: tuple[int, int, int]) -> np.ndarray:
    """Where the image has exactly `colour` (rows, columns)."""
    return np.all(np.asarray(image) == colour, axis=2)


def boxes(image: Image.Image, colour: tuple[int, int, int]) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (left, top, right, bottom) of the runs of adjacent columns holding `colour`."""
    where = mask(image, colour)
    found: list[tuple[int, int, int, int]] = []
    for x in np.flatnonzero(where.any(axis=0)):
        rows = np.flatnonzero(where[:, x])
        top, bottom = int(rows.min()), int(rows.max())
        if found and found[-1][2] == x - 1:
            left, t, _, b = found[-1]
            found[-1] = (left, min(t, top), int(x), max(b, bottom))
        else:
            found.append((int(x), top, int(x), bottom))
    return [box for box in found if box[2] - box[0] >= 3]


@pytest.mark.parametrize("name", CONFIGS)
async def test_every_type_renders_a_png_of_the_asked_size(name: str) -> None:
    png = await chart.render(CONFIGS[name], width=640, height=320)
    assert isinstance(png, Picture) and png.content_type == "image/png"
    assert pixels(png).size == (640, 320)
    svg = await chart.render(CONFIGS[name], format="svg", width=640, height=320)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and (root.get("width"), root.get("height")) == ("640", "320")


async def test_dpi_scales_the_pixels_like_device_pixel_ratio() -> None:
    assert pixels(await chart.render(bar_config(), width=300, height=200, dpi=200)).size == (600, 400)


async def test_the_bars_are_drawn_in_their_colour_at_their_height() -> None:
    no_legend = bar_config(plugins={"legend": {"display": False}})  # its red box would count too
    image = pixels(await chart.render(no_legend, width=600, height=400))
    first, second = boxes(image, RED)
    assert first[2] < image.width / 2 < second[0]  # "a" on the left, "b" on the right
    tall, short = first[3] - first[1], second[3] - second[1]
    assert abs(tall / short - 2) < 0.05  # 10 against 5
    assert abs(first[3] - second[3]) <= 1  # both stand on the zero line


async def test_a_horizontal_bar_chart_lays_the_bars_down_first_label_on_top() -> None:
    image = pixels(await chart.render(bar_config(indexAxis="y"), width=600, height=400))
    red = mask(image, RED)
    lengths = red.sum(axis=1)  # red pixels in each row
    top, bottom = lengths[:200].max(), lengths[200:].max()
    assert abs(top / bottom - 2) < 0.05  # "a" (10) above "b" (5)
    assert (
        abs(
            np.flatnonzero(red[np.argmax(lengths[:200])]).min()
            - np.flatnonzero(red[200 + np.argmax(lengths[200:])]).min()
        )
        <= 1
    )


async def test_stacked_bars_stand_on_each_other() -> None:
    config = {
        "type": "bar",
        "data": {"labels": ["a"], "datasets": [
            {"label": "R", "data": [4], "backgroundColor": "#ff0000"},
            {"label": "B", "data": [4], "backgroundColor": "#0000ff"}]},
        "options": {"scales": {"x": {"stacked": True}, "y": {"stacked": True}},
                    "plugins": {"legend": {"display": False}}},
    }  # fmt: skip
    image = pixels(await chart.render(config, width=400, height=400))
    [red], [blue] = boxes(image, RED), boxes(image, BLUE)
    assert abs(red[0] - blue[0]) <= 1 and abs(red[2] - blue[2]) <= 1  # the same column
    assert abs(blue[3] + 1 - red[1]) <= 2  # blue starts where red ends
    assert abs((red[3] - red[1]) - (blue[3] - blue[1])) <= 2


async def test_pie_slices_have_the_share_of_their_values() -> None:
    config = {"type": "pie", "data": {"labels": ["r", "b"], "datasets": [
        {"data": [3, 1], "backgroundColor": ["#ff0000", "#0000ff"], "borderWidth": 0}]}}  # fmt: skip
    image = pixels(await chart.render(config, width=400, height=400))
    red, blue = mask(image, RED).sum(), mask(image, BLUE).sum()
    assert abs(red / blue - 3) < 0.1


async def test_themes_set_the_background() -> None:
    corner = {}
    for theme in (None, "dark", "transparent", {"background": "#00ff00"}):
        png = await chart.render(bar_config(), width=200, height=100, theme=theme)
        corner[str(theme)] = Image.open(io.BytesIO(png)).convert("RGBA").getpixel((0, 0))
    assert corner["None"] == (255, 255, 255, 255)
    assert corner["dark"] == (30, 30, 30, 255)
    assert corner["transparent"][3] == 0
    assert corner["{'background': '#00ff00'}"] == (0, 255, 0, 255)


def svg_texts(svg: bytes) -> list[str]:
    return [element.text or "" for element in ET.fromstring(svg).iter(f"{SVG}text")]


async def test_the_svg_keeps_title_legend_and_axis_titles_as_text() -> None:
    config = {
        "type": "line",
        "data": {
            "labels": ["Q1", "Q2"],
            "datasets": [{"label": "Revenue $", "data": [1, 2]}, {"label": "Costs <&>", "data": [2, 1]}],
        },
        "options": {
            "plugins": {"title": {"display": True, "text": "Sales $5 - $10"}},
            "scales": {"x": {"title": {"display": True, "text": "Quarter"}}, "y": {"title": {"text": "EUR"}}},
        },
    }
    svg = await chart.render(config, format="svg")
    assert svg.content_type == "image/svg+xml"
    texts = svg_texts(svg)
    for expected in ("Sales $5 - $10", "Revenue $", "Costs <&>", "Quarter", "EUR", "Q1", "Q2"):
        assert expected in texts


async def test_titles_follow_display_and_the_legend_can_be_hidden() -> None:
    config = bar_config(plugins={"title": {"display": False, "text": "Hidden"}, "legend": {"display": False}})
    texts = svg_texts(await chart.render(config, format="svg"))
    assert "Hidden" not in texts and "Red" not in texts
    for position in ("bottom", "left", "right", "chartArea"):
        shown = svg_texts(
            await chart.render(bar_config(plugins={"legend": {"position": position}}), format="svg")
        )
        assert "Red" in shown


async def test_a_glyph_the_font_lacks_is_a_box_not_a_warning() -> None:
    config = bar_config(plugins={"title": {"text": "売上 Ω"}})  # DejaVu Sans has Ω, not the kanji
    texts = svg_texts(await chart.render(config, format="svg"))
    assert "\u25a1\u25a1 Ω" in texts
    assert pixels(await chart.render(config)).size == (800, 400)


async def test_unknown_keys_are_ignored_as_chart_js_does() -> None:
    config = bar_config(responsive=True, animation={"duration": 0}, plugins={"tooltip": {"enabled": False}})
    config["data"]["datasets"][0].update(hoverBackgroundColor="#000", datalabels={"x": 1})
    config["plugins"] = [{"id": "custom"}]
    assert pixels(await chart.render(config, width=200, height=100)).size == (200, 100)


async def test_the_notebook_shows_the_picture_inline() -> None:
    png = await chart.render(bar_config(), width=200, height=100)
    bundle = png._repr_mimebundle_()
    assert base64.b64decode(bundle["image/png"]) == bytes(png)
    svg = await chart.render(bar_config(), width=200, height=100, format="svg")
    assert ET.fromstring(svg._repr_mimebundle_()["image/svg+xml"]).tag == f"{SVG}svg"


async def test_concurrent_renders_draw_the_same_as_one_at_a_time() -> None:
    configs = [CONFIGS[name] for name in ("bar", "line", "pie", "radar", "scatter", "mixed")]
    alone = [await chart.render(config, width=300, height=200) for config in configs]
    together = await asyncio.gather(*(chart.render(config, width=300, height=200) for config in configs))
    assert [bytes(p) for p in together] == [bytes(p) for p in alone]
    svgs = await asyncio.gather(*(chart.render(config, format="svg") for config in configs * 2))
    assert all(ET.fromstring(svg).tag == f"{SVG}svg" for svg in svgs)


def test_importing_the_modules_does_not_import_their_libraries() -> None:
    code = (
        "import sys\n"
        "from gingee_kernel.modules import chart, qrcode, utils\n"
        "loaded = [name for name in ('matplotlib', 'segno', 'barcode', 'PIL') if name in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


DEGENERATE = [
    *({"type": kind, "data": {}} for kind in chart.TYPES),
    {"type": "bar", "data": {"labels": ["a"], "datasets": [{"data": []}, {"data": [None]}]}},
    {"type": "pie", "data": {"labels": ["a", "b"], "datasets": [{"data": [0, 0]}]}},
    {"type": "line", "data": {"labels": ["a"], "datasets": [{"data": [5], "tension": 1, "fill": "start"}]}},
    {"type": "radar", "data": {"labels": ["a"], "datasets": [{"data": [None]}]}},
    {"type": "bar", "data": {"labels": ["a"], "datasets": [{"data": [1]}]},
     "options": {"scales": {"y": {"min": 5, "max": 5}}}},
]  # fmt: skip


@pytest.mark.parametrize("config", DEGENERATE)
async def test_empty_and_degenerate_charts_draw_without_a_warning(config: dict[str, Any]) -> None:
    assert pixels(await chart.render(config, width=200, height=100)).size == (200, 100)
    assert ET.fromstring(await chart.render(config, width=200, height=100, format="svg")).tag == f"{SVG}svg"
