"""A document's page setup, metadata and font files: `pageSize` / `pageOrientation` / `pageMargins`,
`info` and `fonts` (family -> {normal, bold, italics, bolditalics} box paths), checked."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ...engine.app import AppRuntime
from . import _model as m
from ._sources import font_path
from ._styles import child, choice, invalid, kind, margin, number

#: Page sizes in points (ISO 216 and US), portrait.
PAGE_SIZES = {
    "A3": (841.89, 1190.55),
    "A4": (595.28, 841.89),
    "A5": (419.53, 595.28),
    "LETTER": (612.0, 792.0),
    "LEGAL": (612.0, 1008.0),
}
INFO_KEYS = ("title", "author", "subject", "keywords", "creator")
FONT_VARIANTS = {"normal": "", "bold": "B", "italics": "I", "bolditalics": "BI"}
VARIANT_NAMES = {v: k for k, v in FONT_VARIANTS.items()}


def page(doc: Mapping[str, Any], at: Callable[[str], str]) -> tuple[tuple[float, float], m.Margin]:
    """(width, height) in points and the page margins (left, top, right, bottom); `at` names a key."""
    where = at("pageSize")
    value = doc.get("pageSize", "A4")
    if isinstance(value, str) and value.upper() in PAGE_SIZES:
        width, height = PAGE_SIZES[value.upper()]
    elif isinstance(value, list) and len(value) == 2:
        width, height = (number(v, child(where, i), positive=True) for i, v in enumerate(value))
    elif isinstance(value, dict) and set(value) == {"width", "height"}:
        width = number(value["width"], child(where, "width"), positive=True)
        height = number(value["height"], child(where, "height"), positive=True)
    else:
        raise invalid(
            where, f"expected {', '.join(PAGE_SIZES)} or [width, height] in points, not {kind(value)}"
        )
    if max(width, height) > 14400:
        raise invalid(where, "a PDF page is at most 14400 points (200 inches) on a side")
    orientation = doc.get("pageOrientation", "portrait")
    if orientation not in ("portrait", "landscape"):
        raise invalid(at("pageOrientation"), f"expected portrait or landscape, not {kind(orientation)}")
    if (orientation == "landscape") == (width < height):
        width, height = height, width
    margins = margin(doc.get("pageMargins", 40), at("pageMargins"))
    if width - margins[0] - margins[2] < 36 or height - margins[1] - margins[3] < 36:
        raise invalid(at("pageMargins"), "the margins leave less than half an inch of the page")
    return (width, height), margins


def info(value: Any, where: str) -> dict[str, str]:
    """The document's title, author, subject, keywords and creator."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(where, f"expected an object, not {kind(value)}")
    for key, text in value.items():
        if key not in INFO_KEYS:
            raise invalid(child(where, key), f"unsupported info key (supported: {', '.join(INFO_KEYS)})")
        if not isinstance(text, str):
            raise invalid(child(where, key), f"expected a string, not {kind(text)}")
    return dict(value)


def fonts(app: AppRuntime, value: Any, where: str) -> tuple[dict[str, dict[str, m.FontFile]], dict[str, str]]:
    """The declared families, by lower-case name, each variant ("", "B", "I", "BI") to its resolved box
    file; and each family's name as the document spells it (for errors)."""
    if value is None:
        return {}, {}
    if not isinstance(value, dict):
        raise invalid(where, f"expected an object of font families, not {kind(value)}")
    declared: dict[str, dict[str, m.FontFile]] = {}
    names: dict[str, str] = {}
    for name, files in value.items():
        at = child(where, name)
        if not isinstance(name, str) or not name.strip() or name.lower() in declared:
            raise invalid(at, "expected a unique font family name")
        if not isinstance(files, dict) or not files:
            raise invalid(
                at, 'expected {"normal": "fonts/X.ttf", "bold": ..., "italics": ..., "bolditalics": ...}'
            )
        variants = {}
        for key, path in files.items():
            variant, file_at = choice(key, child(at, key), FONT_VARIANTS), child(at, key)
            variants[variant] = m.FontFile(font_path(app, path, file_at), file_at)
        declared[name.lower()] = variants
        names[name.lower()] = name
    return declared, names
