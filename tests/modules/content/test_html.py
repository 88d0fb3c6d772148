"""html: selection, text and attributes on real markup, lenient parsing of malformed input, encodings,
the input size limit, from_file through fs (grant and confinement), the missing extra, and one served
script whose bad selector is answered with a JSON 422."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gingee_kernel.engine.context import app_context
from gingee_kernel.errors import PermissionDenied
from gingee_kernel.modules import fs, html
from gingee_kernel.modules.content.errors import ContentError, ContentTooLarge, MissingExtra
from tests.fixtures.apps import MakeApp

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>  Gingee shop  </title>
  <style>body { color: red }</style>
  <script>var tracking = "do not show";</script>
</head>
<body>
  <nav><a href="/">Home</a> <a href="/cart" class="cart">Cart (2)</a></nav>
  <main id="content">
    <h1>Products</h1>
    <article class="product" data-sku="A-1"><h2>Tea</h2><p>Green <b>tea</b>, 100 g.</p>
      <a href="tea.html">More</a><script>track("tea")</script></article>
    <article class="product sale" data-sku="B-2"><h2>Coffee</h2><p>Dark roast.</p>
      <a href="https://example.org/coffee">More</a></article>
    <table id="prices">
      <tr><th>Item</th><th>Price</th></tr>
      <tr><td>Tea</td><td>4.50</td></tr>
      <tr><td>Coffee</td><td>7.00</td></tr>
    </table>
    <form><input name="q" disabled><input type="checkbox" name="gift" checked=""></form>
  </main>
</body>
</html>"""


def test_select_text_and_attributes_on_real_markup() -> None:
    doc = html.from_string(PAGE)
    assert doc.title == "Gingee shop"
    products = doc.select("article.product")
    assert [p.attr("data-sku") for p in products] == ["A-1", "B-2"]
    assert [p.select_one("h2").text() for p in products] == ["Tea", "Coffee"]  # type: ignore[union-attr]
    assert doc.select_one("article.sale h2").text() == "Coffee"  # type: ignore[union-attr]
    assert [td.text() for td in doc.select("#prices tr > td:nth-child(2)")] == ["4.50", "7.00"]
    assert doc.select_one("nav .cart").attrs == {"href": "/cart", "class": "cart"}  # type: ignore[union-attr]
    assert doc.select_one("video") is None and doc.select("video") == []
    first = products[0]
    assert first.tag == "article" and first.parent is not None and first.parent.attr("id") == "content"
    assert [child.tag for child in first.children] == ["h2", "p", "a", "script"]
    assert first.select_one("p").html == "<p>Green <b>tea</b>, 100 g.</p>"  # type: ignore[union-attr]
    assert first.select_one("p").inner_html == "Green <b>tea</b>, 100 g."  # type: ignore[union-attr]


async def test_parse_runs_off_the_event_loop_with_the_same_checks(make_app: MakeApp) -> None:
    import threading

    seen: list[str] = []
    original = html._parse

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(threading.current_thread().name)
        return original(*args, **kwargs)

    html._parse = spy  # type: ignore[attr-defined]
    try:
        doc = await html.parse("<p class=x>one</p><p>two</p>")
    finally:
        html._parse = original  # type: ignore[attr-defined]
    assert [p.text() for p in doc.select("p")] == ["one", "two"]
    assert seen and seen[0].startswith("gingee-content")
    tiny = make_app("tiny", config={"html": {"max_input_size": 10}})
    with app_context(tiny), pytest.raises(ContentTooLarge):
        await html.parse("<p>" + "x" * 20 + "</p>")


def test_text_leaves_out_script_and_style() -> None:
    doc = html.from_string(PAGE)
    text = doc.text(" ", strip=True)
    assert "Products" in text and "Green tea , 100 g." in text
    assert "tracking" not in text and "track(" not in text and "color" not in text
    assert "Gingee shop" not in text  # the body's text, not the title
    article = doc.select_one("article")
    assert article is not None and article.text(strip=True) == "TeaGreentea, 100 g.More"
    assert doc.select_one("article script").text() == 'track("tea")'  # type: ignore[union-attr]
    assert html.from_string("<p> a <i>b</i> </p>").select_one("p").text() == " a b "  # type: ignore[union-attr]


