"""qrcode.qrcode: what it draws is read back by an independent decoder (qr_decode: format bits, zig-zag,
Reed-Solomon, segments), the PNG matches segno's own matrix module by module, the SVG path draws the same
symbol; the limits, the argument checks and the notebook display."""

from __future__ import annotations

import base64
import io
import re
import sys
import xml.etree.ElementTree as ET

import pytest
import segno
from PIL import Image

from gingee_kernel.engine.context import app_context
from gingee_kernel.modules import qrcode
from gingee_kernel.modules.content.errors import ContentError, ContentTooLarge, MissingExtra
from gingee_kernel.modules.content.picture import Picture
from tests.fixtures.apps import MakeApp

from .test_qrcode_decoder import decode, decode_matrix, sample

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("https://example.com/tickets/42?seat=A7", "byte"),
        ("HELLO WORLD $%*+-./:", "alphanumeric"),
        ("0123456789012345", "numeric"),
        ("Grüße, 日本, Ω and 😀", "byte"),
        ("x" * 120, "byte"),  # version 7 or more: with version bits and several blocks
    ],
)
async def test_the_png_decodes_back_to_the_text(text: str, mode: str) -> None:
    png = await qrcode.qrcode(text)
    assert isinstance(png, Picture) and png.content_type == "image/png"
    data, version, _level = decode(png)
    assert data.decode("utf-8") == text
    assert segno.make(text, micro=False, encoding="utf-8").mode == mode
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.size == ((version * 4 + 17 + 2 * 4) * 4,) * 2  # default scale 4, border 4


async def test_bytes_are_encoded_as_they_are() -> None:
    raw = bytes(range(256))[::3] + b"\0\xff"
    assert decode(await qrcode.qrcode(raw))[0] == raw
    assert decode(await qrcode.qrcode(bytearray(b"\x00abc")))[0] == b"\x00abc"


async def test_the_png_draws_segnos_matrix_module_by_module() -> None:
    text = "matrix check 123"
    png = await qrcode.qrcode(text, scale=5, border=3, error="q")
    expected = [[bool(module) for module in row] for row in segno.make(text, error="q", micro=False).matrix]
    assert sample(png) == expected
    with Image.open(io.BytesIO(png)) as image:
        grey = image.convert("L")
        assert grey.getpixel((0, 0)) == 255 and grey.getpixel((3 * 5 - 1, 3 * 5 - 1)) == 255  # border light
        assert grey.getpixel((3 * 5, 3 * 5)) == 0  # the finder's corner
        assert grey.size == ((len(expected) + 6) * 5,) * 2


@pytest.mark.parametrize("level", ["l", "m", "q", "h"])
async def test_error_is_the_minimum_level(level: str) -> None:
    _data, _version, got = decode(await qrcode.qrcode("x" * 40, error=level))
    assert "LMQH".index(got) >= "LMQH".index(level.upper())
    assert decode(await qrcode.qrcode("y" * 40, error=level.upper()))[0] == b"y" * 40


def _svg_matrix(svg: bytes) -> tuple[list[list[bool]], ET.Element]:
    """The modules drawn by segno's SVG path: `M x y`, `m dx dy` moves and `h n` runs of dark modules."""
    root = ET.fromstring(svg)
    scale = int(re.search(r"scale\((\d+)\)", svg.decode()).group(1))  # type: ignore[union-attr]
    side = int(root.get("width", "0")) // scale
    grid = [[False] * side for _ in range(side)]
    line = next(el for el in root.iter(f"{SVG}path") if el.get("class") == "qrline")
    x = y = 0.0
    for command, numbers in re.findall(r"([MmHhVv])([-\d. ]+)", line.get("d", "")):
        values = [float(v) for v in numbers.split()]
        if command == "M":
            x, y = values
        elif command == "m":
            x, y = x + values[0], y + values[1]
        elif command == "h":
            for column in range(int(x), int(x + values[0])):
                grid[int(y)][column] = True
            x += values[0]
        else:
            raise AssertionError(f"unexpected path command {command}")
    return grid, root


async def test_the_svg_is_xml_whose_path_draws_a_readable_symbol() -> None:
    svg = await qrcode.qrcode("svg check", format="svg", scale=6, border=2, dark="#1e3a8a")
    assert svg.content_type == "image/svg+xml" and svg.startswith(b"<?xml")
    grid, root = _svg_matrix(svg)
    assert root.tag == f"{SVG}svg"
    symbol = [row[2:-2] for row in grid[2:-2]]
    assert decode_matrix(symbol)[0] == b"svg check"
    assert int(root.get("width", "0")) == (len(symbol) + 4) * 6
    assert "#1e3a8a" in svg.decode()


