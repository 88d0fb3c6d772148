"""Gingee `html` module: parse HTML and query it with CSS selectors. Ungated; `from_file` goes through
the `fs` module (its grant and BOX/WEB confinement) and `from_url` through `httpclient` (its grant and
the egress policy). The parser is selectolax (lexbor): `pip install 'gingee[html]'`.

    from gingee_kernel import html

    doc = html.from_string("<ul><li><a href='/a'>A</a></li></ul>")
    [a.attr("href") for a in doc.select("li > a")]           # ['/a']
    doc = html.from_file("box", "pages/index.html")
    doc = await html.from_url("https://example.org/", timeout=5)
    doc.title, doc.select_one("h1").text(strip=True), doc.links()

Parsing is lenient, like a browser's: unclosed tags, stray bytes and deep nesting are parsed, never
refused. An input over app.json `html.max_input_size` (10 MB by default) is refused with ContentTooLarge
before it is parsed. `from_string` and `from_file` parse in the calling thread (a 200 KB page takes
about 5 ms, the 10 MB limit about a quarter of a second); `await html.parse(text)` is `from_string` in the
content thread pool, for large pages in an async handler, and `from_url` parses there too, so the event
loop is never held by a large page.
"""

from __future__ import annotations

import codecs
import contextlib
import sys
from typing import Any

from ..content.errors import ContentError, ContentTooLarge
from ..content.extras import need
from ..content.files import as_bytes, read_file
from ..content.offload import run_cpu
from ..content.settings import limits
from .document import Document, Node

__all__ = ["Document", "Node", "from_file", "from_string", "from_url", "parse"]

#: The media types `from_url` accepts as HTML.
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def from_string(text: str | bytes) -> Document:
    """`text` parsed. Bytes are decoded by their byte-order mark or `<meta charset>`, else as UTF-8
    (invalid bytes become U+FFFD). ContentTooLarge past `html.max_input_size` bytes; ContentError
    INVALID_INPUT for anything but str or bytes."""
    limit = limits("html")["max_input_size"]
    if isinstance(text, str):
        _check_text_size(text, limit)
        return _parse(text)
    data = as_bytes("html", text, sys.maxsize, what="HTML")
    if len(data) > limit:
        raise _too_large("the HTML", len(data), limit)
    return _parse(data)


async def parse(text: str | bytes) -> Document:
    """`from_string(text)`, run in the content thread pool: the event loop goes on serving while a large
    page is parsed (the same checks and errors)."""
    return await run_cpu("html", lambda budget: from_string(text))


def from_file(scope: str, path: str) -> Document:
    """The confined file `scope:path` parsed as `from_string` parses bytes (needs the `fs` grant; a
    file over `html.max_input_size` is refused before it is read)."""
    return _parse(read_file("html", scope, path, limits("html")["max_input_size"]))


async def from_url(url: str, **options: Any) -> Document:
    """The page at `url`, fetched with `httpclient.get(url, **options)` (so the `httpclient` grant and
    the egress policy apply; options are httpclient's: headers, params, timeout...) and parsed.

    The answer must be a success (else ContentError FETCH_FAILED with its status) typed text/html or
    application/xhtml+xml (else ContentError NOT_HTML), and at most `html.max_input_size` bytes (else
    ContentTooLarge). Its charset comes from the Content-Type header, then the page's BOM or
    `<meta charset>`. The Document's `url` is the final URL, after redirects.
    """
    import httpx

    from .. import httpclient
    from ..egress import redact_url

    limit = limits("html")["max_input_size"]
    async with httpclient.stream("GET", url, **options) as response:
        shown = redact_url(str(response.url))
        if not response.is_success:
            raise ContentError(
                "html", "FETCH_FAILED", f"GET {shown} answered {response.status_code}, not a page"
            )
        media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media not in HTML_TYPES:
            raise ContentError(
                "html", "NOT_HTML", f"{shown} is {media or 'untyped'}, not an HTML page (text/html)"
            )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(shown, int(declared), limit)
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():  # decompressed: the limit is on what is parsed
                size += len(chunk)
                if size > limit:
                    raise _too_large(shown, size, limit)  # stops reading: the rest is never fetched
                chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise ContentError(
                "html", "FETCH_FAILED", f"GET {shown}: the page could not be read ({exc})"
            ) from exc
        page, final, charset = b"".join(chunks), str(response.url), response.charset_encoding
    return await run_cpu("html", lambda budget: _parse(page, url=final, charset=charset))


def _check_text_size(text: str, limit: int) -> None:
    if len(text) <= limit // 4:
        return  # four UTF-8 bytes per character at most: no need to count
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise _too_large("the HTML", size, limit)


def _too_large(what: str, size: int, limit: int) -> ContentTooLarge:
    return ContentTooLarge(
        "html",
        "INPUT_TOO_LARGE",
        f"{what} is {size} bytes, over the limit of {limit} (app.json html.max_input_size)",
    )


def _parse(data: str | bytes, url: str | None = None, charset: str | None = None) -> Document:
    lexbor = need("selectolax.lexbor", module="html", package="selectolax", extra="html")
    if isinstance(data, bytes) and charset and not data.startswith(_BOMS):
        with contextlib.suppress(LookupError):  # unknown, or not text (base64): let the page say
            data = data.decode(charset, errors="replace")
    encoding = isinstance(data, bytes)
    return Document(lexbor.LexborHTMLParser(data, encoding=encoding), url=url)