def test_attributes_without_values_and_defaults() -> None:
    doc = html.from_string(PAGE)
    query, gift = doc.select("input")
    assert query.attr("disabled") == "" and gift.attr("checked") == ""
    assert query.attr("missing") is None and query.attr("missing", "no") == "no"
    assert query.attrs == {"name": "q", "disabled": ""}


def test_links_are_made_absolute_against_base_or_url() -> None:
    assert html.from_string(PAGE).links() == ["/", "/cart", "tea.html", "https://example.org/coffee"]
    based = html.from_string('<base href="https://shop.test/en/"><a href="tea.html">t</a><a href="/x">x</a>')
    assert based.links() == ["https://shop.test/en/tea.html", "https://shop.test/x"]


@pytest.mark.parametrize("css", ["div[", "a >", "", "p:no-such-pseudo", "##x", "a::b::c"])
def test_an_invalid_selector_is_a_content_error(css: str) -> None:
    doc = html.from_string(PAGE)
    with pytest.raises(ContentError) as info:
        doc.select(css)
    assert info.value.code == "INVALID_SELECTOR" and info.value.status_code == 422
    with pytest.raises(ContentError):
        doc.select_one("main").select_one(css)  # type: ignore[union-attr]


def test_a_selector_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="str"):
        html.from_string(PAGE).select(42)  # type: ignore[arg-type]


# --- malformed input --------------------------------------------------------------------------------------


def test_unclosed_and_misnested_tags_are_parsed_like_a_browser() -> None:
    doc = html.from_string("<div><p>one<p>two <b>bold <i>both</b> after</i><table><td>cell<div>x")
    assert [p.text() for p in doc.select("div > p")] == ["one", "two bold both aftercellx"]
    assert doc.select_one("b").html == "<b>bold <i>both</i></b>"  # type: ignore[union-attr]
    assert doc.select_one("td").text() == "cellx"  # type: ignore[union-attr]
    assert "both" in doc.text()


def test_garbage_bytes_parse_into_some_document() -> None:
    rng = random.Random(1)
    for _ in range(20):
        noise = bytes(rng.randrange(256) for _ in range(4000))
        doc = html.from_string(noise + b"<p id=end>end</p>" + noise)
        assert isinstance(doc.text(), str) and isinstance(doc.html, str)
        assert doc.select_one("#end") is not None or doc.select("p") is not None


def test_ten_thousand_levels_of_nesting_do_not_crash() -> None:
    depth = 10_000
    doc = html.from_string("<div>" * depth + "deep<script>x()</script><style>a{}</style>" + "</div>" * depth)
    divs = doc.select("div")
    assert len(divs) == depth
    assert divs[-1].text() == "deep" and doc.text() == "deep"
    assert divs[0].text(strip=True) == "deep"
    assert doc.html.count("<div>") == depth
    unclosed = html.from_string("<span>" * depth + "x")
    assert len(unclosed.select("span")) == depth and unclosed.text() == "x"


# --- encodings --------------------------------------------------------------------------------------------


def test_bytes_are_decoded_by_meta_charset_bom_or_utf8() -> None:
    cyrillic = '<meta charset="windows-1251"><p>Привет</p>'.encode("cp1251")
    assert html.from_string(cyrillic).select_one("p").text() == "Привет"  # type: ignore[union-attr]
    bom = "\ufeff<p>café</p>".encode("utf-16-le")
    assert html.from_string(bom).select_one("p").text() == "café"  # type: ignore[union-attr]
    assert html.from_string("<p>café</p>".encode()).text() == "café"
    assert html.from_string(b"<p>caf\xe9 \xff</p>").text() == "caf\ufffd \ufffd"


def test_only_str_or_bytes() -> None:
    with pytest.raises(ContentError) as info:
        html.from_string(123)  # type: ignore[arg-type]
    assert info.value.code == "INVALID_INPUT"


# --- limits -----------------------------------------------------------------------------------------------


