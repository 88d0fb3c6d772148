"""pdf.create refusing what it cannot use: malformed definitions (each error names the JSON pointer of the
bad value), fonts and images that leave the box or come from a URL, text the core fonts cannot show, the
pdf and image limits, the grant, the missing extra and the time budget."""

from __future__ import annotations

import base64
import gc
import os
import struct
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gingee_kernel import pdf
from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.context import app_context
from gingee_kernel.errors import PermissionDenied
from gingee_kernel.modules.content.errors import ContentError, ContentTooLarge, MissingExtra
from gingee_kernel.modules.content.offload import Budget, ContentTimeout
from tests.fixtures.apps import MakeApp
from tests.modules.content.test_pdf import TTF, png


@pytest.fixture
def app(make_app: MakeApp, tmp_path: Any) -> Iterator[AppRuntime]:
    made = make_app("shop", grants={"pdf"})
    (made.box / "fonts").mkdir()
    (made.box / "fonts" / "DejaVuSans.ttf").write_bytes((TTF / "DejaVuSans.ttf").read_bytes())
    (made.box / "notes.txt").write_text("not a font")
    (tmp_path / "outside.ttf").write_bytes((TTF / "DejaVuSans.ttf").read_bytes())
    (tmp_path / "outside.png").write_bytes(png(4, 4))
    try:
        (made.box / "fonts" / "escape.ttf").symlink_to(tmp_path / "outside.ttf")
        (made.box / "escape.png").symlink_to(tmp_path / "outside.png")
    except OSError:
        pass
    with app_context(made):
        yield made


async def refused(doc: Any, code: str = "INVALID_DOCUMENT") -> str:
    with pytest.raises(ContentError) as caught:
        await pdf.create(doc)
    assert caught.value.code == code, caught.value.reason
    return str(caught.value)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ("content", "/: expected a document object"),
        ({"content": "hello"}, "/content: expected a list of content items"),
        ({"watermark": "DRAFT"}, "/watermark: unsupported document key"),
        ({"content": ["a", {"columns": [["x"], ["y"]]}]}, "/content/1: unknown content kind"),
        ({"content": [{"text": "a", "table": {}}]}, "/content/0: a content item has one kind"),
        (
            {"content": ["a", "b", "c", {"table": {"body": [["x"], "y"]}}]},
            "/content/3/table/body/1: expected a list of cells",
        ),
        (
            {"content": [{"table": {"body": [["a", "b"], ["c"]]}}]},
            "/content/0/table/body/1: this row has 1 cells, the first has 2",
        ),
        (
            {"content": [{"table": {"body": [["a"]], "widths": [1, 2]}}]},
            "/content/0/table/widths: expected 1",
        ),
        (
            {"content": [{"table": {"body": [["a", "b"]], "widths": [400, 400]}}]},
            "/content/0/table/widths: the widths need 800 pt",
        ),
        (
            {"content": [{"table": {"body": [[{"text": "a", "colSpan": 3}, "b"]]}}]},
            "/content/0/table/body/0/0: this cell spans past",
        ),
        (
            {"content": [{"table": {"body": [[{"text": ["run"]}]]}}]},
            "/content/0/table/body/0/0/text: table cells take plain text",
        ),
        ({"content": [{"table": {"body": [["a"]], "headerRows": 2}}]}, "/content/0/table/headerRows"),
        (
            {"content": [{"table": {"body": [["a"]]}, "layout": "zebra"}]},
            "/content/0/layout: expected one of",
        ),
        ({"content": [{"text": None}]}, "/content/0/text: expected text"),
        ({"content": [{"text": "a", "fontSize": "big"}]}, "/content/0/fontSize: expected a number"),
        ({"content": [{"text": "a", "fontSize": -3}]}, "/content/0/fontSize: expected a positive number"),
        ({"content": [{"text": "a", "bold": "yes"}]}, "/content/0/bold: expected true or false"),
        ({"content": [{"text": "a", "color": "#12"}]}, "/content/0/color: expected a color"),
        ({"content": [{"text": "a", "alignment": "middle"}]}, "/content/0/alignment: expected one of left"),
        ({"content": [{"text": "a", "margin": [1, 2, 3]}]}, "/content/0/margin: expected 1, 2 or 4 numbers"),
        ({"content": [{"text": "a", "style": "nope"}]}, "/content/0/style: no style named 'nope'"),
        (
            {"content": [{"text": "a", "style": ["x", 3]}], "styles": {"x": {}}},
            "/content/0/style/1: expected a style",
        ),
        ({"styles": {"a/b": {"colour": "red"}}}, "/styles/a~1b/colour: unsupported style key"),
        ({"content": [{"text": [{"txt": "a"}]}]}, "/content/0/text/0/txt: unsupported key in a text run"),
        ({"content": [{"text": "a", "font": "Roboto"}]}, "/content/0/font: unknown font 'Roboto'"),
        ({"content": [{"text": "a", "pageBreak": "middle"}]}, "/content/0/pageBreak: expected one of before"),
        ({"content": [{"heading": "x", "level": 4}]}, "/content/0/level: expected 1, 2 or 3"),
        ({"content": [{"ul": "x"}]}, "/content/0/ul: expected a list of items"),
        ({"content": [{"ul": [{"bold": True}]}]}, "/content/0/ul/0: a list item needs `text`"),
        ({"content": [{"ul": ["a"], "start": 2}]}, "/content/0/start"),
        (
            {"content": [{"ul": [{"ul": ["a"], "start": 2}]}]},
            "/content/0/ul/0/start: `start` is a whole number",
        ),
        ({"content": [{"image": "x.png", "opacity": 0.5}]}, "/content/0/opacity: unsupported key in a image"),
        (
            {"content": [{"stack": [{"stack": [{"text": "a", "link": 5}]}]}]},
            "/content/0/stack/0/stack/0/link",
        ),
        ({"pageSize": "A9"}, "/pageSize: expected A3, A4"),
        ({"pageSize": [100, 0]}, "/pageSize/1: expected a positive number"),
        ({"pageOrientation": "sideways"}, "/pageOrientation: expected portrait or landscape"),
        ({"pageMargins": [300, 10]}, "/pageMargins: the margins leave less than half an inch"),
        ({"info": {"title": 3}}, "/info/title: expected a string"),
        ({"info": {"producer": "me"}}, "/info/producer: unsupported info key"),
        ({"footer": ["Page"]}, "/footer: expected a string"),
        ({"header": {"text": "x", "margin": 3}}, "/header/margin: unsupported key in a header"),
        ({"fonts": {"X": "fonts/DejaVuSans.ttf"}}, '/fonts/X: expected {"normal"'),
        ({"fonts": {"X": {"regular": "fonts/DejaVuSans.ttf"}}}, "/fonts/X/regular: expected one of normal"),
        ({"fonts": {"X": {"normal": "notes.txt"}}}, "/fonts/X/normal: 'notes.txt' is not a TrueType"),
        (
            {"fonts": {"X": {"normal": "fonts/missing.ttf"}}},
            "/fonts/X/normal: box:/fonts/missing.ttf is not a file",
        ),
    ],
)
async def test_malformed_documents_name_the_bad_value(app: AppRuntime, doc: Any, expected: str) -> None:
    assert (await refused(doc)).startswith(f"pdf: {expected}")


