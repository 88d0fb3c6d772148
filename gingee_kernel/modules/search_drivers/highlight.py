"""Highlights as a page can show them: the engine's snippet with our markers (text.OPEN, text.CLOSE), the
CJK separators removed, HTML-escaped, then the markers turned into <mark>. A document's own `<script>`
comes back as text, never as markup."""

from __future__ import annotations

import html

from .text import CLOSE, OPEN, SEPARATOR


def safe_snippet(raw: str) -> str | None:
    """The HTML of one snippet; None when nothing in it matched."""
    if OPEN not in raw:
        return None
    joined = raw.replace(SEPARATOR, "").replace(CLOSE + OPEN, "")  # 東, 京 marked one by one: one mark
    escaped = html.escape(joined, quote=False)
    return escaped.replace(OPEN, "<mark>").replace(CLOSE, "</mark>")


def safe_snippets(raw: dict[str, str | None]) -> dict[str, str]:
    """The fields of `raw` that matched, as HTML."""
    out: dict[str, str] = {}
    for name, value in raw.items():
        snippet = safe_snippet(value or "")
        if snippet is not None:
            out[name] = snippet
    return out
