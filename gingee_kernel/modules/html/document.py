"""Parsed HTML: a `Document` and its element `Node`s, thin wrappers over selectolax's lexbor tree that
speak the html module's errors (a bad CSS selector is ContentError INVALID_SELECTOR) and leave the
text of <script> and <style> out of `.text()`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from ..content.errors import ContentError

#: Elements whose text is code, not content: left out of a node's `.text()`.
NON_TEXT = frozenset({"script", "style"})
_NON_TEXT_CSS = ", ".join(sorted(NON_TEXT))


class Node:
    """One element of a parsed document. Nodes are read-only views: they stay valid while their
    Document (or any node of it) is referenced."""

    __slots__ = ("_node",)

    def __init__(self, node: Any) -> None:
        self._node = node

    def __repr__(self) -> str:
        return f"<html.Node {self.tag}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and self._node.mem_id == other._node.mem_id

    def __hash__(self) -> int:
        return hash(self._node.mem_id)

    @property
    def tag(self) -> str:
        """The element's tag name, lower-case ("div", "a")."""
        return str(self._node.tag)

    @property
    def attrs(self) -> dict[str, str]:
        """The element's attributes; an attribute written without a value (`<input disabled>`) is ""."""
        return {name: "" if value is None else value for name, value in self._node.attributes.items()}

    def attr(self, name: str, default: str | None = None) -> str | None:
        """The value of attribute `name` ("" if it has none, as `disabled`), or `default` if it is absent."""
        attributes = self._node.attributes
        if name not in attributes:
            return default
        value = attributes[name]
        return "" if value is None else value

    def text(self, separator: str = "", strip: bool = False) -> str:
        """The text inside the element, without the code of <script> and <style> elements below it.

        `separator` goes between the text pieces; `strip=True` strips each piece and drops empty ones.
        (A <script> or <style> node's own `.text()` is its code.)
        """
        node = self._node
        if node.tag in NON_TEXT or node.css_first(_NON_TEXT_CSS) is None:
            return str(node.text(separator=separator, strip=strip, skip_empty=strip))
        pieces = []
        for child in node.traverse(include_text=True, skip_empty=strip):
            if not child.is_text_node or child.parent is None or child.parent.tag in NON_TEXT:
                continue
            piece = child.text_content or ""
            if strip:
                piece = piece.strip()
                if not piece:
                    continue
            pieces.append(piece)
        return separator.join(pieces)

    @property
    def html(self) -> str:
        """The element serialised as HTML, its own tag included (outer HTML)."""
        return str(self._node.html or "")

    @property
    def inner_html(self) -> str:
        """The HTML of the element's content, without its own tag."""
        return str(self._node.inner_html or "")

    @property
    def parent(self) -> Node | None:
        """The enclosing element, or None for the root <html> element."""
        parent = self._node.parent
        return Node(parent) if parent is not None and parent.is_element_node else None

    @property
    def children(self) -> list[Node]:
        """The element's child elements, in document order (text and comments left out)."""
        return [Node(child) for child in self._node.iter() if child.is_element_node]

    def select(self, css: str) -> list[Node]:
        """The elements below this one that match the CSS selector `css`, in document order.
        ContentError INVALID_SELECTOR if `css` is not a valid selector."""
        return [Node(found) for found in _css(self._node, css)]

    def select_one(self, css: str) -> Node | None:
        """The first element below this one matching `css`, or None."""
        found = _css(self._node, css, first=True)
        return Node(found) if found is not None else None


class Document(Node):
    """A parsed HTML document (`html.from_string`, `from_file`, `from_url`). It is its root <html>
    element, and selects across the whole document. `url` is where it was fetched from, if it was."""

    __slots__ = ("_parser", "url")

    def __init__(self, parser: Any, url: str | None = None) -> None:
        super().__init__(parser.root)
        self._parser = parser
        self.url = url

    def __repr__(self) -> str:
        title = self.title
        return f"<html.Document {title!r}>" if title else "<html.Document>"

    @property
    def title(self) -> str | None:
        """The text of the <title> element, stripped, or None if the document has none."""
        found = self._parser.css_first("title")
        return None if found is None else str(found.text()).strip()

    def text(self, separator: str = "", strip: bool = False) -> str:
        """The text of the document's <body> (so not its <title>), without script and style code."""
        body = self._parser.body
        return Node(body if body is not None else self._parser.root).text(separator, strip)

    @property
    def html(self) -> str:
        """The whole document serialised as HTML."""
        return str(self._parser.html or "")

    def select(self, css: str) -> list[Node]:
        """The elements of the document that match the CSS selector `css`, in document order.
        ContentError INVALID_SELECTOR if `css` is not a valid selector."""
        return [Node(found) for found in _css(self._parser, css)]

    def select_one(self, css: str) -> Node | None:
        """The first element of the document matching `css`, or None."""
        found = _css(self._parser, css, first=True)
        return Node(found) if found is not None else None

    def links(self) -> list[str]:
        """The `href` of every <a href> in document order, made absolute against the document's <base
        href> or the URL it was fetched from (kept as written when there is neither)."""
        base_node = self._parser.css_first("base[href]")
        base = self.url
        if base_node is not None and base_node.attributes.get("href"):
            base = urljoin(base or "", base_node.attributes["href"])
        hrefs = [node.attributes.get("href") or "" for node in self._parser.css("a[href]")]
        return [urljoin(base, href) for href in hrefs] if base else hrefs


def _css(node: Any, css: str, *, first: bool = False) -> Any:
    if not isinstance(css, str):
        raise TypeError(f"html: a CSS selector is a str, not {type(css).__name__}")
    from selectolax.lexbor import SelectolaxError

    try:
        return node.css_first(css) if first else node.css(css)
    except SelectolaxError:
        raise ContentError("html", "INVALID_SELECTOR", f"{css[:200]!r} is not a valid CSS selector") from None
