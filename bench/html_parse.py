"""Parse and select speed of the two HTML libraries the `html` module could use: selectolax (lexbor)
versus BeautifulSoup with the lxml parser.

Generates a realistic page of about 200 KB (a header and navigation, nested divs of article cards,
tables of figures, many links, an inline script and style), then for each library times N rounds of
parsing it and N rounds of each of three CSS selections on the parsed tree, checks both libraries find
the same number of elements, and prints a table with the median time per round and the bs4/selectolax
ratio.

Usage: python bench/html_parse.py [--rounds 30] [--size 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

SELECTIONS = (
    ("links in cards", "div.card a[href]"),
    ("table cells", "table.figures tr > td:nth-child(2)"),
    ("nested titles", "main section > div.card h2.title"),
)


def generate(target_kb: int, seed: int = 7) -> str:
    """An HTML page of about `target_kb` kilobytes, the same for a given seed."""
    rng = random.Random(seed)
    words = ("alpha", "beta", "gamma", "delta", "server", "script", "module", "archive", "image", "table")

    def sentence(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n)).capitalize() + "."

    head = (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Benchmark page</title>"
        "<style>body{font:14px sans-serif}.card{border:1px solid #ccc}</style>"
        "<script>window.dataLayer=[];function track(e){dataLayer.push(e)}</script></head><body>"
        "<header><nav><ul>" + "".join(f'<li><a href="/section/{i}">Section {i}</a></li>' for i in range(20))
    )
    parts = [head, "</ul></nav></header><main>"]
    size, section = len(head), 0
    while size < target_kb * 1000:
        section += 1
        chunk = [f'<section id="s{section}"><h1>Section {section}</h1>']
        for card in range(8):
            chunk.append(
                f'<div class="card" data-id="{section}-{card}"><div class="inner"><div class="body">'
                f'<h2 class="title">{sentence(4)}</h2><p>{sentence(18)} <a href="/a/{section}/{card}">more'
                f'</a> <a href="https://example.org/{rng.randrange(10**6)}" rel="nofollow">source</a></p>'
                f"<p>{sentence(12)}</p></div></div></div>"
            )
        chunk.append(
            '<table class="figures"><thead><tr><th>Name</th><th>Value</th><th>Delta</th></tr></thead>'
        )
        chunk.append("<tbody>")
        for row in range(10):
            chunk.append(
                f"<tr><td>{rng.choice(words)}-{row}</td><td>{rng.randrange(10**5)}</td>"
                f"<td>{rng.uniform(-5, 5):.2f}%</td></tr>"
            )
        chunk.append("</tbody></table></section>")
        text = "".join(chunk)
        parts.append(text)
        size += len(text)
    parts.append("<footer><p>&copy; Benchmark</p></footer></main></body></html>")
    return "".join(parts)


def _median_ms(func: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def run(page: str, rounds: int) -> dict[str, dict[str, float]]:
    """Median milliseconds per round, by operation then by library."""
    from bs4 import BeautifulSoup
    from selectolax.lexbor import LexborHTMLParser

    fast = LexborHTMLParser(page)
    soup = BeautifulSoup(page, "lxml")
    for label, css in SELECTIONS:
        found = len(fast.css(css)), len(soup.select(css))
        if found[0] != found[1] or not found[0]:
            raise SystemExit(f"{label}: selectolax finds {found[0]} elements, bs4 {found[1]}")
    results = {
        "parse": {
            "selectolax": _median_ms(lambda: LexborHTMLParser(page), rounds),
            "bs4+lxml": _median_ms(lambda: BeautifulSoup(page, "lxml"), rounds),
        }
    }
    for label, css in SELECTIONS:
        results[label] = {
            "selectolax": _median_ms(lambda css=css: fast.css(css), rounds),
            "bs4+lxml": _median_ms(lambda css=css: soup.select(css), rounds),
        }
    results["text"] = {
        "selectolax": _median_ms(lambda: fast.body.text(), rounds),
        "bs4+lxml": _median_ms(lambda: soup.body.get_text(), rounds),
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=30, help="rounds per operation (median reported)")
    parser.add_argument("--size", type=int, default=200, help="page size in KB")
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    args = parser.parse_args()
    page = generate(args.size)
    results = run(page, args.rounds)
    print(f"page: {len(page.encode()) / 1000:.0f} KB, {args.rounds} rounds, median ms per round")
    print(f"{'operation':<16}{'selectolax':>12}{'bs4+lxml':>12}{'ratio':>9}")
    for label, row in results.items():
        ratio = row["bs4+lxml"] / row["selectolax"] if row["selectolax"] else float("inf")
        print(f"{label:<16}{row['selectolax']:>12.2f}{row['bs4+lxml']:>12.2f}{ratio:>8.1f}x")
    if args.json:
        print(json.dumps({"page_bytes": len(page.encode()), "rounds": args.rounds, "results": results}))


if __name__ == "__main__":
    main()