async def test_an_invalid_document_is_a_422_http_error(app: AppRuntime) -> None:
    with pytest.raises(ContentError) as caught:
        await pdf.create({"content": [{"columns": []}]})
    assert caught.value.status == 422 and caught.value.body()["error"] == "INVALID_DOCUMENT"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("../secret.ttf", "'../secret.ttf' is refused: paths are relative to the app's box/"),
        ("fonts/../../secret.ttf", "is refused"),
        ("fonts/escape.ttf", "box:/fonts/escape.ttf leaves the app's box/ (through a symlink)"),
        ("/etc/fonts/fonts.conf", "box:/etc/fonts/fonts.conf is not a file in the app's box/"),
        ("fonts\x00.ttf", "is refused"),
    ],
)
async def test_a_font_path_out_of_the_box_is_refused(app: AppRuntime, path: str, expected: str) -> None:
    if "escape" in path and not (app.box / "fonts" / "escape.ttf").is_symlink():
        pytest.skip("symlinks are not available here")
    message = await refused({"fonts": {"Evil": {"normal": path}}, "content": ["x"]})
    assert message.startswith("pdf: /fonts/Evil/normal: ") and expected in message
    assert str(app.root) not in message  # no server path in the error


async def test_a_font_style_without_its_file_is_refused(app: AppRuntime) -> None:
    doc = {"fonts": {"DejaVu": {"normal": "fonts/DejaVuSans.ttf"}}, "defaultStyle": {"font": "DejaVu"},
           "content": ["fine", {"text": ["x", {"text": "bold", "bold": True}]}]}  # fmt: skip
    assert "/content/1/text/1/text: font 'DejaVu' has no 'bold' file in `fonts`" in await refused(doc)


