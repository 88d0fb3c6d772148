"""pdf.create: what a pdfmake-style definition gives, read back from the PDF bytes by test_pdf_reading.py
(xref, zlib-inflated content streams, ToUnicode CMaps; cross-checked with poppler's pdftotext where it
is installed)."""

from __future__ import annotations

import base64
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from gingee_kernel import pdf
from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.context import app_context
from gingee_kernel.errors import NoAppContext
from tests.fixtures.apps import MakeApp
from tests.modules.content.test_pdf_reading import DEJAVU, pdftotext, read_pdf

TTF = DEJAVU.parent


def png(width: int, height: int, color: str = "navy") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def app(make_app: MakeApp) -> Iterator[AppRuntime]:
    """An app granted pdf, with DejaVu fonts and a logo in its box."""
    made = make_app("shop", grants={"pdf"})
    (made.box / "fonts").mkdir()
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf"):
        shutil.copy(TTF / name, made.box / "fonts" / name)
    (made.box / "img").mkdir()
    (made.box / "img" / "logo.png").write_bytes(png(120, 40))
    with app_context(made):
        yield made


def invoice(pages: int) -> dict[str, Any]:
    """An invoice of `pages` pages: a heading, two paragraphs and a table on each."""
    content: list[Any] = []
    for n in range(1, pages + 1):
        rows = [["Item", "Qty", "Price"]] + [[f"Item {n}-{r}", str(r), f"{r * 1.5:.2f}"] for r in range(1, 9)]
        content += [
            {"heading": f"Invoice 42 \u2014 part {n}", "pageBreak": "before" if n > 1 else None},
            f"Paragraph one of part {n}: thank you for your order.",
            {"text": ["Terms: ", {"text": "30 days", "bold": True}, "."], "style": "small"},
            {
                "table": {"headerRows": 1, "widths": ["*", 50, 80], "body": rows},
                "layout": "lightHorizontalLines",
            },
        ]
    return {
        "info": {"title": "Invoice 42", "author": "ACME"},
        "footer": "Page {page} of {pages}",
        "styles": {"small": {"fontSize": 9, "color": "#555555", "margin": [0, 4, 0, 8]}},
        "content": content,
    }


async def test_a_ten_page_invoice(app: AppRuntime, tmp_path: Path) -> None:
    out = await pdf.create(invoice(10))
    assert out.content_type == "application/pdf" and out.startswith(b"%PDF-")
    doc = read_pdf(out)
    assert len(doc.pages) == 10
    assert doc.info["Title"] == "Invoice 42" and doc.info["Author"] == "ACME"
    for n, page in enumerate(doc.pages, start=1):
        assert page.words.startswith(f"Invoice 42 \u2014 part {n} Paragraph one of part {n}")
        assert f"Item {n}-8 8 12.00" in page.words
        assert page.words.endswith(f"Page {n} of 10")
    poppler = pdftotext(out, tmp_path)
    if poppler is not None:  # an independent reader agrees
        assert poppler.count("\f") == 10 and "Page 7 of 10" in poppler and "Item 7-3" in poppler


async def test_text_runs_styles_and_headings(app: AppRuntime) -> None:
    out = await pdf.create(
        {
            "defaultStyle": {"font": "Times", "fontSize": 11},
            "styles": {"lead": {"italics": True}, "h2": {"color": "green"}},
            "content": [
                {"heading": "Title"},
                {"heading": "Section", "level": 2},
                {
                    "text": [
                        "plain ",
                        {"text": "bold", "bold": True},
                        " ",
                        {"text": "linked", "link": "https://x.test/"},
                    ]
                },
                {"text": "Lead paragraph", "style": "lead", "alignment": "center"},
                42,
            ],
        }
    )
    doc = read_pdf(out)
    assert doc.text == "Title Section plain bold linked Lead paragraph 42"
    assert {b"/Times-Roman", b"/Times-Bold", b"/Times-Italic"} <= set(doc.fonts())
    assert b"/URI (https://x.test/)" in out  # the run is a link
    outline = [o for o in doc.objects.values() if o.get("Title") is not None]
    assert {o.get("Title") for o in outline} >= {b"(Title)", b"(Section)"}  # headings are bookmarks


async def test_lists(app: AppRuntime) -> None:
    out = await pdf.create(
        {
            "content": [
                {"ul": ["tea", {"text": "coffee", "bold": True}, {"ol": ["milk", "sugar"], "start": 3}]},
                {"ol": ["first", "second"]},
            ]
        }
    )
    assert read_pdf(out).text == "• tea • coffee 3. milk 4. sugar 1. first 2. second"


