"""qrcode.barcode: the PNG's and the SVG's bars are read back (one pixel row, or the SVG rects) into
modules, which equal python-barcode's pattern and, for EAN-13, decode with an independent reader to the
digits and their check digit; check digits are never silently replaced; hostile input is refused."""

from __future__ import annotations

import io
import sys
import xml.etree.ElementTree as ET

import barcode as python_barcode
import pytest
from PIL import Image

from gingee_kernel.modules import qrcode
from gingee_kernel.modules.content.errors import ContentError, ContentTooLarge, MissingExtra

SVG = "{http://www.w3.org/2000/svg}"
_L = ("0001101", "0011001", "0010011", "0111101", "0100011", "0110001", "0101111", "0111011", "0110111")
L_CODES = (*_L, "0001011")
R_CODES = tuple(code.translate(str.maketrans("01", "10")) for code in L_CODES)
G_CODES = tuple(code[::-1] for code in R_CODES)
PARITY = ("LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG", "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL")


def ean13_read(modules: str) -> str:
    """The 13 digits of an EAN-13 module pattern (95 modules), check digit verified."""
    assert len(modules) == 95, len(modules)
    assert modules[:3] == "101" and modules[45:50] == "01010" and modules[-3:] == "101"
    left = [modules[3 + 7 * i : 10 + 7 * i] for i in range(6)]
    right = [modules[50 + 7 * i : 57 + 7 * i] for i in range(6)]
    digits, parity = [], ""
    for code in left:
        if code in L_CODES:
            digits.append(L_CODES.index(code))
            parity += "L"
        else:
            digits.append(G_CODES.index(code))
            parity += "G"
    digits = [PARITY.index(parity), *digits, *(R_CODES.index(code) for code in right)]
    weighted = sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits[:12]))
    assert (10 - weighted % 10) % 10 == digits[12], "the check digit does not match"
    return "".join(map(str, digits))


def png_modules(png: bytes, scale: int, border: int) -> str:
    """The modules along a pixel row through the bars, each `scale` px, quiet zones dropped."""
    with Image.open(io.BytesIO(png)) as image:
        grey = image.convert("L")
    row = [grey.getpixel((x, 40)) < 128 for x in range(grey.width)]
    assert not any(row[: border * scale]) and not any(row[grey.width - border * scale :])
    runs: list[tuple[bool, int]] = []
    for dark in row:
        if runs and runs[-1][0] == dark:
            runs[-1] = (dark, runs[-1][1] + 1)
        else:
            runs.append((dark, 1))
    inner = runs[1:-1]  # the quiet zones
    assert all(length % scale == 0 for _, length in inner), "a bar is not a whole number of modules"
    return "".join(("1" if dark else "0") * (length // scale) for dark, length in inner)


def svg_modules(svg: bytes, module_mm: float) -> str:
    """The modules drawn by the SVG's bar rects (x and width in mm)."""
    root = ET.fromstring(svg)
    bars = [
        (float(rect.get("x", "0")[:-2]), float(rect.get("width", "0")[:-2]))
        for rect in root.iter(f"{SVG}rect")
        if rect.get("x")
    ]
    start = bars[0][0]
    end = bars[-1][0] + bars[-1][1]
    cells = ["0"] * round((end - start) / module_mm)
    for x, width in bars:
        first = round((x - start) / module_mm)
        for index in range(first, first + round(width / module_mm)):
            cells[index] = "1"
    return "".join(cells)


def expected(kind: str, text: str) -> str:
    return python_barcode.get_barcode_class(qrcode.BARCODE_KINDS[kind])(text).build()[0]


@pytest.mark.parametrize("text", ["5901234123457", "590123412345", "4006381333931", "0000000000000"])
async def test_an_ean13_png_reads_back_to_its_digits(text: str) -> None:
    png = await qrcode.barcode("ean13", text, format="png", scale=3, border=9)
    assert png.content_type == "image/png"
    modules = png_modules(png, 3, 9)
    assert modules == expected("ean13", text)
    digits = ean13_read(modules)
    assert digits[:12] == text[:12] and len(digits) == 13
    with Image.open(io.BytesIO(png)) as image:
        assert image.width == (95 + 2 * 9) * 3


async def test_an_ean13_svg_reads_back_to_its_digits() -> None:
    svg = await qrcode.barcode("ean13", "5901234123457", scale=2)
    assert svg.content_type == "image/svg+xml"
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    modules = svg_modules(svg, 0.2)
    assert ean13_read(modules) == "5901234123457"
    assert [t.text for t in root.iter(f"{SVG}text")] == ["5901234123457"]


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("code128", "ORDER-1234 / café"[:10]),
        ("code39", "HELLO-39"),
        ("ean8", "96385074"),
        ("upca", "036000291452"),
        ("isbn13", "978-3-16-148410-0"),
        ("isbn10", "0-13-235418-7"),
        ("issn", "0317-8471"),
        ("itf", "12345670"),
        ("pzn", "123457"),
        ("codabar", "A40156B"),
        ("gs1_128", "0101234567890128"),
        ("ean14", "10012345678902"),
        ("jan", "4901234567894"),
        ("upc", "03600029145"),
    ],
)
async def test_every_kind_draws_python_barcodes_pattern_in_png_and_svg(kind: str, text: str) -> None:
    png = await qrcode.barcode(kind, text, format="png", scale=2, border=10)
    assert png_modules(png, 2, 10) == expected(kind, text).replace("G", "1")
    svg = await qrcode.barcode(kind, text, scale=4, label=False)
    assert svg_modules(svg, 0.4) == expected(kind, text).replace("G", "1").strip("0")
    assert not list(ET.fromstring(svg).iter(f"{SVG}text"))  # label=False