async def test_text_outside_the_core_fonts_asks_for_a_ttf_font(app: AppRuntime) -> None:
    message = await refused({"content": ["ok", {"text": ["fine ", "Zażółć"]}]}, "UNSUPPORTED_TEXT")
    assert message.startswith(
        "pdf: /content/1/text/1: 'ż' (U+017C) cannot be shown in the core font Helvetica"
    )
    assert "declare a TTF font in `fonts`" in message
    table = {"content": [{"table": {"body": [["a", "日本"]]}}]}
    assert "/content/0/table/body/0/1: '日'" in await refused(table, "UNSUPPORTED_TEXT")
    assert "/footer: '✓'" in await refused({"footer": "✓ {page}"}, "UNSUPPORTED_TEXT")


@pytest.mark.parametrize(
    ("source", "code", "expected"),
    [
        ("https://example.com/logo.png", "INVALID_DOCUMENT", "remote images are not fetched"),
        ("//example.com/logo.png", "INVALID_DOCUMENT", "remote images are not fetched"),
        ("../outside.png", "INVALID_DOCUMENT", "is refused"),
        ("escape.png", "INVALID_DOCUMENT", "leaves the app's box/"),
        ("data:image/png,rawbytes", "INVALID_DOCUMENT", "only base64 data URLs"),
        ("data:image/png;base64,%%%not base64", "INVALID_DOCUMENT", "not valid base64"),
        ("notes.txt", "INVALID_IMAGE", "not an image fpdf2 can embed"),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'><image href='file:///etc/passwd'/></svg>",
            "INVALID_IMAGE",
            "not an image",
        ),
        (12, "INVALID_DOCUMENT", "expected an image"),
    ],
)
async def test_bad_image_sources_are_refused(app: AppRuntime, source: Any, code: str, expected: str) -> None:
    if source == "escape.png" and not (app.box / "escape.png").is_symlink():
        pytest.skip("symlinks are not available here")
    message = await refused({"content": ["x", {"image": source}]}, code)
    assert message.startswith("pdf: /content/1/image: ") and expected in message


