"""Gingee `utils` module: small text, validation and collection helpers, plus the `encode` (base64,
base64url, hex, base58, URI and HTML escapes) and `uuid` (v4, v7, validate) submodules. Ungated.

    from gingee_kernel import utils

    utils.slugify("Crème brûlée")          # 'creme-brulee'
    utils.encode.base64url(b"\xff\xfe")    # '__4'
    utils.uuid.v7()                         # time-ordered id; utils.uuid4() is utils.uuid.v4()
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Hashable, Iterable
from html.parser import HTMLParser
from typing import Any, TypeVar
from urllib.parse import urlsplit

from . import encode, uuid

__all__ = [
    "clamp",
    "encode",
    "group_by",
    "is_email",
    "is_url",
    "slugify",
    "strip_html",
    "truncate",
    "uuid",
    "uuid4",
]

T = TypeVar("T")
N = TypeVar("N", int, float)

_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def slugify(text: str, separator: str = "-", max_length: int | None = None) -> str:
    """A lowercase ASCII slug: accents dropped, runs of other characters become one `separator`."""
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", separator, ascii_text.lower()).strip(separator)
    if max_length is not None and len(slug) > max_length:
        slug = slug[:max_length].rstrip(separator)
    return slug


def truncate(text: str, length: int, suffix: str = "…") -> str:
    """`text` cut to at most `length` characters (suffix included), on a word boundary when possible."""
    if length < 0:
        raise ValueError("truncate: length must be >= 0")
    if len(text) <= length:
        return text
    if length <= len(suffix):
        return text[:length]
    cut = text[: length - len(suffix)]
    space = cut.rfind(" ")
    if space > len(cut) // 2:
        cut = cut[:space]
    return cut.rstrip() + suffix


class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"script", "style", "template", "noscript"})
    _BLOCK = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def strip_html(html: str) -> str:
    """The visible text of an HTML fragment: tags, comments, scripts and styles removed, entities decoded."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return re.sub(r"\s+", " ", "".join(parser.parts)).strip()


def is_email(value: str) -> bool:
    """True if `value` looks like a single plain email address (`local@domain.tld`)."""
    return isinstance(value, str) and len(value) <= 254 and _EMAIL.fullmatch(value) is not None


def is_url(value: str, schemes: Iterable[str] = ("http", "https")) -> bool:
    """True if `value` is an absolute URL with one of `schemes` and a well-formed host."""
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return False
    host = parts.hostname or ""
    if parts.scheme.lower() not in set(schemes) or not host:
        return False
    if host.startswith("[") or ":" in host:  # IPv6 literal, already validated by urlsplit
        return True
    labels = host.rstrip(".").split(".")
    return all(_HOST_LABEL.fullmatch(label) for label in labels)


def clamp(value: N, lower: N, upper: N) -> N:
    """`value` limited to the range [lower, upper]."""
    if lower > upper:
        raise ValueError(f"clamp: lower ({lower}) is greater than upper ({upper})")
    return max(lower, min(upper, value))


def group_by(items: Iterable[T], key: str | Callable[[T], Hashable]) -> dict[Any, list[T]]:
    """Group `items` into lists by `key`: a function, or the name of a dict key / attribute."""
    if callable(key):
        key_of = key
    else:

        def key_of(item: T) -> Hashable:
            return item.get(key) if isinstance(item, dict) else getattr(item, key, None)

    groups: dict[Any, list[T]] = {}
    for item in items:
        groups.setdefault(key_of(item), []).append(item)
    return groups


def uuid4() -> str:
    """A random UUID (version 4) as a string: the same as `utils.uuid.v4()`."""
    return uuid.v4()
