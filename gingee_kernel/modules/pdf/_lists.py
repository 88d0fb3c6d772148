"""pdfmake lists: `{"ul": [...]}` and `{"ol": [...], "start": 3}`, whose items are strings, text nodes
or nested lists (indented one step more; a nested ol counts from its own start)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _model as m
from ._styles import LINE, RUN_KEYS, Props, child, invalid, kind

if TYPE_CHECKING:
    from ._document import Parser

ITEM_KEYS = RUN_KEYS | {"text", "style", "link", "alignment", "lineHeight"}
SUBLIST_KEYS = RUN_KEYS | {"ul", "ol", "start", "style", "alignment", "lineHeight"}
BULLET = "\u2022"


def items(
    parser: Parser, node: dict[str, Any], where: str, props: Props, level: int, out: list[m.Item]
) -> None:
    """Append the items of list `node` (at `where`, styled `props`) to `out`, nested lists flattened."""
    key = "ol" if "ol" in node else "ul"
    if "ol" in node and "ul" in node:
        raise invalid(where, "a list is either ul or ol, not both")
    counter = node.get("start", 1)
    if isinstance(counter, bool) or not isinstance(counter, int) or (key == "ul" and "start" in node):
        raise invalid(child(where, "start"), "`start` is a whole number, on an ol list")
    entries, where = node[key], child(where, key)
    if not isinstance(entries, list):
        raise invalid(where, f"expected a list of items, not {kind(entries)}")
    for i, entry in enumerate(entries):
        at = child(where, i)
        if isinstance(entry, dict) and ("ul" in entry or "ol" in entry):
            parser.keys(entry, SUBLIST_KEYS, at, "a nested list")
            items(parser, entry, at, parser.styles.resolve(props, entry, at), level + 1, out)
            continue
        if isinstance(entry, dict):
            parser.keys(entry, ITEM_KEYS, at, "a list item")
            if "text" not in entry:
                raise invalid(at, "a list item needs `text` (or `ul` / `ol` for a nested list)")
            own = parser.styles.resolve(props, entry, at)
            runs = parser.runs(entry["text"], own, child(at, "text"), parser.link(entry, at))
        else:
            own, runs = props, parser.runs(entry, props, at, None)
        marker = f"{counter}." if key == "ol" else BULLET
        counter += 1
        step = max(18.0, own["fontSize"] * 1.5)
        mark = m.Run(marker, parser.font(own, marker, at))
        out.append(m.Item(runs, mark, (level + 1) * step, own["alignment"], own["lineHeight"] * LINE))
