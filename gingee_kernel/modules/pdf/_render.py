"""Laying a checked document out with fpdf2 (imported here, so this module loads only once the pdf
extra is known to be installed). Runs in the content thread pool: the budget is checked between blocks
and at every new page, and the page limit is enforced as pages are added, not after."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from fpdf import FPDF, FontFace
from fpdf.enums import ResourceAccessPolicy
from fpdf.errors import FPDFException, FPDFUnicodeEncodingException

from ...engine.app import AppRuntime
from ...errors import HttpError
from ..content.errors import ContentError, ContentTooLarge
from ..content.offload import Budget
from . import _model as m
from ._sources import image_bytes, image_size
from ._styles import CORE_ENCODING, LINE, Font, invalid

#: Cell padding as pdfmake's default table layout has it: (top, right, bottom, left) in points.
PADDING = (2, 4, 2, 4)
#: The list bullet, in both the core fonts (Windows-1252 has it) and TTF fonts.
BULLET = "\u2022"


class Canvas(FPDF):
    """FPDF in points that counts its pages against max_pages, checks the budget at each new page,
    draws the header and footer bands, loads no file or URL by itself, and resolves string image
    sources (from write_html's <img src>) through the box/data-URL rules."""

    def __init__(
        self, doc: m.Document, budget: Budget, limits: dict[str, int], app: AppRuntime, max_pixels: int
    ):
        super().__init__(unit="pt", format=doc.size)
        self.doc = doc
        self.budget = budget
        self.max_pages = limits["max_pages"]
        self.max_image_size = limits["max_image_size"]
        self.app = app
        self.max_pixels = max_pixels
        self.core_fonts_encoding = CORE_ENCODING
        self.resource_access_policy = ResourceAccessPolicy.NONE
        left, top, right, bottom = doc.margins
        self.set_margins(left, top, right)
        self.set_auto_page_break(True, bottom)
        self.alias_nb_pages(doc.alias)  # type: ignore[arg-type]  # None turns the substitution off
        for key, value in doc.info.items():
            getattr(self, f"set_{key}")(value)

    def add_fonts(self) -> None:
        """Register the document's font files (fontTools parses each); INVALID_DOCUMENT for a file that
        is not a font it can read."""
        for (family, variant), file in self.doc.fonts.items():
            try:
                self.add_font(family, variant, str(file.path))
            except Exception:  # fontTools raises many kinds for a file that is not a font
                raise invalid(
                    file.where, "the file is not a TrueType or OpenType font fpdf2 can read"
                ) from None

    def close_fonts(self) -> None:
        """Close the font files fontTools keeps open (fpdf2 closes them only when output() completes)."""
        for font in self.fonts.values():
            close = getattr(font, "close", None)
            if close is not None:
                close()

    def add_page(self, *args: Any, **kwargs: Any) -> None:
        self.budget.check()
        if self.page >= self.max_pages:
            raise ContentTooLarge(
                "pdf", "PDF_TOO_LARGE", f"the document needs more than {self.max_pages} pages (pdf.max_pages)"
            )
        super().add_page(*args, **kwargs)

    def header(self) -> None:
        if self.doc.header is not None:
            self.band(self.doc.header, self.doc.margins[1] / 2)
            self.set_y(self.t_margin)

    def footer(self) -> None:
        if self.doc.footer is not None:
            self.band(self.doc.footer, self.h - self.doc.margins[3] / 2)

    def band(self, band: m.Band, middle: float) -> None:
        text = band.text.replace("{page}", str(self.page_no()))
        if self.doc.alias:
            text = text.replace("{pages}", self.doc.alias)
        self.use(band.font)
        height = band.font.size * LINE
        left, _, right, _ = self.doc.margins
        self.set_xy(left, middle - height / 2)
        self.cell(w=self.w - left - right, h=height, text=text, align=band.align)

    def use(self, font: Font) -> None:
        self.set_font(font.family, font.emphasis, font.size)
        self.set_text_color(*font.color)

    def image(self, name: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(name, str):  # an <img src> of write_html: never a file path or URL of the server
            where = f"<img src={name[:60]!r}>"
            data = image_bytes(self.app, name, where, self.max_image_size)
            image_size(data, where, self.max_pixels)
            name = io.BytesIO(data)
        return super().image(name, *args, **kwargs)


def render(
    doc: m.Document, budget: Budget, limits: dict[str, int], app: AppRuntime, max_pixels: int
) -> bytes:
    """The PDF bytes of `doc`; ContentTooLarge past max_pages or max_output_size."""
    pdf = Canvas(doc, budget, limits, app, max_pixels)
    try:
        pdf.add_fonts()
        pdf.add_page()
        for block in doc.blocks:
            budget.check()
            try:
                DRAW[type(block)](pdf, block)
            except HttpError:
                raise
            except FPDFException as exc:
                raise invalid(block.where, f"fpdf2 could not lay this out: {exc}") from None
        return finish(pdf, limits)
    finally:
        pdf.close_fonts()


def render_html(
    doc: m.Document, html: str, budget: Budget, limits: dict[str, int], app: AppRuntime, max_pixels: int
) -> bytes:
    """The PDF bytes of `html` drawn by fpdf2's write_html on `doc`'s pages."""
    pdf = Canvas(doc, budget, limits, app, max_pixels)
    try:
        pdf.add_fonts()
        pdf.add_page()
        pdf.use(doc.base)
        pdf.write_html(
            html, font_family=doc.base.family, warn_on_tags_not_matching=False, ul_bullet_char=BULLET
        )
    except HttpError:
        raise
    except FPDFUnicodeEncodingException as exc:
        raise ContentError(
            "pdf",
            "UNSUPPORTED_TEXT",
            f"the HTML has text the core font {doc.base.family.title()} cannot show ({exc}): "
            "pass fonts={...} and font= naming a TTF font",
        ) from None
    except Exception as exc:  # fpdf2's HTML parser raises many kinds for markup it cannot lay out
        hint = " (bold or italic text needs that file in `fonts`)" if "Undefined font" in str(exc) else ""
        raise ContentError("pdf", "INVALID_HTML", f"fpdf2 could not lay out this HTML: {exc}{hint}") from None
    else:
        return finish(pdf, limits)
    finally:
        pdf.close_fonts()


def finish(pdf: Canvas, limits: dict[str, int]) -> bytes:
    data = bytes(pdf.output())
    if len(data) > limits["max_output_size"]:
        raise ContentTooLarge(
            "pdf",
            "PDF_TOO_LARGE",
            f"the PDF is {len(data)} bytes, "
            f"over the limit of {limits['max_output_size']} (pdf.max_output_size)",
        )
    return data


# -- blocks ------------------------------------------------------------------------------------------


def space(pdf: Canvas, height: float) -> None:
    """Vertical space, left out at the top of a page."""
    if height and pdf.y > pdf.t_margin + 0.01:
        pdf.set_y(pdf.y + height)


def paragraph(pdf: Canvas, block: m.Paragraph) -> None:
    left, top, right, bottom = block.margin
    space(pdf, top)
    if block.outline is not None:  # a heading: keep it with the next lines, and bookmark it
        first = max(run.font.size for run in block.runs) * block.line_height if block.runs else 0
        if pdf.will_page_break(first * 2.5):
            pdf.add_page()
        pdf.start_section("".join(run.text for run in block.runs), block.outline, strict=False)
    with (
        pdf.text_columns(
            text_align=block.align,
            line_height=block.line_height,
            l_margin=pdf.l_margin + left,
            r_margin=pdf.r_margin + right,
        ) as cols,
        cols.paragraph() as par,
    ):
        for run in block.runs:
            pdf.use(run.font)
            par.write(run.text, link=run.link)
    space(pdf, bottom)


def bullets(pdf: Canvas, block: m.Bullets) -> None:
    left, top, right, bottom = block.margin
    space(pdf, top)
    with pdf.text_columns(l_margin=pdf.l_margin + left, r_margin=pdf.r_margin + right) as cols:
        for item in block.items:
            pdf.use(item.marker.font)
            gap = item.marker.font.size * 0.5
            with cols.paragraph(
                text_align=item.align,
                line_height=item.line_height,
                indent=item.indent,
                bullet_string=item.marker.text,
                bullet_r_margin=gap,
            ) as par:
                for run in item.runs:
                    pdf.use(run.font)
                    par.write(run.text, link=run.link)
    space(pdf, bottom)


def table(pdf: Canvas, block: m.Table) -> None:
    left, top, right, bottom = block.margin
    space(pdf, top)
    outer = pdf.l_margin, pdf.r_margin
    pdf.set_left_margin(outer[0] + left)
    pdf.set_right_margin(outer[1] + right)
    try:
        pdf.use(block.font)
        with pdf.table(
            width=sum(block.widths),
            col_widths=tuple(block.widths),
            align="LEFT",
            borders_layout=block.borders,
            first_row_as_headings=block.header_rows > 0,
            num_heading_rows=block.header_rows,
            headings_style=FontFace(),
            line_height=block.line_height,
            padding=PADDING,
            text_align="LEFT",
        ) as grid:
            for cells in block.rows:
                row = grid.row()
                for cell in cells:
                    face = FontFace(
                        cell.font.family, cell.font.emphasis, cell.font.size, cell.font.color, cell.fill
                    )
                    row.cell(
                        cell.text, align=cell.align, style=face, colspan=cell.colspan, rowspan=cell.rowspan
                    )
    finally:
        pdf.set_left_margin(outer[0])
        pdf.set_right_margin(outer[1])
    space(pdf, bottom)


def image(pdf: Canvas, block: m.Image) -> None:
    space(pdf, block.margin[1])
    if pdf.will_page_break(block.height):
        pdf.add_page()
    try:
        pdf.image(io.BytesIO(block.data), x=pdf.l_margin + block.offset, w=block.width, h=block.height,
                  link=block.link or "")  # fmt: skip
    except HttpError:
        raise
    except Exception:  # Pillow decoding the body of an image whose header was fine
        raise ContentError("pdf", "INVALID_IMAGE", f"{block.where}/image: the image data is broken") from None
    space(pdf, block.margin[3])


def gap(pdf: Canvas, block: m.Space) -> None:
    space(pdf, block.height)


def page_break(pdf: Canvas, block: m.Break) -> None:
    if pdf.y > pdf.t_margin + 0.01:
        pdf.add_page()


DRAW: dict[type, Callable[[Canvas, Any], None]] = {
    m.Paragraph: paragraph,
    m.Bullets: bullets,
    m.Table: table,
    m.Image: image,
    m.Space: gap,
    m.Break: page_break,
}
