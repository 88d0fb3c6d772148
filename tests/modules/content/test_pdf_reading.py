"""A small, independent PDF reader for the pdf module's tests, and the tests that keep it honest.

No PDF library is a dependency here, so the tests read the module's output themselves: the xref table
gives every object's offset, FlateDecode streams are inflated with zlib, the page tree gives the pages,
and each page's content stream is tokenised to pull out the strings shown with Tj / TJ, decoded through
the font's /ToUnicode CMap (embedded TTF fonts) or as Windows-1252 (the core fonts' WinAnsiEncoding).
The reader is checked against fpdf2 used directly, and against poppler's `pdftotext` where it exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REF = re.compile(rb"(\d+) 0 R")


@dataclass
class Obj:
    dict: bytes
    stream: bytes | None = None

    def get(self, key: str) -> bytes | None:
        """The raw value of `/key` in this object's dictionary (a name, number, ref or inline dict)."""
        found = re.search(
            rb"/" + key.encode() + rb"(?![\w])\s*(<<.*?>>|\[[^\]]*\]|\d+ 0 R|/?[^\s/<>\[\]]+)",
            self.dict,
            re.S,
        )
        return found.group(1) if found else None


@dataclass
class Page:
    width: float
    height: float
    text: str
    images: list[tuple[int, int]] = field(default_factory=list)
    #: (width, height) in points of each image drawn (the `cm` before each `Do`).
    draws: list[tuple[float, float]] = field(default_factory=list)

    @property
    def words(self) -> str:
        """The page's text with runs of whitespace as one space."""
        return " ".join(self.text.split())


@dataclass
class Pdf:
    objects: dict[int, Obj]
    pages: list[Page]
    info: dict[str, str]

    @property
    def text(self) -> str:
        return "\n".join(page.words for page in self.pages)

    def fonts(self) -> list[bytes]:
        """The /BaseFont of every font object."""
        return [o.get("BaseFont") or b"" for o in self.objects.values() if o.get("Type") == b"/Font"]

    def images(self) -> list[tuple[int, int]]:
        """(/Width, /Height) of every image XObject in the file."""
        found = [o for o in self.objects.values() if o.get("Subtype") == b"/Image"]
        return [(int(o.get("Width")), int(o.get("Height"))) for o in found]  # type: ignore[arg-type]

    def embedded_font_files(self) -> int:
        return sum(1 for o in self.objects.values() if o.get("FontFile2") is not None)


def read_pdf(data: bytes) -> Pdf:
    """Parse `data` (a complete PDF with a classic xref table, as fpdf2 writes)."""
    assert data.startswith(b"%PDF-"), "not a PDF"
    start = int(re.findall(rb"startxref\s+(\d+)", data)[-1])
    xref = data[start:]
    assert xref.startswith(b"xref"), "the xref table is not where startxref says"
    first, count = map(int, re.match(rb"xref\s+(\d+)\s+(\d+)", xref).groups())  # type: ignore[union-attr]
    entries = re.findall(rb"(\d{10}) (\d{5}) ([nf])", xref)[:count]
    objects: dict[int, Obj] = {}
    for number, (offset, _, kind) in enumerate(entries, start=first):
        if kind == b"n":
            objects[number] = _object(data, int(offset), number)
    root = _ref(re.search(rb"/Root (\d+ 0 R)", data[start:]).group(1))  # type: ignore[union-attr]
    info_ref = re.search(rb"/Info (\d+ 0 R)", data[start:])
    info = {}
    if info_ref:
        for key, value in re.findall(rb"/(\w+) \((.*?)\)\n", objects[_ref(info_ref.group(1))].dict):
            info[key.decode()] = _unescape(value).decode("latin-1")
    tree = objects[_ref(objects[root].get("Pages"))]  # type: ignore[arg-type]
    kids = [_ref(k) for k in REF.findall(tree.get("Kids") or b"")]
    assert int(tree.get("Count") or 0) == len(kids), "/Count disagrees with /Kids"
    return Pdf(objects, [_page(objects, objects[k], tree) for k in kids], info)


