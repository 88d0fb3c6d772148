"""Gingee `pdf` module: PDF documents from a pdfmake-style definition or from simple HTML, on fpdf2,
gated by the "pdf" permission (`pip install 'gingee[pdf]'`).

    from gingee_kernel import pdf

    async def handle(g):
        return await pdf.create({
            "info": {"title": "Invoice 42"},
            "footer": "Page {page} of {pages}",
            "styles": {"total": {"bold": True, "alignment": "right"}},
            "content": [
                {"heading": "Invoice 42"},
                "Thank you for your order.",
                {"table": {"headerRows": 1, "widths": ["*", 80],
                           "body": [["Item", "Price"], ["Tea", "4.00"]]}},
                {"text": "Total: 4.00", "style": "total"},
            ],
        })                                  # a Picture: PDF bytes with content_type application/pdf

The definition is checked whole before anything is drawn; a bad one raises ContentError
INVALID_DOCUMENT naming the JSON pointer of the bad value ("/content/3/table/body/1: expected a list of
cells"), which a script that does not catch it answers as a 422 JSON error. Fonts and images come from
the app's box/ (confined like the fs module's BOX scope; the pdf grant is enough), data URLs or bytes:
never from a URL. The core fonts (Helvetica, Times, Courier) show Windows-1252 text only; other text
needs a TTF font declared in `fonts`. Limits (app.json "pdf": max_pages, max_output_size,
max_image_size; image pixels: "image": max_pixels) are enforced while the document is laid out, in the
content thread pool and within the request's time budget. docs/modules.md lists every key.
"""

from __future__ import annotations

from typing import Any

from ...engine.context import require
from ..content.errors import ContentError
from ..content.extras import need
from ..content.offload import Budget, run_cpu
from ..content.picture import Picture
from ..content.settings import limits
from ._styles import number

__all__ = ["create", "from_html"]

MEDIA_TYPE = "application/pdf"


async def create(doc: dict[str, Any]) -> Picture:
    """The PDF for pdfmake-style document definition `doc` (keys: content, pageSize, pageOrientation,
    pageMargins, styles, defaultStyle, info, fonts, images, header, footer).

    Raises ContentError INVALID_DOCUMENT (with the JSON pointer of the bad value), UNSUPPORTED_TEXT (text
    a core font cannot show), INVALID_IMAGE; ContentTooLarge PDF_TOO_LARGE (max_pages, max_output_size)
    or IMAGE_TOO_LARGE; PermissionDenied without the "pdf" grant; MissingExtra without fpdf2."""
    app = require("pdf")
    return Picture(
        await run_cpu("pdf", _create, app, doc, limits("pdf", app), limits("image", app)), MEDIA_TYPE
    )


async def from_html(
    html: str,
    *,
    page_size: str | list[float] = "A4",
    orientation: str = "portrait",
    margins: float | list[float] = 40,
    font: str = "Helvetica",
    font_size: float = 11,
    fonts: dict[str, dict[str, str]] | None = None,
    info: dict[str, str] | None = None,
    header: str | None = None,
    footer: str | None = None,
) -> Picture:
    """The PDF for `html`, laid out by fpdf2's write_html: basic HTML only (headings, paragraphs, b/i/u,
    links, font color/size/face, lists, simple tables, img, hr, pre; no CSS layout). `<img src>` must
    be a box path or a data URL. `fonts` and `font` as in create(); `header` / `footer` may show
    {page} and {pages}.

    Raises ContentError INVALID_HTML (markup fpdf2 cannot lay out), INVALID_DOCUMENT (a bad option,
    named by its keyword), UNSUPPORTED_TEXT, INVALID_IMAGE; ContentTooLarge as create()."""
    app = require("pdf")
    if not isinstance(html, str):
        raise ContentError("pdf", "INVALID_HTML", f"the HTML must be a str, not {type(html).__name__}")
    number(font_size, "/font_size", positive=True)
    options: dict[str, Any] = {
        "pageSize": page_size,
        "pageOrientation": orientation,
        "pageMargins": margins,
        "defaultStyle": {"font": font, "fontSize": font_size},
        "fonts": fonts,
        "info": info,
        "header": header,
        "footer": footer,
    }
    data = await run_cpu("pdf", _from_html, app, html, options, limits("pdf", app), limits("image", app))
    return Picture(data, MEDIA_TYPE)


#: from_html's errors name its keyword arguments, not the document keys they stand for.
_LABELS = {
    "pageSize": "/page_size",
    "pageOrientation": "/orientation",
    "pageMargins": "/margins",
    "defaultStyle": "",
}


def _create(budget: Budget, app: Any, doc: Any, own: dict[str, int], image: dict[str, int]) -> bytes:
    parser = _parser(app, own, image)
    from . import _render

    return _render.render(parser.document(doc), budget, own, app, image["max_pixels"])


def _from_html(
    budget: Budget, app: Any, html: str, options: dict[str, Any], own: dict[str, int], image: dict[str, int]
) -> bytes:
    parser = _parser(app, own, image)
    parser.labels = _LABELS
    doc = parser.document({k: v for k, v in options.items() if v is not None}, all_fonts=True)
    from . import _render

    if doc.alias and doc.alias in html:
        doc.alias = next((a for a in ("{#}", "{~}", "{^}", "{@}") if a not in html), doc.alias)
    return _render.render_html(doc, html, budget, own, app, image["max_pixels"])


def _parser(app: Any, own: dict[str, int], image: dict[str, int]) -> Any:
    need("fpdf", module="pdf", package="fpdf2", extra="pdf")
    from fpdf.html import COLOR_DICT

    from ._document import Parser

    return Parser(app, own, image["max_pixels"], COLOR_DICT)