async def test_a_truncated_image_is_an_invalid_image(app: AppRuntime) -> None:
    broken = png(50, 50)[:60]  # a whole header, then the data cut short
    message = await refused({"content": [{"image": broken}]}, "INVALID_IMAGE")
    assert message.startswith("pdf: /content/0")


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` pixels but holds almost nothing (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


async def test_image_pixels_are_checked_before_decoding(make_app: MakeApp) -> None:
    small = make_app("small", grants={"pdf"}, config={"image": {"max_pixels": 1000}})
    with app_context(small), pytest.raises(ContentTooLarge) as caught:
        await pdf.create({"content": [{"image": png(40, 30)}]})
    assert caught.value.code == "IMAGE_TOO_LARGE" and caught.value.status == 413
    assert "40x30 pixels, over the limit of 1000 (image.max_pixels)" in str(caught.value)
    default = make_app("default", grants={"pdf"})
    # under, between and over Pillow's own limits (89M pixels warns, 179M raises): all refused alike
    for bomb in (png_header(8_000, 8_000), png_header(10_000, 10_000), png_header(20_000, 20_000)):
        with app_context(default), pytest.raises(ContentTooLarge) as caught:
            await pdf.create({"content": [{"image": bomb}]})
        assert caught.value.code == "IMAGE_TOO_LARGE"


async def test_image_bytes_are_limited(make_app: MakeApp) -> None:
    app = make_app("tiny", grants={"pdf"}, config={"pdf": {"max_image_size": "1kb"}})
    (app.box / "big.png").write_bytes(png(300, 300, "white") + b"\0" * 2000)
    big_url = "data:image/png;base64," + base64.b64encode(b"\0" * 5000).decode()
    with app_context(app):
        for source in ("big.png", big_url, b"\0" * 1001):
            with pytest.raises(ContentTooLarge) as caught:
                await pdf.create({"content": [{"image": source}]})
            assert (
                caught.value.code == "IMAGE_TOO_LARGE"
                and "over the limit of 1000 (pdf.max_image_size)" in str(caught.value)
            )


async def test_max_pages_stops_the_layout(make_app: MakeApp) -> None:
    app = make_app("short", grants={"pdf"}, config={"pdf": {"max_pages": 3}})
    with app_context(app):
        assert len(
            await pdf.create(
                {"content": ["a", {"pageBreak": "after"}, "b", {"text": "c", "pageBreak": "before"}]}
            )
        )
        breaks = [{"text": f"page {n}", "pageBreak": "before"} for n in range(10)]
        flowing = ["A long paragraph. " * 400] * 20  # no explicit break: pages are added as text flows
        for content in (breaks, flowing):
            with pytest.raises(ContentTooLarge) as caught:
                await pdf.create({"content": content})
            assert caught.value.code == "PDF_TOO_LARGE" and caught.value.status == 413
            assert "more than 3 pages (pdf.max_pages)" in str(caught.value)


async def test_max_output_size(make_app: MakeApp) -> None:
    app = make_app("lean", grants={"pdf"}, config={"pdf": {"max_output_size": 2000}})
    with app_context(app):
        with pytest.raises(ContentTooLarge) as caught:
            await pdf.create({"content": [" ".join(hex(i * 2654435761 % 2**32) for i in range(3000))]})
        assert caught.value.code == "PDF_TOO_LARGE" and "over the limit of 2000" in str(caught.value)
        with pytest.raises(ContentTooLarge):  # refused before layout: the images alone are too big
            await pdf.create(
                {"content": [{"image": png(200, 200, "white")}, {"image": png(300, 300, "red")}]}
            )


async def test_the_pdf_grant_is_required(make_app: MakeApp) -> None:
    app = make_app("nogrant", grants={"fs"})
    with app_context(app):
        with pytest.raises(PermissionDenied) as caught:
            await pdf.create({"content": ["x"]})
        assert caught.value.module == "pdf"
        with pytest.raises(PermissionDenied):
            await pdf.from_html("<p>x</p>")


async def test_without_fpdf2_the_error_says_what_to_install(
    app: AppRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fpdf", None)
    with pytest.raises(MissingExtra) as caught:
        await pdf.create({"content": ["x"]})
    assert "the pdf module needs fpdf2" in str(caught.value) and "pip install 'gingee[pdf]'" in str(
        caught.value
    )


async def test_the_time_budget_stops_the_layout_between_pages(app: AppRuntime) -> None:
    from fpdf.html import COLOR_DICT

    from gingee_kernel.modules.pdf import _render
    from gingee_kernel.modules.pdf._document import Parser

    doc = Parser(
        app, {"max_pages": 100, "max_output_size": 10**8, "max_image_size": 10**7}, 10**7, COLOR_DICT
    )
    built = doc.document({"content": ["x"] * 5})
    late = Budget("pdf", time.monotonic() - 1)
    with pytest.raises(ContentTimeout) as caught:
        _render.render(built, late, doc.limits, app, 10**7)  # type: ignore[arg-type]
    assert caught.value.status == 504


async def test_a_file_that_is_not_a_font_is_refused(app: AppRuntime) -> None:
    (app.box / "fonts" / "junk.ttf").write_bytes(b"\0\1\0\0" + b"junk" * 100)
    doc = {"fonts": {"Junk": {"normal": "fonts/junk.ttf"}}, "content": [{"text": "x", "font": "Junk"}]}
    message = await refused(doc)
    assert message == "pdf: /fonts/Junk/normal: the file is not a TrueType or OpenType font fpdf2 can read"


async def test_font_files_are_closed_when_the_layout_fails(make_app: MakeApp) -> None:
    app = make_app("closing", grants={"pdf"}, config={"pdf": {"max_pages": 1}})
    (app.box / "DejaVuSans.ttf").write_bytes((TTF / "DejaVuSans.ttf").read_bytes())
    doc = {"fonts": {"D": {"normal": "DejaVuSans.ttf"}}, "defaultStyle": {"font": "D"},
           "content": ["one", {"text": "two", "pageBreak": "before"}]}  # fmt: skip
    with app_context(app):
        for _ in range(3):
            with pytest.raises(ContentTooLarge):
                await pdf.create(doc)
            with pytest.raises(ContentError):
                await pdf.from_html("<p>x</p><tr>", fonts=doc["fonts"], font="D")
    gc.collect()  # a font file left open would warn here (an error under this suite's filterwarnings)
    fds = Path("/proc/self/fd")
    if fds.is_dir():
        open_files = [os.readlink(fd) for fd in fds.iterdir() if fd.is_symlink()]
        # Only this app's copy: matplotlib (the chart tests, in the same process) keeps its own open.
        assert not [f for f in open_files if f.startswith(str(app.box.resolve()))]