def _object(data: bytes, offset: int, number: int) -> Obj:
    head = re.match(rb"(\d+) 0 obj\s*", data[offset:])
    assert head and int(head.group(1)) == number, f"object {number} is not at its xref offset"
    body_start = offset + head.end()
    stream_at = data.find(b"stream\n", body_start)
    end_at = data.find(b"endobj", body_start)
    if stream_at == -1 or end_at < stream_at:
        return Obj(data[body_start:end_at])
    obj = Obj(data[body_start:stream_at])
    length = int(obj.get("Length"))  # type: ignore[arg-type]
    raw = data[stream_at + 7 : stream_at + 7 + length]
    assert data[stream_at + 7 + length :].lstrip().startswith(b"endstream"), "/Length is wrong"
    obj.stream = zlib.decompress(raw) if obj.get("Filter") == b"/FlateDecode" else raw
    return obj


def _ref(raw: bytes) -> int:
    return int(raw.split()[0])


def _resolve(objects: dict[int, Obj], raw: bytes | None) -> bytes:
    if raw is not None and REF.fullmatch(raw):
        return objects[_ref(raw)].dict
    return raw or b""


def _page(objects: dict[int, Obj], page: Obj, tree: Obj) -> Page:
    box = page.get("MediaBox") or tree.get("MediaBox") or b""
    _, _, width, height = (float(v) for v in box.strip(b"[]").split())
    resources = Obj(_resolve(objects, page.get("Resources")))
    fonts = {}
    for name, ref in re.findall(rb"/(\w+) (\d+ 0 R)", _resolve(objects, resources.get("Font"))):
        fonts[name.decode()] = _font_decoder(objects, objects[_ref(ref)])
    images = []
    for ref in REF.findall(_resolve(objects, resources.get("XObject"))):
        xobject = objects[int(ref)]
        if xobject.get("Subtype") == b"/Image":
            images.append((int(xobject.get("Width")), int(xobject.get("Height"))))  # type: ignore[arg-type]
    contents = b"".join(objects[int(r)].stream or b"" for r in REF.findall(page.get("Contents") or b""))
    draws = [
        (float(w), float(h))
        for w, h in re.findall(rb"([\d.]+) 0 0 ([\d.]+) [\d.]+ [\d.]+ cm /I\d+ Do", contents)
    ]
    return Page(width, height, _text(contents, fonts), images, draws)


def _font_decoder(objects: dict[int, Obj], font: Obj):  # type: ignore[no-untyped-def]
    to_unicode = font.get("ToUnicode")
    if to_unicode is None:
        return lambda raw: raw.decode("cp1252", errors="replace")
    cmap_text = (objects[_ref(to_unicode)].stream or b"").decode("latin-1")
    cmap: dict[int, str] = {}
    for block in re.findall(r"beginbfchar(.*?)endbfchar", cmap_text, re.S):
        for src, dst in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            cmap[int(src, 16)] = bytes.fromhex(dst).decode("utf-16-be")
    for block in re.findall(r"beginbfrange(.*?)endbfrange", cmap_text, re.S):
        for lo, hi, dst in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            for i, code in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                cmap[code] = chr(int(dst, 16) + i)

    def decode(raw: bytes) -> str:
        return "".join(
            cmap.get(int.from_bytes(raw[i : i + 2], "big"), "\ufffd") for i in range(0, len(raw), 2)
        )

    return decode


TOKEN = re.compile(
    rb"\((?:\\.|[^\\()]|\((?:\\.|[^\\()])*\))*\)|<[0-9A-Fa-f\s]*>|\[|\]|/[^\s/\[\]()<>]+|[^\s/\[\]()<>]+",
    re.S,
)


def _text(content: bytes, fonts: dict) -> str:  # type: ignore[type-arg]
    out: list[str] = []
    stack: list[object] = []
    array: list[object] | None = None
    saved: list[object] = []
    decode = fonts[next(iter(fonts))] if fonts else (lambda raw: raw.decode("cp1252"))
    for token in TOKEN.findall(content):
        if token.startswith(b"("):
            value: object = _unescape(token[1:-1])
        elif token.startswith(b"<"):
            value = bytes.fromhex(token[1:-1].decode())
        elif token == b"[":
            array = []
            continue
        elif token == b"]":
            value, array = array, None
        elif token[:1] == b"/" or re.fullmatch(rb"[-+.\d]+", token):
            value = token
        else:  # an operator
            if token == b"Tf":
                decode = fonts.get(bytes(stack[-2]).lstrip(b"/").decode(), decode)  # type: ignore[arg-type]
            elif token == b"q":  # the font is graphics state: Q restores the one q saved
                saved.append(decode)
            elif token == b"Q":
                decode = saved.pop()
            elif token in (b"Tj", b"'", b'"'):
                out.append(decode(stack[-1]))  # type: ignore[arg-type]
            elif token == b"TJ":
                for part in stack[-1]:  # type: ignore[attr-defined]
                    if isinstance(part, bytes) and not re.fullmatch(rb"[-+.\d]+", part):
                        out.append(decode(part))
                    elif isinstance(part, bytes) and float(part) < -200:
                        out.append(" ")
            elif token in (b"Td", b"TD", b"T*", b"ET", b"Tm"):
                out.append("\n")
            stack.clear()
            continue
        if array is not None and token != b"]":
            array.append(value)
        else:
            stack.append(value)
    return "".join(out)


