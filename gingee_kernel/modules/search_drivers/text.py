"""Text as every driver indexes it: NFC, CJK characters set apart, so that text written without spaces
(`東京都`) is found by any of its words (`東京`), as a phrase of its characters, and punctuation inside a
word set apart, so every engine reads the same words the query language does (text.tokens).

Without the second, PostgreSQL's parser keeps `ada@example.org`, `https://docs.example.com/guide` and
`foo.bar.baz` as single tokens (email, URL, host), and none of `ada`, `example` or `guide` would find them,
while they do on SQLite and Elasticsearch.

The separator is U+200B (zero width space): every engine here splits tokens on it, and it is removed from
what a user sees (highlights), so the original text comes back unchanged.
"""

from __future__ import annotations

import re
import unicodedata

SEPARATOR = "\u200b"
#: Han ideographs (with extensions and compatibility forms), hiragana, katakana (with halfwidth forms).
CJK = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0002fa1f"
_CJK_CHAR = re.compile(f"[{CJK}]")
#: Punctuation (and `_`) between two letters or digits: `@` in ada@example.org, `://`, `.`, `-`, `'`.
_INNER_PUNCTUATION = re.compile(r"(?<=[^\W_])(?:[^\w\s]|_)+(?=[^\W_])")
#: Bumped when segment() changes, so the SQL drivers rebuild an index written the old way (sql.spec_json).
TEXT_VERSION = 2
_TOKEN = re.compile(r"[^\W_]+")
#: The highlight markers engines are asked to put around matches (private use characters), turned into
#: <mark> once the text is HTML-escaped (highlight.py). A document's own markers are replaced at indexing.
OPEN, CLOSE = "\ue000", "\ue001"
_MARKERS = re.compile(f"[{OPEN}{CLOSE}{SEPARATOR}]")


def segment(text: str) -> str:
    """`text` as indexed: NFC, CJK characters and punctuation inside words between separators, stray
    markers replaced."""
    text = _MARKERS.sub("\ufffd", unicodedata.normalize("NFC", text))
    text = _INNER_PUNCTUATION.sub(lambda m: f"{SEPARATOR}{m.group()}{SEPARATOR}", text)
    return _CJK_CHAR.sub(lambda m: f"{SEPARATOR}{m.group()}{SEPARATOR}", text)


def tokens(text: str) -> list[str]:
    """The words of `text` as the query language sees them: runs of letters and digits, each CJK character
    a word of its own. Punctuation separates (`foo-bar` is `foo`, `bar`; `a:b` is `a`, `b`)."""
    words: list[str] = []
    for run in _TOKEN.findall(unicodedata.normalize("NFC", text)):
        if _CJK_CHAR.search(run) is None:
            words.append(run)
            continue
        words.extend(w for w in _TOKEN.findall(segment(run).replace(SEPARATOR, " ")))
    return words
