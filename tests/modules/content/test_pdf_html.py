"""pdf.from_html: fpdf2's basic HTML, read back from the PDF; images only from the box or data URLs."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator

import pytest

from gingee_kernel import pdf
from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.context import app_context
from gingee_kernel.modules.content.errors import ContentError, ContentTooLarge
from tests.fixtures.apps import MakeApp
from tests.modules.content.test_pdf import TTF, png
from tests.modules.content.test_pdf_reading import read_pdf

PAGE = """
<h1>Report</h1>
<p>Some <b>bold</b>, <i>italic</i> and <u>underlined</u> text, with <a href="https://x.test/">a link</a>.</p>
<ul><li>first</li><li>second</li></ul>
<ol><li>one</li><li>two</li></ol>
<table border="1"><tr><th>Name</th><th>Qty</th></tr><tr><td>Tea</td><td>3</td></tr></table>
<p><font color="#ff0000" size="9">small red</font></p>
<pre>code  block</pre>
"""


@pytest.fixture
def app(make_app: MakeApp) -> Iterator[AppRuntime]:
    made = make_app("site", grants={"pdf"})
    (made.box / "img").mkdir()
    (made.box / "img" / "logo.png").write_bytes(png(80, 20))
    (made.box / "fonts").mkdir()
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        shutil.copy(TTF / name, made.box / "fonts" / name)
    with app_context(made):
        yield made


async def test_basic_html(app: AppRuntime) -> None:
    out = await pdf.from_html(PAGE, info={"title": "Report"}, footer="{page} / {pages}")
    assert out.content_type == "application/pdf"
    doc = read_pdf(out)
    assert doc.text == (
        "Report Some bold, italic and underlined text, with a link. • first • second 1. one 2. two "
        "Name Qty Tea 3 small red code block 1 / 1"
    )
    assert doc.info["Title"] == "Report"
    assert b"/URI (https://x.test/)" in out


async def test_page_options(app: AppRuntime) -> None:
    out = read_pdf(await pdf.from_html("<p>x</p>", page_size="A5", orientation="landscape", margins=[20, 30]))
    assert (out.pages[0].width, out.pages[0].height) == (595.28, 419.53)
    with pytest.raises(ContentError) as caught:
        await pdf.from_html("<p>x</p>", page_size="B7")
    assert str(caught.value).startswith("pdf: /page_size: expected A3")
    with pytest.raises(ContentError) as caught:
        await pdf.from_html("<p>x</p>", font_size=0)
    assert str(caught.value).startswith("pdf: /font_size: expected a positive number")


async def test_images_from_the_box_and_data_urls(app: AppRuntime) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(png(10, 30)).decode()
    doc = read_pdf(
        await pdf.from_html(f'<p>logo</p><img src="img/logo.png"><img src="{data_url}" width="20">')
    )
    assert sorted(doc.images()) == [(10, 30), (80, 20)]


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("https://example.com/a.png", "remote images are not fetched"),
        ("http://127.0.0.1:9/a.png", "remote images are not fetched"),
        ("file:///etc/passwd", "remote images are not fetched"),
        ("../../secret.png", "is refused"),
        ("img/missing.png", "box:/img/missing.png is not a file"),
    ],
)
async def test_other_image_sources_are_refused(app: AppRuntime, src: str, expected: str) -> None:
    for html in (f'<p>x</p><img src="{src}">', f'<table><tr><td><img src="{src}"></td></tr></table>'):
        with pytest.raises(ContentError) as caught:
            await pdf.from_html(html)
        assert caught.value.code == "INVALID_DOCUMENT" and expected in str(caught.value)
        assert str(caught.value).startswith("pdf: <img src=")


async def test_html_images_are_size_checked(make_app: MakeApp) -> None:
    app = make_app("small", grants={"pdf"}, config={"image": {"max_pixels": 100}})
    (app.box / "big.png").write_bytes(png(20, 20))
    with app_context(app), pytest.raises(ContentTooLarge) as caught:
        await pdf.from_html('<img src="big.png">')
    assert caught.value.code == "IMAGE_TOO_LARGE"


async def test_a_ttf_font_for_text_beyond_the_core_fonts(app: AppRuntime) -> None:
    with pytest.raises(ContentError) as caught:
        await pdf.from_html("<p>Zażółć</p>")
    assert caught.value.code == "UNSUPPORTED_TEXT" and "font= naming a TTF font" in str(caught.value)
    fonts = {"DejaVu": {"normal": "fonts/DejaVuSans.ttf", "bold": "fonts/DejaVuSans-Bold.ttf"}}
    doc = read_pdf(
        await pdf.from_html("<p>Zażółć <b>gęślą</b></p><ul><li>jaźń</li></ul>", fonts=fonts, font="DejaVu")
    )
    assert doc.text == "Zażółć gęślą • jaźń" and doc.embedded_font_files() == 2
    with pytest.raises(ContentError) as caught:  # bold text, but no bold file
        await pdf.from_html("<b>x</b>", fonts={"DejaVu": {"normal": "fonts/DejaVuSans.ttf"}}, font="DejaVu")
    assert caught.value.code == "INVALID_HTML" and "needs that file in `fonts`" in str(caught.value)


@pytest.mark.parametrize("html", ["<tr><td>cell outside a table</td></tr>", "<p><a>no href</a></p>"])
async def test_markup_fpdf2_cannot_lay_out_is_invalid_html(app: AppRuntime, html: str) -> None:
    with pytest.raises(ContentError) as caught:
        await pdf.from_html(html)
    assert caught.value.code == "INVALID_HTML" and caught.value.status == 422


async def test_the_html_must_be_text(app: AppRuntime) -> None:
    with pytest.raises(ContentError) as caught:
        await pdf.from_html(b"<p>x</p>")  # type: ignore[arg-type]
    assert caught.value.code == "INVALID_HTML"


async def test_max_pages_applies_to_html(make_app: MakeApp) -> None:
    app = make_app("short", grants={"pdf"}, config={"pdf": {"max_pages": 2}})
    with app_context(app), pytest.raises(ContentTooLarge) as caught:
        await pdf.from_html("<p>" + "Lorem ipsum dolor sit amet. " * 3000 + "</p>")
    assert caught.value.code == "PDF_TOO_LARGE"