def _unescape(raw: bytes) -> bytes:
    escapes = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}

    def one(match: re.Match[bytes]) -> bytes:
        body = match.group(1)
        if body[:1].isdigit():
            return bytes([int(body, 8) & 0xFF])
        return escapes.get(body, body)

    return re.sub(rb"\\([0-7]{1,3}|.)", one, raw, flags=re.S)


def pdftotext(data: bytes, tmp_path: Path) -> str | None:
    """poppler's reading of `data`, or None where pdftotext is not installed."""
    tool = shutil.which("pdftotext")
    if tool is None:
        return None
    source = tmp_path / "doc.pdf"
    source.write_bytes(data)
    return subprocess.run([tool, str(source), "-"], check=True, capture_output=True).stdout.decode()


# -- the reader's own tests --------------------------------------------------------------------------

DEJAVU = Path(__import__("matplotlib").get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def _direct_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format="A4")
    pdf.core_fonts_encoding = "windows-1252"
    pdf.add_font("dejavu", "", str(DEJAVU))
    for n in range(3):
        pdf.add_page()
        pdf.set_font("helvetica", size=12)
        pdf.multi_cell(
            0, 14, f"Page {n + 1}: caf\u00e9 (paren) back\\slash \u20ac10", new_x="LMARGIN", new_y="NEXT"
        )
        pdf.set_font("dejavu", size=12)
        with pdf.local_context():  # q ... Q: the font set inside does not outlive it
            pdf.set_font("helvetica", "B", 12)
            pdf.multi_cell(0, 14, "bold", new_x="LMARGIN", new_y="NEXT")
        pdf.multi_cell(0, 14, "Zażółć gęślą jaźń", new_x="LMARGIN", new_y="NEXT")
    pdf.set_title("Reader check")
    return bytes(pdf.output())


def test_the_reader_gets_pages_text_in_core_and_ttf_fonts_and_info() -> None:
    doc = read_pdf(_direct_pdf())
    assert len(doc.pages) == 3
    assert doc.pages[1].words == "Page 2: café (paren) back\\slash €10 bold Zażółć gęślą jaźń"
    assert doc.info["Title"] == "Reader check"
    assert doc.embedded_font_files() == 1
    assert (doc.pages[0].width, doc.pages[0].height) == (595.28, 841.89)


def test_the_reader_agrees_with_pdftotext(tmp_path: Path) -> None:
    data = _direct_pdf()
    poppler = pdftotext(data, tmp_path)
    if poppler is None:
        if os.environ.get("GINGEE_TEST_REQUIRE_PDFTOTEXT"):  # CI installs it: never skipped there
            pytest.fail("poppler's pdftotext is not installed (apt-get install poppler-utils)")
        pytest.skip("poppler's pdftotext is not installed (apt-get install poppler-utils)")
    pages = poppler.split("\f")[:-1]
    assert [" ".join(p.split()) for p in pages] == [page.words for page in read_pdf(data).pages]


def test_the_reader_rejects_what_is_not_a_pdf() -> None:
    with pytest.raises(AssertionError):
        read_pdf(b"<html>not a pdf</html>")


def test_the_reader_restores_the_font_at_q_and_q() -> None:
    fonts = {"F1": lambda raw: "one:" + raw.decode(), "F2": lambda raw: "two:" + raw.decode()}
    content = b"BT /F1 12 Tf ET q BT /F2 9 Tf (a) Tj ET Q BT (b) Tj [(c) -300 (d)] TJ ET"
    assert _text(content, fonts).split() == ["two:a", "one:bone:c", "one:d"]  # a wide TJ gap is a space
