"""The content modules' limits: defaults, overridden per app by its app.json `<module>` object
(`"image": {"max_pixels": 40000000}`) or `app.use("image", max_pixels=...)` in a notebook."""

from __future__ import annotations

from typing import Any

from ...engine.app import AppRuntime
from ...engine.context import current_app
from ...engine.sizes import parse_size
from ...errors import NoAppContext

#: Every limit of every content module, with its default. Sizes are bytes (app.json also takes "10mb").
DEFAULTS: dict[str, dict[str, int]] = {
    "html": {"max_input_size": 10 * 10**6},
    "image": {"max_input_size": 50 * 10**6, "max_pixels": 50 * 10**6, "max_output_size": 50 * 10**6},
    "pdf": {"max_pages": 1000, "max_output_size": 50 * 10**6, "max_image_size": 20 * 10**6},
    "zip": {
        "max_entries": 10_000,
        "max_unpacked_size": 10**9,
        "max_ratio": 200,
        "max_output_size": 10**9,
    },
    "chart": {"max_pixels": 16 * 10**6, "max_points": 100_000},
    "qrcode": {"max_scale": 64},
}
_SIZES = {"max_input_size", "max_output_size", "max_unpacked_size", "max_image_size"}


def limits(module: str, app: AppRuntime | None = None) -> dict[str, int]:
    """`module`'s limits for `app` (default: the app running now; the defaults outside any app, as in a
    notebook cell calling an ungated module): DEFAULTS overridden by app.json `<module>` (schema-checked)."""
    if app is None:
        try:
            app = current_app()
        except NoAppContext:
            return dict(DEFAULTS[module])
    own: dict[str, Any] = app.config.get(module) or {}
    merged = dict(DEFAULTS[module])
    for key, value in own.items():
        if key in merged:
            merged[key] = parse_size(value) if key in _SIZES else int(value)
    return merged
