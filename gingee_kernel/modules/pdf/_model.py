"""A checked document, ready to lay out: what `_document.parse` makes of a pdfmake-style definition and
`_render` draws. Every block keeps the JSON pointer it came from, for errors found while laying it out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ._styles import Font

Margin = tuple[float, float, float, float]


@dataclass(slots=True)
class Run:
    """Text in one font; `link` makes it a hyperlink."""

    text: str
    font: Font
    link: str | None = None


@dataclass(slots=True)
class Paragraph:
    where: str
    runs: list[Run]
    align: str
    line_height: float
    margin: Margin
    #: Outline (bookmark) level of a heading, 0 for level 1; None for plain text.
    outline: int | None = None


@dataclass(slots=True)
class Item:
    """One list entry: `marker` ("•", "3.") drawn left of text indented by `indent`."""

    runs: list[Run]
    marker: Run
    indent: float
    align: str
    line_height: float


@dataclass(slots=True)
class Bullets:
    where: str
    items: list[Item]
    margin: Margin


@dataclass(slots=True)
class Cell:
    text: str
    font: Font
    align: str
    fill: tuple[int, int, int] | None
    colspan: int = 1
    rowspan: int = 1


@dataclass(slots=True)
class Table:
    where: str
    rows: list[list[Cell]]
    #: Column widths in points (pdfmake placeholders under spans already dropped from `rows`).
    widths: list[float]
    header_rows: int
    borders: str
    font: Font
    line_height: float
    margin: Margin


@dataclass(slots=True)
class Image:
    where: str
    data: bytes
    width: float
    height: float
    #: Distance from the left margin to the image's left edge, in points.
    offset: float
    margin: Margin
    link: str | None = None


@dataclass(slots=True)
class Space:
    """Vertical space (a stack's top or bottom margin)."""

    where: str
    height: float


@dataclass(slots=True)
class Break:
    where: str


Block = Paragraph | Bullets | Table | Image | Space | Break


@dataclass(slots=True)
class Band:
    """A header or footer line: `{page}` and `{pages}` are replaced on each page."""

    text: str
    font: Font
    align: str


@dataclass(frozen=True, slots=True)
class FontFile:
    """A declared font file: where it resolved in the box, and the pointer that named it."""

    path: Path
    where: str


@dataclass(slots=True)
class Document:
    size: tuple[float, float]
    margins: Margin
    base: Font
    info: dict[str, str] = field(default_factory=dict)
    header: Band | None = None
    footer: Band | None = None
    #: The font files to register: (family, "" | "B" | "I" | "BI") -> its file.
    fonts: dict[tuple[str, str], FontFile] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)
    #: fpdf2's total-pages alias, when a header or footer shows {pages}; None turns the substitution off.
    alias: str | None = None
