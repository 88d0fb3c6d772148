"""Text styles of a pdf document: pdfmake's style keys, checked once, then cascaded from `defaultStyle`
through built-in and named styles to a node's own keys. Every error names the JSON pointer of the bad
value (`/styles/header/fontSize: expected a positive number`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..content.errors import ContentError

#: The PDF core fonts (no file needed; Windows-1252 text only), by the names a document may use.
CORE_FONTS = {"helvetica": "helvetica", "times": "times", "courier": "courier", "arial": "helvetica"}
#: What the core fonts can show: fpdf2 writes them with WinAnsiEncoding, which is Windows-1252.
CORE_ENCODING = "windows-1252"
ALIGNMENTS = {"left": "L", "center": "C", "right": "R", "justify": "J"}
DECORATIONS = {"underline": "U", "lineThrough": "S"}
#: A `lineHeight` of 1 spaces lines by 1.15 x the font size (about a font's ascent plus descent, as pdfmake).
LINE = 1.15
#: Keys that style text runs; then keys that style blocks (paragraphs, lists, tables, images).
RUN_KEYS = frozenset({"font", "fontSize", "bold", "italics", "color", "decoration"})
BLOCK_KEYS = frozenset({"alignment", "lineHeight", "margin"})
STYLE_KEYS = RUN_KEYS | BLOCK_KEYS | {"fillColor"}
#: Children inherit every key of their parent's style except these (as in pdfmake).
NOT_INHERITED = frozenset({"margin", "fillColor"})
HEADINGS = {
    1: {"fontSize": 22.0, "bold": True, "margin": (0.0, 12.0, 0.0, 6.0)},
    2: {"fontSize": 17.0, "bold": True, "margin": (0.0, 10.0, 0.0, 5.0)},
    3: {"fontSize": 14.0, "bold": True, "margin": (0.0, 8.0, 0.0, 4.0)},
}
DEFAULT_STYLE: dict[str, Any] = {
    "font": "helvetica",
    "fontSize": 12.0,
    "bold": False,
    "italics": False,
    "color": (0, 0, 0),
    "decoration": "",
    "alignment": "L",
    "lineHeight": 1.0,
}

Props = dict[str, Any]


def invalid(where: str, reason: str) -> ContentError:
    """The INVALID_DOCUMENT error for the value at JSON pointer `where`."""
    return ContentError("pdf", "INVALID_DOCUMENT", f"{where or '/'}: {reason}")


def child(where: str, key: str | int) -> str:
    """The JSON pointer of `key` under `where` (RFC 6901 escaping)."""
    return f"{where}/{str(key).replace('~', '~0').replace('/', '~1')}"


def number(value: Any, where: str, *, minimum: float = 0.0, positive: bool = False) -> float:
    """`value` as a float, if it is a number (not a bool) >= `minimum` (> 0 when `positive`)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(where, f"expected a number, not {kind(value)}")
    if value < minimum or (positive and value <= 0):
        raise invalid(where, f"expected a {'positive ' if positive else ''}number, not {value}")
    return float(value)


def margin(value: Any, where: str) -> tuple[float, float, float, float]:
    """pdfmake's margin: a number, [horizontal, vertical] or [left, top, right, bottom]."""
    if isinstance(value, list | tuple):
        sides = [number(v, child(where, i)) for i, v in enumerate(value)]
        if len(sides) == 2:
            return (sides[0], sides[1], sides[0], sides[1])
        if len(sides) == 4:
            return (sides[0], sides[1], sides[2], sides[3])
        raise invalid(where, f"expected 1, 2 or 4 numbers, not {len(sides)}")
    side = number(value, where)
    return (side, side, side, side)


def color(value: Any, where: str, names: Mapping[str, str]) -> tuple[int, int, int]:
    """A "#rgb" / "#rrggbb" color or an HTML color name, as (r, g, b)."""
    if isinstance(value, str):
        text = names.get(value.lower(), value)
        digits = text[1:] if text.startswith("#") else ""
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        if len(digits) == 6:
            try:
                return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
            except ValueError:
                pass
    raise invalid(where, f'expected a color ("#1a2b3c" or a name such as "red"), not {value!r}')


