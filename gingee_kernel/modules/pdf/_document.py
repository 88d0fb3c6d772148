"""A pdfmake-style document definition, checked up front and turned into blocks to lay out (_model).

Everything is checked before the first page is drawn: unknown keys, wrong types, unknown content
kinds, style names and fonts, table shapes, image sources and sizes, text the core fonts cannot show.
Each error is INVALID_DOCUMENT (or UNSUPPORTED_TEXT, INVALID_IMAGE, IMAGE_TOO_LARGE) and names the JSON
pointer of the bad value: "/content/3/table/body/1: expected a list of cells".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...engine.app import AppRuntime
from ..content.errors import ContentError, ContentTooLarge
from . import _model as m
from ._lists import items as list_items
from ._page import VARIANT_NAMES, fonts, info, page
from ._sources import image_bytes, image_size
from ._styles import (
    CORE_ENCODING,
    DEFAULT_STYLE,
    HEADINGS,
    LINE,
    NOT_INHERITED,
    RUN_KEYS,
    STYLE_KEYS,
    Font,
    Props,
    Styles,
    child,
    choice,
    font_of,
    invalid,
    kind,
    number,
)
from ._tables import table

DOC_KEYS = ("content", "pageSize", "pageOrientation", "pageMargins", "styles", "defaultStyle", "info")
DOC_KEYS += ("fonts", "header", "footer", "images")
KINDS = ("text", "heading", "table", "image", "ul", "ol", "stack")
COMMON = STYLE_KEYS | {"style", "pageBreak"}
NODE_KEYS = {
    "text": COMMON | {"text", "link"},
    "heading": COMMON | {"heading", "level"},
    "table": COMMON | {"table", "layout"},
    "image": frozenset(
        {"image", "width", "height", "fit", "alignment", "margin", "link", "style", "pageBreak"}
    ),
    "ul": COMMON | {"ul"},
    "ol": COMMON | {"ol", "start"},
    "stack": COMMON | {"stack"},
    "pageBreak": frozenset({"pageBreak"}),
}
RUN_NODE_KEYS = RUN_KEYS | {"text", "style", "link"}
BAND_KEYS = RUN_KEYS | {"text", "style", "alignment"}
#: Aliases for the total page count, the first one no text of the document contains is used.
ALIASES = ("{nb}", "{#}", "{~}", "{^}", "{@}")
ZERO = (0.0, 0.0, 0.0, 0.0)


class Parser:
    """Checks one document for `app` (box fonts and images) within the pdf and image limits."""

    def __init__(self, app: AppRuntime, limits: Mapping[str, int], max_pixels: int, names: Any) -> None:
        self.app = app
        self.limits = limits
        self.max_pixels = max_pixels
        self.names = names
        self.declared: dict[str, dict[str, m.FontFile]] = {}
        self.family_names: dict[str, str] = {}
        self.used: dict[tuple[str, str], m.FontFile] = {}
        self.images: dict[str, Any] = {}
        self.pictures: dict[str, tuple[bytes, tuple[int, int]]] = {}
        self.picture_bytes = 0
        self.braces: list[str] = []
        self.blocks: list[m.Block] = []
        self.styles = Styles({}, names)
        self.labels: Mapping[str, str] = {}
        self.width = self.height = 0.0  # the room between the page margins, once the page is known

    def at(self, key: str) -> str:
        """The pointer of a top-level key (from_html shows its keyword argument names instead)."""
        return self.labels.get(key, f"/{key}")

    # -- the document --------------------------------------------------------------------------------

    def document(self, doc: Any, *, all_fonts: bool = False) -> m.Document:
        if not isinstance(doc, dict):
            raise invalid("", f"expected a document object ({{'content': [...]}}), not {kind(doc)}")
        for key in doc:
            if key not in DOC_KEYS:
                raise invalid(child("", key), f"unsupported document key (supported: {', '.join(DOC_KEYS)})")
        self.declared, self.family_names = fonts(self.app, doc.get("fonts"), self.at("fonts"))
        self.styles = Styles(self.declared, self.names)
        named = doc.get("styles") or {}
        if not isinstance(named, dict):
            raise invalid(self.at("styles"), f"expected an object of named styles, not {kind(named)}")
        for name, raw in named.items():
            self.styles.named[name] = self.styles.props(raw, child(self.at("styles"), name))
        own = self.styles.props(doc.get("defaultStyle") or {}, self.at("defaultStyle"))
        base: Props = {**DEFAULT_STYLE, **own}
        size, margins = page(doc, self.at)
        out = m.Document(size, margins, font_of(base), info=info(doc.get("info"), self.at("info")))
        self.use(out.base, self.at("defaultStyle"))
        images = doc.get("images") or {}
        if not isinstance(images, dict):
            raise invalid(self.at("images"), f"expected an object of named images, not {kind(images)}")
        self.images = images
        self.width = size[0] - margins[0] - margins[2]
        self.height = size[1] - margins[1] - margins[3]
        self.content(doc.get("content", []), self.at("content"), base, (0.0, 0.0))
        out.header = self.band(doc.get("header"), self.at("header"), base)
        out.footer = self.band(doc.get("footer"), self.at("footer"), base)
        if any("{pages}" in band.text for band in (out.header, out.footer) if band):
            out.alias = next((a for a in ALIASES if not any(a in text for text in self.braces)), ALIASES[0])
        if all_fonts:
            for family, variants in self.declared.items():
                for variant, file in variants.items():
                    self.used[(family, variant)] = file
        out.fonts = self.used
        out.blocks = self.blocks
        return out

    def band(self, value: Any, where: str, base: Props) -> m.Band | None:
        if value is None:
            return None
        props = {k: v for k, v in base.items() if k not in NOT_INHERITED}
        props.update(fontSize=9.0, alignment="C")
        if isinstance(value, dict):
            self.keys(value, BAND_KEYS, where, "a header or footer")
            props = self.styles.resolve(props, value, where)
            where, value = child(where, "text"), value.get("text")
        if not isinstance(value, str):
            raise invalid(where, f'expected a string such as "Page {{page}} of {{pages}}", not {kind(value)}')
        return m.Band(value, self.font(props, value, where), props["alignment"])

    # -- content -------------------------------------------------------------------------------------

    def content(self, items: Any, where: str, props: Props, inset: tuple[float, float]) -> None:
        if not isinstance(items, list):
            raise invalid(where, f"expected a list of content items, not {kind(items)}")
        for i, item in enumerate(items):
            self.node(item, child(where, i), props, inset)

    def node(self, item: Any, where: str, parent: Props, inset: tuple[float, float]) -> None:
        if isinstance(item, list):
            return self.content(item, where, parent, inset)
        if isinstance(item, str | int | float) and not isinstance(item, bool):
            return self.text({"text": item}, where, parent, inset)
        if not isinstance(item, dict):
            raise invalid(where, f"expected a string or a content object, not {kind(item)}")
        kinds = [k for k in KINDS if k in item]
        if len(kinds) > 1:
            raise invalid(where, f"a content item has one kind, this one has {' and '.join(kinds)}")
        what = kinds[0] if kinds else "pageBreak" if "pageBreak" in item else ""
        if not what:
            keys = ", ".join(map(str, item)) or "none"
            raise invalid(
                where, f"unknown content kind: expected one of {', '.join(KINDS)} (keys here: {keys})"
            )
        self.keys(item, NODE_KEYS[what], where, f"a {what} item")
        brk = item.get("pageBreak")
        if brk is not None:
            choice(brk, child(where, "pageBreak"), {"before": "before", "after": "after"})
        if brk == "before" or what == "pageBreak":
            self.blocks.append(m.Break(where))
        if what != "pageBreak":
            getattr(self, what)(item, where, parent, inset)
        if brk == "after" and what != "pageBreak":
            self.blocks.append(m.Break(where))

    def text(self, node: dict[str, Any], where: str, parent: Props, inset: tuple[float, float]) -> None:
        props = self.styles.resolve(parent, node, where)
        runs = self.runs(node["text"], props, child(where, "text"), self.link(node, where))
        self.blocks.append(self.paragraph(where, runs, props, inset))

    def heading(self, node: dict[str, Any], where: str, parent: Props, inset: tuple[float, float]) -> None:
        level = node.get("level", 1)
        if level not in (1, 2, 3) or isinstance(level, bool):
            raise invalid(child(where, "level"), f"expected 1, 2 or 3, not {kind(level)}")
        base = {**HEADINGS[level], **self.styles.named.get(f"h{level}", {})}
        props = self.styles.resolve(parent, node, where, base)
        runs = self.runs(node["heading"], props, child(where, "heading"), None)
        self.blocks.append(self.paragraph(where, runs, props, inset, outline=level - 1))

    def stack(self, node: dict[str, Any], where: str, parent: Props, inset: tuple[float, float]) -> None:
        props = self.styles.resolve(parent, node, where)
        left, top, right, bottom = props.get("margin", ZERO)
        if top:
            self.blocks.append(m.Space(where, top))
        self.content(node["stack"], child(where, "stack"), props, (inset[0] + left, inset[1] + right))
        if bottom:
            self.blocks.append(m.Space(where, bottom))

    def table(self, node: dict[str, Any], where: str, parent: Props, inset: tuple[float, float]) -> None:
        props = self.styles.resolve(parent, node, where)
        box = self.margin(props, inset)
        self.blocks.append(table(self, node, where, props, box, self.width - box[0] - box[2]))

    def ul(self, node: dict[str, Any], where: str, parent: Props, inset: tuple[float, float]) -> None:
        props = self.styles.resolve(parent, node, where)
        items: list[m.Item] = []
        list_items(self, node, where, props, 0, items)
        self.blocks.append(m.Bullets(where, items, self.margin(props, inset)))

    ol = ul

    def image(self, node: dict[str, Any], where: str, parent: Props, inset: tuple[float, float]) -> None:
        props = self.styles.resolve(parent, node, where)
        data, (px_w, px_h) = self.picture(node["image"], child(where, "image"))
        box = self.margin(props, inset)
        room = self.width - box[0] - box[2]
        width, height = node.get("width"), node.get("height")
        if "fit" in node:
            fit = node["fit"]
            if not isinstance(fit, list) or len(fit) != 2:
                raise invalid(child(where, "fit"), "expected [width, height] in points")
            fw, fh = (number(v, child(child(where, "fit"), i), positive=True) for i, v in enumerate(fit))
            scale = min(fw / px_w, fh / px_h)
            width, height = px_w * scale, px_h * scale
        elif width is not None or height is not None:
            width = None if width is None else number(width, child(where, "width"), positive=True)
            height = None if height is None else number(height, child(where, "height"), positive=True)
            width = width if width is not None else height * px_w / px_h  # type: ignore[operator]
            height = height if height is not None else width * px_h / px_w
        else:  # natural size (one pixel a point), shrunk to fit the page
            scale = min(1.0, room / px_w, self.height / px_h)
            width, height = px_w * scale, px_h * scale
        align = props["alignment"]
        offset = max(0.0, room - width) * (0.5 if align == "C" else 1.0 if align == "R" else 0.0)
        self.blocks.append(m.Image(where, data, width, height, box[0] + offset, box, self.link(node, where)))

    # -- pieces --------------------------------------------------------------------------------------

    def paragraph(
        self,
        where: str,
        runs: list[m.Run],
        props: Props,
        inset: tuple[float, float],
        outline: int | None = None,
    ) -> m.Paragraph:
        return m.Paragraph(
            where, runs, props["alignment"], props["lineHeight"] * LINE, self.margin(props, inset), outline
        )

    def runs(self, value: Any, props: Props, where: str, link: str | None) -> list[m.Run]:
        """A text value (a string, a number or a list of runs, nested) as runs of one font each."""
        out: list[m.Run] = []
        self._runs(value, props, where, link, out)
        return out

    def _runs(self, value: Any, props: Props, where: str, link: str | None, out: list[m.Run]) -> None:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value)
            out.append(m.Run(text, self.font(props, text, where), link))
        elif isinstance(value, list):
            for i, part in enumerate(value):
                at = child(where, i)
                if isinstance(part, dict):
                    self.keys(part, RUN_NODE_KEYS, at, "a text run")
                    if "text" not in part:
                        raise invalid(at, "a text run needs `text`")
                    own = self.styles.resolve(props, part, at)
                    self._runs(part["text"], own, child(at, "text"), self.link(part, at) or link, out)
                else:
                    self._runs(part, props, at, link, out)
        else:
            raise invalid(where, f"expected text (a string or a list of runs), not {kind(value)}")

    def font(self, props: Props, text: str, where: str) -> Font:
        """The Font for `props`, after checking its file is declared and it can show `text`."""
        font = font_of(props)
        self.use(font, where)
        if font.family not in self.declared:
            try:
                text.encode(CORE_ENCODING)
            except UnicodeEncodeError as exc:
                bad = text[exc.start]
                raise ContentError(
                    "pdf",
                    "UNSUPPORTED_TEXT",
                    f"{where}: {bad!r} (U+{ord(bad):04X}) cannot be shown in the core font "
                    f"{font.family.title()}, which covers Western European (Windows-1252) text only: "
                    'declare a TTF font in `fonts` and use it, e.g. "defaultStyle": {"font": "DejaVu"}',
                ) from None
        if "{" in text:
            self.braces.append(text)
        return font

    def use(self, font: Font, where: str) -> None:
        variants = self.declared.get(font.family)
        if variants is None or (font.family, font.variant) in self.used:
            return
        file = variants.get(font.variant)
        if file is None:
            raise invalid(
                where,
                f"font {self.family_names[font.family]!r} has no {VARIANT_NAMES[font.variant]!r} file "
                "in `fonts`",
            )
        self.used[(font.family, font.variant)] = file

    def picture(self, source: Any, where: str) -> tuple[bytes, tuple[int, int]]:
        """An image's bytes and pixel size; a string may name an entry of the document's `images`."""
        if isinstance(source, str) and source in self.images:
            source = self.images[source]
        key = source if isinstance(source, str) else None
        if key is not None and key in self.pictures:
            return self.pictures[key]
        data = image_bytes(self.app, source, where, self.limits["max_image_size"])
        found = (data, image_size(data, where, self.max_pixels))
        self.picture_bytes += len(data)
        if self.picture_bytes > self.limits["max_output_size"]:
            raise ContentTooLarge(
                "pdf", "PDF_TOO_LARGE", f"{where}: the images add up to more than max_output_size"
            )
        if key is not None:
            self.pictures[key] = found
        return found

    def margin(self, props: Props, inset: tuple[float, float]) -> m.Margin:
        left, top, right, bottom = props.get("margin", ZERO)
        return (left + inset[0], top, right + inset[1], bottom)

    def link(self, node: Mapping[str, Any], where: str) -> str | None:
        link = node.get("link")
        if link is not None and (not isinstance(link, str) or not link):
            raise invalid(child(where, "link"), f"expected a URL, not {kind(link)}")
        return link

    @staticmethod
    def keys(node: Mapping[str, Any], allowed: frozenset[str] | set[str], where: str, what: str) -> None:
        for key in node:
            if key not in allowed:
                supported = ", ".join(sorted(allowed))
                raise invalid(child(where, key), f"unsupported key in {what} (supported: {supported})")
