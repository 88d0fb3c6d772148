"""A 10-page document through Gingee's `pdf.create` against the same document built with fpdf2 directly,
side by side in one run.

    python bench/pdf_render.py [--pages 10] [--rounds 7] [--renders 3] [--json]

The document: on each page a heading (a bookmark too), three paragraphs and a 13-row table with a header
row, a page break before each heading after the first, and a "Page {page} of {pages}" footer. The module
side awaits `pdf.create(doc)` in an app granted pdf: it checks the definition, hops to the content thread
pool and lays the document out. The direct side makes, by hand and in the bench's own thread, the fpdf2
calls the module makes for that document (`gingee_kernel/modules/pdf/_render.py`): the same FPDF settings,
`text_columns` paragraphs, `table()` rows and footer. Both PDFs must be the same bytes apart from their
/CreationDate and /ID (a hash of that date), or the run fails: the two sides draw the same thing.

Rounds alternate which side goes first; each round times `--renders` renders of each side. Prints the
median time per render of each side (wall clock, and CPU time of the whole process, which counts the pool
thread too) and the ratio module speed / direct speed (goal: >= 0.95), with each round's ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fpdf import FPDF, FontFace
from fpdf.enums import ResourceAccessPolicy

from gingee_kernel import pdf
from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.config import server_config
from gingee_kernel.engine.context import app_context

GOAL = 0.95
PROSE = (
    "Gingee lays out documents for server scripts: invoices, reports and letters, one page after the "
    "other, with tables that break across pages and repeat their header rows where they continue."
)
WORDS = PROSE.split()
A4 = (595.28, 841.89)
MARGIN = 40.0
WIDTHS = ["*", 60, 60, 80]


def paragraph(page: int, n: int) -> str:
    return " ".join(WORDS[(page * 7 + n * 3 + i) % len(WORDS)] for i in range(90))


def rows(page: int) -> list[list[str]]:
    body = [["Item", "Qty", "Price", "Total"]]
    for r in range(1, 13):
        body.append([f"Article {page}-{r}", str(r), f"{r * 2.5:.2f}", f"{r * r * 2.5:.2f}"])
    return body


def document(pages: int) -> dict[str, Any]:
    content: list[Any] = []
    for page in range(1, pages + 1):
        heading: dict[str, Any] = {"heading": f"Section {page}"}
        if page > 1:
            heading["pageBreak"] = "before"
        content.append(heading)
        content += [paragraph(page, n) for n in range(3)]
        content.append({"table": {"headerRows": 1, "widths": WIDTHS, "body": rows(page)}})
    return {"info": {"title": "Bench"}, "footer": "Page {page} of {pages}", "content": content}


# -- the direct side: the module's fpdf2 calls for this document, written out --------------------------


class Direct(FPDF):
    def footer(self) -> None:
        text = "Page {page} of {pages}".replace("{page}", str(self.page_no())).replace("{pages}", "{nb}")
        self.set_font("helvetica", "", 9.0)
        self.set_text_color(0, 0, 0)
        height = 9.0 * 1.15
        self.set_xy(MARGIN, self.h - MARGIN / 2 - height / 2)
        self.cell(w=self.w - 2 * MARGIN, h=height, text=text, align="C")


def text_block(pdf: Direct, text: str, style: str, size: float) -> None:
    with (
        pdf.text_columns(
            text_align="L", line_height=1.15, l_margin=pdf.l_margin, r_margin=pdf.r_margin
        ) as cols,
        cols.paragraph() as par,
    ):
        pdf.set_font("helvetica", style, size)
        pdf.set_text_color(0, 0, 0)
        par.write(text, link=None)


def direct(pages: int) -> bytes:
    pdf = Direct(unit="pt", format=A4)
    pdf.core_fonts_encoding = "windows-1252"
    pdf.resource_access_policy = ResourceAccessPolicy.NONE
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, MARGIN)
    pdf.alias_nb_pages("{nb}")
    pdf.set_title("Bench")
    pdf.add_page()
    star = A4[0] - 2 * MARGIN - 200
    for page in range(1, pages + 1):
        if page > 1 and pdf.y > pdf.t_margin + 0.01:
            pdf.add_page()
        if pdf.y > pdf.t_margin + 0.01:
            pdf.set_y(pdf.y + 12)
        if pdf.will_page_break(22 * 1.15 * 2.5):
            pdf.add_page()
        pdf.start_section(f"Section {page}", 0, strict=False)
        text_block(pdf, f"Section {page}", "B", 22.0)
        if pdf.y > pdf.t_margin + 0.01:
            pdf.set_y(pdf.y + 6)
        for n in range(3):
            text_block(pdf, paragraph(page, n), "", 12.0)
        pdf.set_left_margin(MARGIN)
        pdf.set_right_margin(MARGIN)
        pdf.set_font("helvetica", "", 12.0)
        pdf.set_text_color(0, 0, 0)
        with pdf.table(
            width=star + 200,
            col_widths=(star, 60.0, 60.0, 80.0),
            align="LEFT",
            borders_layout="ALL",
            first_row_as_headings=True,
            num_heading_rows=1,
            headings_style=FontFace(),
            line_height=12.0 * 1.15,
            padding=(2, 4, 2, 4),
            text_align="LEFT",
        ) as grid:
            for cells in rows(page):
                row = grid.row()
                for text in cells:
                    face = FontFace("helvetica", "", 12.0, (0, 0, 0), None)
                    row.cell(text, align="L", style=face, colspan=1, rowspan=1)
        pdf.set_left_margin(MARGIN)
        pdf.set_right_margin(MARGIN)
    return bytes(pdf.output())


# -- the run --------------------------------------------------------------------------------------------


def comparable(data: bytes) -> bytes:
    return re.sub(rb"/CreationDate \([^)]*\)|/ID \[<[0-9A-F]+><[0-9A-F]+>\]", b"", data)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    doc = document(args.pages)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "web" / "bench" / "box").mkdir(parents=True)
        app = AppRuntime(
            "bench", root / "web" / "bench", {"name": "bench"}, server_config(None), frozenset({"pdf"}),
            project_dir=root,
        )  # fmt: skip
        with app_context(app):
            ours, theirs = await pdf.create(doc), direct(args.pages)  # warm up both, and compare
            if comparable(ours) != comparable(theirs):
                raise SystemExit("the module and the direct fpdf2 calls drew different PDFs")
            wall: dict[str, list[float]] = {"module": [], "direct": []}
            cpu: dict[str, list[float]] = {"module": [], "direct": []}
            for round_no in range(args.rounds):
                order = ("module", "direct") if round_no % 2 == 0 else ("direct", "module")
                for side in order:
                    started, used = time.perf_counter(), time.process_time()  # CPU of every thread
                    for _ in range(args.renders):
                        if side == "module":
                            await pdf.create(doc)
                        else:
                            direct(args.pages)
                    wall[side].append((time.perf_counter() - started) / args.renders)
                    cpu[side].append((time.process_time() - used) / args.renders)
    result: dict[str, Any] = {"pages": args.pages, "bytes": len(ours)}
    for name, series in (("wall", wall), ("cpu", cpu)):
        module, plain = statistics.median(series["module"]), statistics.median(series["direct"])
        result[name] = {"module_ms": module * 1000, "direct_ms": plain * 1000, "ratio": plain / module}
    result["rounds"] = [d / m for m, d in zip(wall["module"], wall["direct"], strict=True)]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--renders", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(f"{args.pages}-page document, {result['bytes']:,} bytes, medians of {args.rounds} rounds")
    print(f"{'side':<8} {'ms/render':>10} {'renders/s':>10} {'CPU ms':>8}")
    for side in ("module", "direct"):
        ms, cpu_ms = result["wall"][f"{side}_ms"], result["cpu"][f"{side}_ms"]
        print(f"{side:<8} {ms:>10.1f} {1000 / ms:>10.2f} {cpu_ms:>8.1f}")
    ratio = result["wall"]["ratio"]
    verdict = "meets" if ratio >= GOAL else "misses"
    rounds = ", ".join(f"{r:.3f}" for r in result["rounds"])
    by_cpu = result["cpu"]["ratio"]
    print(f"module/direct speed: {ratio:.3f} ({verdict} the goal of {GOAL}); by CPU time: {by_cpu:.3f}")
    print(f"per round: {rounds}")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