async def test_table_cells_spans_and_repeated_header_rows(app: AppRuntime) -> None:
    body: list[list[Any]] = [[{"text": "Name", "bold": True}, "Qty", "Note"]]
    body.append([{"text": "Wide cell", "colSpan": 2}, "PLACEHOLDER", "n1"])
    body.append([{"text": "Tall", "rowSpan": 2}, "2", "n2"])
    body.append(["PLACEHOLDER", "3", "n3"])
    body += [[f"row {i}", str(i), "x"] for i in range(60)]
    doc = read_pdf(await pdf.create({"content": [{"table": {"headerRows": 1, "body": body}}]}))
    assert len(doc.pages) >= 2
    first = doc.pages[0].words
    assert first.startswith("Name Qty Note Wide cell n1 Tall 2 n2 3 n3 row 0 0 x")
    assert "PLACEHOLDER" not in doc.text  # pdfmake's placeholders under a span are not drawn
    assert doc.pages[1].words.startswith("Name Qty Note row")  # the header row repeats
    assert "row 59 59 x" in doc.text


async def test_images_from_the_box_a_data_url_and_bytes(app: AppRuntime) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(png(30, 10, "red")).decode()
    out = await pdf.create(
        {
            "images": {"stamp": data_url},
            "content": [
                {"image": "img/logo.png"},
                {"image": "stamp", "width": 90},
                {"image": png(64, 64, "green"), "fit": [32, 16], "alignment": "right"},
                {"image": "/img/logo.png", "width": 60, "height": 60},
            ],
        }
    )
    doc = read_pdf(out)
    assert sorted(doc.images()) == [(30, 10), (64, 64), (120, 40)]  # the logo is embedded once
    assert doc.pages[0].draws == [(120, 40), (90, 30), (16, 16), (60, 60)]


async def test_a_large_image_is_shrunk_to_the_page(app: AppRuntime) -> None:
    out = await pdf.create({"pageMargins": 50, "content": [{"image": png(2000, 500)}]})
    [(width, height)] = read_pdf(out).pages[0].draws
    assert (width, height) == (495.28, 123.82)  # A4 is 595.28 wide, less two 50 pt margins


async def test_fonts_from_the_box_are_embedded(app: AppRuntime, tmp_path: Path) -> None:
    out = await pdf.create(
        {
            "fonts": {
                "DejaVu": {
                    "normal": "fonts/DejaVuSans.ttf",
                    "bold": "fonts/DejaVuSans-Bold.ttf",
                    "italics": "fonts/DejaVuSans-Oblique.ttf",
                }
            },
            "defaultStyle": {"font": "DejaVu"},
            "header": "Zażółć {page}/{pages}",
            "content": [
                "Zażółć gęślą jaźń",
                {"text": "Пример", "bold": True},
                {"text": "core", "font": "Courier"},
            ],
        }
    )
    doc = read_pdf(out)
    assert doc.text == "Zażółć 1/1 Zażółć gęślą jaźń Пример core"
    assert doc.embedded_font_files() == 2  # normal and bold; italics is declared but unused
    assert b"/Courier" in doc.fonts()
    poppler = pdftotext(out, tmp_path)
    if poppler is not None:
        assert "Zażółć gęślą jaźń" in poppler and "Пример" in poppler


async def test_page_size_orientation_and_margins(app: AppRuntime) -> None:
    letter = read_pdf(
        await pdf.create({"pageSize": "LETTER", "pageOrientation": "landscape", "content": ["x"]})
    )
    assert (letter.pages[0].width, letter.pages[0].height) == (792, 612)
    custom = read_pdf(await pdf.create({"pageSize": [300, 400], "pageMargins": [10, 20], "content": ["x"]}))
    assert (custom.pages[0].width, custom.pages[0].height) == (300, 400)
    a5 = read_pdf(await pdf.create({"pageSize": {"width": 419.53, "height": 595.28}, "content": []}))
    assert len(a5.pages) == 1 and a5.pages[0].words == ""


async def test_windows_1252_text_in_the_core_fonts(app: AppRuntime) -> None:
    text = "café — “quoted” €5 • naïve"
    assert read_pdf(await pdf.create({"content": [text]})).text == text


async def test_the_result_is_a_picture_with_a_data_url(app: AppRuntime) -> None:
    out = await pdf.create({"content": ["x"]})
    assert out.data_url().startswith("data:application/pdf;base64,JVBERi0")
    assert repr(out).startswith("<Picture application/pdf,")


async def test_the_module_imports_anywhere_and_needs_an_app_to_run() -> None:
    from gingee_kernel import pdf as again

    assert again is pdf and pdf.__all__ == ["create", "from_html"]
    with pytest.raises(NoAppContext):
        await pdf.create({"content": []})


async def test_page_count_aliases_never_touch_the_text(app: AppRuntime) -> None:
    counted = await pdf.create({"footer": "{page} of {pages}", "content": ["Use {nb} and {#} as they are"]})
    assert read_pdf(counted).text == "Use {nb} and {#} as they are 1 of 1"
    plain = await pdf.create({"content": ["{nb} {pages}"]})  # no footer: no substitution at all
    assert read_pdf(plain).text == "{nb} {pages}"
