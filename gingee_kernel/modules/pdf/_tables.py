"""pdfmake tables, checked: `body` (rows of cells, every row as long as the first, pdfmake's placeholder
cells under a colSpan / rowSpan included), `headerRows` (repeated on each page), `widths` (points, "N%",
"*" or "auto", where "auto" shares the rest like "*") and `layout` (noBorders, lightHorizontalLines,
headerLineOnly; all borders by default)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _model as m
from ._styles import LINE, RUN_KEYS, Props, child, invalid, kind, number

if TYPE_CHECKING:
    from ._document import Parser

TABLE_KEYS = frozenset({"body", "headerRows", "widths"})
CELL_KEYS = RUN_KEYS | {"text", "style", "colSpan", "rowSpan", "fillColor", "alignment"}
LAYOUTS = {
    "noBorders": "NONE",
    "lightHorizontalLines": "HORIZONTAL_LINES",
    "headerLineOnly": "SINGLE_TOP_LINE",
}


def table(
    parser: Parser, node: dict[str, Any], where: str, props: Props, box: m.Margin, room: float
) -> m.Table:
    """The Table for a `{"table": {...}}` node whose style is `props`, `room` points wide."""
    at = child(where, "table")
    spec = node["table"]
    if not isinstance(spec, dict):
        raise invalid(at, f'expected {{"body": [[cells]], ...}}, not {kind(spec)}')
    parser.keys(spec, TABLE_KEYS, at, "a table")
    body, at_body = spec.get("body"), child(at, "body")
    if not isinstance(body, list) or not body:
        raise invalid(at_body, "expected a list of rows (each a list of cells)")
    for r, row in enumerate(body):
        if not isinstance(row, list) or not row:
            raise invalid(child(at_body, r), "expected a list of cells")
        if len(row) != len(body[0]):
            raise invalid(child(at_body, r), f"this row has {len(row)} cells, the first has {len(body[0])}")
    ncols = len(body[0])
    header_rows = spec.get("headerRows", 0)
    if isinstance(header_rows, bool) or not isinstance(header_rows, int) or not 0 <= header_rows <= len(body):
        raise invalid(child(at, "headerRows"), f"expected a whole number from 0 to {len(body)}")
    layout = node.get("layout")
    if layout is not None and layout not in LAYOUTS:
        raise invalid(child(where, "layout"), f"expected one of {', '.join(LAYOUTS)}, not {kind(layout)}")
    widths = _widths(spec.get("widths"), ncols, room, child(at, "widths"))

    covered: set[tuple[int, int]] = set()
    rows: list[list[m.Cell]] = []
    for r, row in enumerate(body):
        cells = []
        for c, value in enumerate(row):
            if (r, c) in covered:  # pdfmake's placeholder under a span: fpdf2 wants none
                continue
            cell_at = child(child(at_body, r), c)
            cell = _cell(parser, value, props, cell_at)
            if c + cell.colspan > ncols or r + cell.rowspan > len(body):
                raise invalid(cell_at, "this cell spans past the end of the table")
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    if (dr, dc) != (0, 0):
                        if (r + dr, c + dc) in covered:
                            raise invalid(cell_at, "this cell's span overlaps another one")
                        covered.add((r + dr, c + dc))
            cells.append(cell)
        rows.append(cells)
    font = parser.font(props, "", at)
    height = props["fontSize"] * props["lineHeight"] * LINE
    return m.Table(where, rows, widths, header_rows, LAYOUTS.get(layout or "", "ALL"), font, height, box)


def _cell(parser: Parser, value: Any, props: Props, where: str) -> m.Cell:
    colspan = rowspan = 1
    if isinstance(value, dict):
        parser.keys(value, CELL_KEYS, where, "a table cell")
        text = value.get("text", "")
        if isinstance(text, bool) or not isinstance(text, str | int | float):
            raise invalid(
                child(where, "text"), f"table cells take plain text (a string or a number), not {kind(text)}"
            )
        colspan = _span(value, "colSpan", where)
        rowspan = _span(value, "rowSpan", where)
        props = parser.styles.resolve(props, value, where)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        text = value
    else:
        raise invalid(where, f"expected a cell (a string, a number or an object), not {kind(value)}")
    text = str(text)
    font = parser.font(props, text, where)
    return m.Cell(text, font, props["alignment"], props.get("fillColor"), colspan, rowspan)


def _span(value: dict[str, Any], key: str, where: str) -> int:
    span = value.get(key, 1)
    if isinstance(span, bool) or not isinstance(span, int) or span < 1:
        raise invalid(child(where, key), f"expected a whole number of at least 1, not {kind(span)}")
    return span


def _widths(value: Any, ncols: int, room: float, where: str) -> list[float]:
    """Column widths in points: numbers as they are, "N%" of `room`, "*" and "auto" share what is left."""
    if value is None or value in ("*", "auto"):
        value = ["*"] * ncols
    if not isinstance(value, list) or len(value) != ncols:
        raise invalid(where, f"expected {ncols} widths (one per column), not {kind(value)}")
    fixed, shared = 0.0, 0
    widths: list[float | None] = []
    for i, spec in enumerate(value):
        if spec in ("*", "auto"):
            shared += 1
            widths.append(None)
            continue
        if isinstance(spec, str) and spec.endswith("%"):
            try:
                width = number(float(spec[:-1]), child(where, i), positive=True) * room / 100
            except ValueError:
                raise invalid(
                    child(where, i), f"expected a number, a percentage, * or auto, not {spec!r}"
                ) from None
        else:
            width = number(spec, child(where, i), positive=True)
        fixed += width
        widths.append(width)
    rest = room - fixed
    if (shared and rest < 12 * shared) or (not shared and rest < -0.5):
        raise invalid(where, f"the widths need {fixed:.0f} pt but {room:.0f} pt fit between the margins")
    return [w if w is not None else rest / shared for w in widths]