async def test_png_size_colours_and_data_url() -> None:
    png = await qrcode.barcode("code128", "Gingee", format="png", scale=2, height=10, border=5,
                               dark="#0000ff", light="#ffff00", label=False)  # fmt: skip
    with Image.open(io.BytesIO(png)) as image:
        rgb = image.convert("RGB")
        modules = len(expected("code128", "Gingee"))
        assert rgb.size == ((modules + 10) * 2, (10 + 2) * 10)  # 10 px a mm, 1 mm margins
        assert rgb.getpixel((0, 0)) == (255, 255, 0) and rgb.getpixel((10, 40)) == (0, 0, 255)
    url = await qrcode.barcode("ean8", "9638507", output="data_url")
    assert isinstance(url, str) and url.startswith("data:image/svg+xml;base64,")
    transparent = await qrcode.barcode("ean8", "9638507", format="png", light=None)
    with Image.open(io.BytesIO(transparent)) as image:
        assert image.mode == "RGBA" and image.getpixel((0, 0))[3] == 0


@pytest.mark.parametrize(
    ("kind", "text", "says"),
    [
        ("ean13", "5901234123458", "wrong check digit for ean13: the last digit should be 7"),
        ("ean13", "59012341234a", "can only contain numbers"),
        ("ean13", "5901234123457999", "takes 12 digits, or 13 with the check digit"),
        ("ean13", "12", "EAN must have 12 digits"),
        ("ean13", "".join(chr(0xFF10 + int(d)) for d in "5901234123457"), "digits only"),  # fullwidth digits
        ("ean8", "96385075", "the last digit should be 4"),
        ("upca", "03600029145a", "digits only"),
        ("upca", "036000291453", "wrong check digit"),
        ("isbn10", "0-13-235418-X", "the last digit should be 7"),
        ("isbn13", "9773161484100", "ISBN must start with 978 or 979"),
        ("issn", "0317-8472", "the last digit should be 1"),
        ("itf", "12a4", "can only contain numbers"),
        ("itf", "1²", "cannot be a itf barcode"),  # a digit to str.isdigit, not to int()
        ("code128", "café ☕", "not valid for Code 128"),
        ("code39", "lower~case", "'~' is not valid"),
        ("code39", "ÉTÉ", "'É' is not valid"),
        ("codabar", "123", "Codabar should start with"),
    ],
)
async def test_content_the_symbology_cannot_encode_is_invalid_barcode(
    kind: str, text: str, says: str
) -> None:
    with pytest.raises(ContentError) as info:
        await qrcode.barcode(kind, text)
    assert info.value.code == "INVALID_BARCODE" and info.value.status == 422
    assert says in str(info.value)


async def test_the_check_digit_is_added_when_left_out() -> None:
    svg = await qrcode.barcode("ean13", "400638133393")
    assert ean13_read(svg_modules(svg, 0.2)) == "4006381333931"
    texts = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
    assert texts == ["4006381333931"]


async def test_an_unknown_kind_lists_the_kinds() -> None:
    with pytest.raises(ContentError) as info:
        await qrcode.barcode("qr", "x")
    assert info.value.code == "INVALID_ARGUMENT"
    assert "code128, code39" in str(info.value) and "ean13" in str(info.value)


@pytest.mark.parametrize(
    ("text", "kwargs", "says"),
    [
        ("", {}, "empty"),
        ("x" * 257, {}, "over the 256"),
        ("x", {"format": "jpg"}, "format must be one of"),
        ("x", {"height": 0}, "height must be a number of millimetres"),
        ("x", {"height": float("nan")}, "height must be"),
        ("x", {"label": "yes"}, "label must be True or False"),
        ("x", {"font_size": 10**6}, "font_size must be at most 200"),
        ("x", {"dark": "black; fill:url(javascript:x)"}, "is not a colour"),
    ],
)
async def test_bad_arguments(text: str, kwargs: dict[str, object], says: str) -> None:
    with pytest.raises(ContentError, match=says.replace("(", r"\(")):
        await qrcode.barcode("code128", text, **kwargs)  # type: ignore[arg-type]


async def test_a_huge_png_is_refused_before_it_is_drawn() -> None:
    with pytest.raises(ContentTooLarge) as info:
        await qrcode.barcode("code128", "x" * 256, format="png", scale=64, height=500)
    assert info.value.code == "OUTPUT_TOO_LARGE" and info.value.status == 413


async def test_control_characters_stay_out_of_the_svg_text() -> None:
    svg = await qrcode.barcode("code128", "a\x00b\x1fc")
    texts = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]  # parses: no NUL in the XML
    assert texts == ["a\ufffdb\ufffdc"]


async def test_a_png_barcode_without_pillow_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(MissingExtra, match=r"needs Pillow.*pip install 'gingee\[qrcode\]'"):
        await qrcode.barcode("code128", "x", format="png")
    assert (await qrcode.barcode("code128", "x")).content_type == "image/svg+xml"  # SVG needs no Pillow