def test_input_over_max_input_size_is_refused(make_app: MakeApp) -> None:
    app = make_app("small", config={"html": {"max_input_size": "1kb"}})
    with app_context(app):
        html.from_string("<p>" + "x" * 900 + "</p>")
        for big in ("<p>" + "x" * 1100, b"<p>" + b"x" * 1100, "é" * 600):  # é: 600 characters, 1200 bytes
            with pytest.raises(ContentTooLarge) as info:
                html.from_string(big)
            assert info.value.code == "INPUT_TOO_LARGE" and info.value.status_code == 413
            assert "html.max_input_size" in str(info.value)


def test_outside_an_app_the_default_limits_apply() -> None:
    assert html.from_string("<p>" + "x" * 2_000_000 + "</p>").select_one("p") is not None


# --- from_file --------------------------------------------------------------------------------------------


def test_from_file_goes_through_fs(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app("files", grants={"fs"}, config={"html": {"max_input_size": "2kb"}})
    (app.box / "pages").mkdir()
    (app.box / "pages" / "a.html").write_text("<title>A</title><h1>a</h1>")
    (app.root / "index.html").write_bytes('<meta charset="latin-1"><h1>Ré</h1>'.encode("latin-1"))
    (app.box / "big.html").write_text("<p>" + "x" * 5000)
    (tmp_path / "secret.html").write_text("<p>secret</p>")
    with app_context(app):
        assert html.from_file("box", "pages/a.html").title == "A"
        assert html.from_file("web", "/index.html").select_one("h1").text() == "Ré"  # type: ignore[union-attr]
        with pytest.raises(ContentTooLarge):
            html.from_file("box", "big.html")
        for scope, path in (("box", "../../secret.html"), ("web", "box/pages/a.html")):
            with pytest.raises(fs.FsAccessDenied):
                html.from_file(scope, path)
        with pytest.raises(FileNotFoundError, match=r"box:/nope\.html"):
            html.from_file("box", "nope.html")
    with app_context(make_app("nofs")), pytest.raises(PermissionDenied, match="'fs' permission"):
        html.from_file("box", "pages/a.html")


def test_without_selectolax_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "selectolax.lexbor", None)
    with pytest.raises(MissingExtra, match=r"pip install 'gingee\[html\]'"):
        html.from_string("<p>x</p>")


def test_the_module_imports_without_selectolax() -> None:
    code = (
        "import sys; sys.modules['selectolax'] = None\n"
        "from gingee_kernel import html\n"
        "assert 'selectolax.lexbor' not in sys.modules\n"
        "print(sorted(html.__all__))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['Document', 'Node', 'from_file', 'from_string', 'from_url', 'parse']"


# --- served -----------------------------------------------------------------------------------------------

SCRAPE = """
from gingee_kernel import html

async def handle(g):
    doc = html.from_string(g.request.raw_body)
    return {"title": doc.title, "found": [n.text(strip=True) for n in doc.select(g.request.query["css"])]}
"""


def test_a_served_script_parses_and_a_bad_selector_is_a_json_422(
    make_project: Callable[..., Path], serve: Callable[..., Any]
) -> None:
    root = make_project(
        {
            "web/scraper/box/app.json": {"name": "scraper"},
            "web/scraper/box/routes.json": {
                "routes": [{"path": "/scrape", "method": "POST", "script": "scrape"}]
            },
            "web/scraper/box/scrape.py": SCRAPE,
        }
    )
    server = serve(root)
    with httpx.Client(timeout=30) as client:
        url = server.url("/scraper/scrape")
        headers = {"Content-Type": "text/html"}
        good = client.post(url, params={"css": "article h2"}, content=PAGE.encode(), headers=headers)
        assert good.status_code == 200 and good.json() == {"title": "Gingee shop", "found": ["Tea", "Coffee"]}
        bad = client.post(url, params={"css": "h2[["}, content=PAGE.encode(), headers=headers)
        assert bad.status_code == 422 and bad.json()["error"] == "INVALID_SELECTOR"
        assert "Traceback" not in bad.text