async def test_data_url_output_and_the_notebook_display() -> None:
    url = await qrcode.qrcode("inline", output="data_url")
    assert isinstance(url, str) and url.startswith("data:image/png;base64,")
    png = base64.b64decode(url.split(",", 1)[1])
    assert decode(png)[0] == b"inline"
    bundle = (await qrcode.qrcode("inline"))._repr_mimebundle_()
    assert base64.b64decode(bundle["image/png"]) == png
    svg_bundle = (await qrcode.qrcode("inline", format="svg"))._repr_mimebundle_()
    assert svg_bundle["image/svg+xml"].startswith("<?xml")
    assert (await qrcode.qrcode("x", format="svg", output="data_url")).startswith(
        "data:image/svg+xml;base64,"
    )


async def test_colours_and_a_transparent_background() -> None:
    png = await qrcode.qrcode("colour", dark="rgb(200, 0, 0)", light="transparent", border=1)
    with Image.open(io.BytesIO(png)) as image:
        rgba = image.convert("RGBA")
        assert rgba.getpixel((0, 0))[3] == 0  # the border is transparent
        assert rgba.getpixel((4, 4)) == (200, 0, 0, 255)  # the finder's corner, dark red
    assert decode(png)[0] == b"colour"
    svg = (await qrcode.qrcode("c", format="svg", light=None)).decode()
    assert 'fill="#fff"' not in svg


async def test_data_too_long_is_a_422_saying_so() -> None:
    with pytest.raises(ContentError) as info:
        await qrcode.qrcode("x" * 3000)
    assert info.value.code == "DATA_TOO_LONG" and info.value.status == 422
    assert "3000 characters do not fit" in str(info.value)
    with pytest.raises(ContentError, match="2954 bytes do not fit"):
        await qrcode.qrcode(b"\xff" * 2954, error="l")
    largest = await qrcode.qrcode(b"\xff" * 2953, error="l")  # exactly what version 40-L holds
    with Image.open(io.BytesIO(largest)) as image:
        assert image.size == ((177 + 8) * 4,) * 2


async def test_scale_over_the_limit_is_413_and_app_json_lowers_it(make_app: MakeApp) -> None:
    with pytest.raises(ContentTooLarge) as info:
        await qrcode.qrcode("x", scale=65)
    assert info.value.status == 413 and info.value.code == "SCALE_TOO_LARGE"
    assert "qrcode.max_scale" in str(info.value)
    app = make_app("tickets", config={"qrcode": {"max_scale": 8}})
    with app_context(app):
        assert decode(await qrcode.qrcode("ok", scale=8))[0] == b"ok"
        with pytest.raises(ContentTooLarge, match="limit of 8"):
            await qrcode.qrcode("x", scale=9)
        with pytest.raises(ContentTooLarge):
            await qrcode.barcode("code128", "x", scale=9)


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"format": "gif"}, "format must be one of png, svg"),
        ({"output": "file"}, "output must be one of bytes, data_url"),
        ({"error": "x"}, "error must be one of l, m, q, h"),
        ({"scale": 0}, "scale must be a whole number of at least 1"),
        ({"scale": 2.5}, "scale must be a whole number"),
        ({"scale": True}, "scale must be a whole number"),
        ({"border": -1}, "border must be a whole number of at least 0"),
        ({"border": 10**9}, "border must be at most 100"),
        ({"dark": "nope"}, "dark: 'nope' is not a colour"),
        ({"dark": 'red"/><script>alert(1)</script>'}, "is not a colour"),
        ({"light": "url(#x)"}, "is not a colour"),
        ({"dark": None}, "is not a colour"),
    ],
)
async def test_bad_arguments_are_invalid_argument(kwargs: dict[str, object], says: str) -> None:
    with pytest.raises(ContentError) as info:
        await qrcode.qrcode("x", **kwargs)  # type: ignore[arg-type]
    assert info.value.code == "INVALID_ARGUMENT" and info.value.status == 422
    assert says in str(info.value)


async def test_empty_or_wrong_type_text_is_refused() -> None:
    with pytest.raises(ContentError, match="the text is empty"):
        await qrcode.qrcode("")
    with pytest.raises(ContentError, match="must be str or bytes, not int"):
        await qrcode.qrcode(42)  # type: ignore[arg-type]


async def test_a_missing_segno_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "segno", None)
    with pytest.raises(MissingExtra, match=r"pip install 'gingee\[qrcode\]'"):
        await qrcode.qrcode("x")