def choice(value: Any, where: str, options: Mapping[str, str]) -> str:
    if isinstance(value, str) and value in options:
        return options[value]
    raise invalid(where, f"expected one of {', '.join(options)}, not {value!r}")


def flag(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise invalid(where, f"expected true or false, not {kind(value)}")


def kind(value: Any) -> str:
    """How a value is named in an error ("a list", "the string 'x'", "null")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) < 40 else "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


class Styles:
    """The document's named styles and fonts, checked; `resolve` cascades them onto a node."""

    def __init__(self, fonts: Mapping[str, Any], names: Mapping[str, str]) -> None:
        self.fonts = fonts
        self.names = names
        self.named: dict[str, Props] = {}

    def props(self, raw: Any, where: str, allowed: frozenset[str] = STYLE_KEYS) -> Props:
        """A style object's keys, each checked and normalised (colors to tuples, margins to 4-tuples)."""
        if not isinstance(raw, dict):
            raise invalid(where, f"expected a style object, not {kind(raw)}")
        return {key: self.value(key, value, child(where, key), allowed) for key, value in raw.items()}

    def value(self, key: str, value: Any, where: str, allowed: frozenset[str] = STYLE_KEYS) -> Any:
        """One style key's value, checked and normalised."""
        if key not in allowed:
            supported = ", ".join(sorted(allowed))
            raise invalid(where, f"unsupported style key {key!r} here (supported: {supported})")
        if key == "font":
            family = value.lower() if isinstance(value, str) else ""
            if family in self.fonts:  # a declared family may shadow a core font's name
                return family
            if family in CORE_FONTS:
                return CORE_FONTS[family]
            declared = ", ".join(sorted(self.fonts)) or "none"
            raise invalid(
                where,
                f"unknown font {value!r}: use Helvetica, Times or Courier, or declare it in `fonts` "
                f"(declared: {declared})",
            )
        if key == "fontSize":
            size = number(value, where, positive=True)
            if size > 1000:
                raise invalid(where, f"a font size of {value} is over 1000 pt")
            return size
        if key in ("bold", "italics"):
            return flag(value, where)
        if key in ("color", "fillColor"):
            return color(value, where, self.names)
        if key == "decoration":
            return choice(value, where, DECORATIONS)
        if key == "alignment":
            return choice(value, where, ALIGNMENTS)
        if key == "lineHeight":
            return number(value, where, positive=True)
        return margin(value, where)

    def resolve(self, parent: Props, node: Mapping[str, Any], where: str, base: Props | None = None) -> Props:
        """`node`'s effective style: what it inherits from `parent`, then `base` (a heading's built-in
        style), its `style` names in order, then its own style keys (already read by the caller)."""
        props = {k: v for k, v in parent.items() if k not in NOT_INHERITED}
        if base:
            props.update(base)
        names = node.get("style")
        if names is not None:
            for i, name in enumerate(names if isinstance(names, list) else [names]):
                at = child(where, "style") + (f"/{i}" if isinstance(names, list) else "")
                if not isinstance(name, str):
                    raise invalid(at, f"expected a style name, not {kind(name)}")
                if name not in self.named:
                    raise invalid(at, f"no style named {name!r} in `styles`")
                props.update(self.named[name])
        for key, value in node.items():
            if key in STYLE_KEYS:
                props[key] = self.value(key, value, child(where, key))
        return props


@dataclass(frozen=True, slots=True)
class Font:
    """What fpdf2's set_font and set_text_color get: family, emphasis ("B", "I", "U", "S"), size, color."""

    family: str
    emphasis: str
    size: float
    color: tuple[int, int, int]

    @property
    def variant(self) -> str:
        """The font file this needs: "" (normal), "B", "I" or "BI"."""
        return ("B" if "B" in self.emphasis else "") + ("I" if "I" in self.emphasis else "")


def font_of(props: Props) -> Font:
    emphasis = ("B" if props["bold"] else "") + ("I" if props["italics"] else "") + props["decoration"]
    return Font(props["font"], emphasis, props["fontSize"], props["color"])
