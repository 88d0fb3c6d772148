"""Gingee `qrcode` module: QR codes (segno) and 1D barcodes (python-barcode) as PNG or SVG. Ungated.

    from gingee_kernel import qrcode

    async def handle(g):
        return await qrcode.qrcode("https://example.com/t/42", scale=8)   # a PNG, sent as image/png

    await qrcode.qrcode("WIFI:S:home;T:WPA;P:secret;;", format="svg", dark="#1e3a8a")
    await qrcode.qrcode(b"\\x00\\x01 raw bytes", output="data_url")   # 'data:image/png;base64,...'
    await qrcode.barcode("ean13", "5901234123457")                    # an SVG Picture
    await qrcode.barcode("code128", "ORDER-1234", format="png", scale=3)  # PNG needs Pillow

Both are coroutines, as in Node: segno encodes in pure Python, which takes 4-10 ms for a URL and up
to a second for the largest code at the largest scale, so the drawing runs in the content thread pool
(within the request's time budget), never on the event loop. The arguments are checked first, on the
caller's side. The result is a Picture (bytes with `.content_type`, shown inline in a notebook) or,
with `output="data_url"`, a `data:` URL string.

A QR code is always a full-size QR (never Micro QR, which many phone readers do not read). `error` is
the minimum error-correction level: segno raises it when the higher level fits in the same symbol.

Errors (ContentError, uncaught a JSON 422; ContentTooLarge a 413): DATA_TOO_LONG when the data does not
fit the largest QR code (2953 bytes, 4296 alphanumeric or 7089 digits at level "l") or a barcode's
MAX_BARCODE_LENGTH; INVALID_BARCODE for content the symbology cannot encode (a wrong check digit,
letters in an EAN); INVALID_ARGUMENT for an unknown barcode kind, format, colour or size;
SCALE_TOO_LARGE (413) for a scale over app.json `qrcode.max_scale` (default 64) and
OUTPUT_TOO_LARGE (413) for a PNG barcode over MAX_BARCODE_PIXELS.
"""

from __future__ import annotations

import io
import re
from typing import Any, Literal

from .chart.colors import parse_color, to_hex
from .content.errors import ContentError, ContentTooLarge
from .content.extras import need
from .content.offload import Budget, run_cpu
from .content.picture import Picture
from .content.settings import limits

__all__ = ["BARCODE_KINDS", "MAX_BARCODE_LENGTH", "MAX_BARCODE_PIXELS", "barcode", "qrcode"]

Format = Literal["png", "svg"]
Output = Literal["bytes", "data_url"]

#: Barcode kinds (and aliases) by python-barcode's name for them.
BARCODE_KINDS: dict[str, str] = {
    "codabar": "codabar",
    "nw-7": "codabar",
    "code128": "code128",
    "code39": "code39",
    "ean13": "ean13",
    "ean": "ean13",
    "ean8": "ean8",
    "ean14": "ean14",
    "gtin": "ean14",
    "gs1_128": "gs1_128",
    "isbn13": "isbn13",
    "isbn": "isbn13",
    "isbn10": "isbn10",
    "issn": "issn",
    "itf": "itf",
    "jan": "jan",
    "pzn": "pzn",
    "upca": "upca",
    "upc": "upca",
}
#: Characters of barcode data: longer is refused (no reader scans a 1D code that wide).
MAX_BARCODE_LENGTH = 256
#: Pixels of a PNG barcode (width x height); a larger one is refused before it is drawn.
MAX_BARCODE_PIXELS = 25_000_000
_MAX_BORDER = 100

#: Kinds with a check digit: digits before it, and how python-barcode's object spells the full number.
_CHECKED: dict[str, tuple[int, str]] = {
    "ean13": (12, "ean"),
    "ean8": (7, "ean"),
    "ean14": (13, "ean"),
    "jan": (12, "ean"),
    "isbn13": (12, "ean"),
    "upca": (11, "upc"),
    "isbn10": (9, "isbn10"),
    "issn": (7, "issn"),
    "pzn": (6, "pzn"),
}
_DIGITS = re.compile(r"[0-9]+")
_DIGITS_X = re.compile(r"[0-9]+[0-9Xx]?")
_PX_PER_MM = 10  # PNG barcodes: 10 px a millimetre, so a module of `scale` px is scale/10 mm in the SVG


def _bad(code: str, reason: str) -> ContentError:
    return ContentError("qrcode", code, reason)


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.lower() not in allowed:
        raise _bad("INVALID_ARGUMENT", f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value.lower()


def _int(name: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _bad("INVALID_ARGUMENT", f"{name} must be a whole number of at least {low}, not {value!r}")
    if high is not None and value > high:
        raise _bad("INVALID_ARGUMENT", f"{name} must be at most {high}, not {value}")
    return value


def _scale(value: object) -> int:
    scale = _int("scale", value, 1)
    most = limits("qrcode")["max_scale"]
    if scale > most:
        raise ContentTooLarge(
            "qrcode",
            "SCALE_TOO_LARGE",
            f"scale {scale} is over the limit of {most} (app.json qrcode.max_scale)",
        )
    return scale


def _colour(name: str, value: object, transparent_ok: bool = True) -> str | None:
    """A validated colour as `#rrggbb` (`#rrggbbaa` when translucent), None for fully transparent."""
    if value is None and transparent_ok:
        return None
    try:
        rgba = parse_color(value)
    except ValueError as exc:
        raise _bad("INVALID_ARGUMENT", f"{name}: {exc}") from None
    if rgba[3] == 0 and transparent_ok:
        return None
    return to_hex(rgba, alpha=rgba[3] < 1)


def _finish(data: bytes, content_type: str, output: str) -> Picture | str:
    picture = Picture(data, content_type)
    return picture.data_url() if output == "data_url" else picture


async def qrcode(
    text: str | bytes,
    *,
    format: Format = "png",
    output: Output = "bytes",
    scale: int = 4,
    border: int = 4,
    error: str = "m",
    dark: str = "#000",
    light: str | None = "#fff",
) -> Picture | str:
    """A QR code of `text`: a str in numeric or alphanumeric mode when it fits them, else as UTF-8
    bytes (no ECI header, as Node's qrcode); bytes as they are. `scale` is pixels (SVG units) per
    module, `border` the quiet zone in modules, `error` the minimum error correction (l, m, q, h);
    `light=None` or "transparent" leaves the background transparent. The PNG is a 1-bit or palette
    image, (modules + 2*border)*scale pixels square."""
    if isinstance(text, bytearray | memoryview):
        text = bytes(text)
    if not isinstance(text, str | bytes):
        raise _bad("INVALID_ARGUMENT", f"the text must be str or bytes, not {type(text).__name__}")
    if not text:
        raise _bad("INVALID_ARGUMENT", "the text is empty: a QR code needs something to encode")
    kind = _choice("format", format, ("png", "svg"))
    output = _choice("output", output, ("bytes", "data_url"))  # type: ignore[assignment]
    level = _choice("error", error, ("l", "m", "q", "h"))
    size = _scale(scale)
    quiet = _int("border", border, 0, _MAX_BORDER)
    colours = {"dark": _colour("dark", dark, transparent_ok=False), "light": _colour("light", light)}
    segno = need("segno", module="qrcode", package="segno", extra="qrcode")
    options: dict[str, Any] = {"kind": kind, "scale": size, "border": quiet, **colours}
    if kind == "svg":
        options.update(xmldecl=True, svgns=True, nl=False)
    data = await run_cpu("qrcode", _draw_qr, segno, text, level, options)
    return _finish(data, "image/svg+xml" if kind == "svg" else "image/png", output)


def _draw_qr(budget: Budget, segno: Any, text: str | bytes, level: str, options: dict[str, Any]) -> bytes:
    try:
        encoding = "utf-8" if isinstance(text, str) else None  # as Node's qrcode: UTF-8 bytes, no ECI
        symbol = segno.make(text, error=level, micro=False, encoding=encoding)
    except segno.DataOverflowError:
        raise _bad(
            "DATA_TOO_LONG",
            f"{len(text)} {'bytes' if isinstance(text, bytes) else 'characters'} do not fit in a QR code "
            f"at error level {level!r} (at most 2953 bytes at level 'l'): shorten it, or encode a link to it",
        ) from None
    except (ValueError, UnicodeError) as exc:
        raise _bad("INVALID_ARGUMENT", f"the text cannot be encoded: {exc}") from None
    budget.check()
    buffer = io.BytesIO()
    symbol.save(buffer, **options)
    return buffer.getvalue()


def _barcode_library() -> Any:
    return need("barcode", module="qrcode", package="python-barcode", extra="qrcode")


def _checked(kind: str, text: str, code: Any) -> None:
    """Refuse what python-barcode would silently fix: a wrong check digit, or digits past the end."""
    digits, attribute = _CHECKED[kind]
    value = text
    if kind in ("isbn13", "isbn10", "issn"):
        value = value.replace("-", "")
    if kind == "pzn" and value.upper().startswith("PZN"):
        value = value[3:].lstrip("-")
    pattern = _DIGITS_X if kind in ("isbn10", "issn") else _DIGITS
    if not pattern.fullmatch(value) or "X" in value.upper()[:-1]:
        raise _bad("INVALID_BARCODE", f"{kind} takes digits only, not {text!r}")
    if len(value) not in (digits, digits + 1):
        raise _bad(
            "INVALID_BARCODE",
            f"{kind} takes {digits} digits, or {digits + 1} with the check digit; {text!r} has {len(value)}",
        )
    full = str(getattr(code, attribute)).upper()
    if len(value) == digits + 1 and value.upper() != full:
        raise _bad(
            "INVALID_BARCODE",
            f"{text!r} has a wrong check digit for {kind}: the last digit should be {full[-1]}, "
            f"making {full}",
        )


def _human(text: str) -> str:
    """The line printed under the bars, with control characters (invalid in SVG) shown as U+FFFD."""
    return "".join(char if char.isprintable() else "\ufffd" for char in text)


async def barcode(
    kind: str,
    text: str,
    *,
    format: Format = "svg",
    output: Output = "bytes",
    scale: int = 2,
    height: float = 15.0,
    border: int = 10,
    label: bool = True,
    font_size: int = 10,
    dark: str = "#000",
    light: str | None = "#fff",
) -> Picture | str:
    """A 1D barcode of `text` in `kind` (see BARCODE_KINDS). A module (the narrowest bar) is `scale`
    px wide in the PNG (scale/10 mm in the SVG); bars are `height` mm tall (10 px a mm in the PNG);
    `border` is the quiet zone each side, in modules; `label` prints the human-readable text below
    in `font_size` points. For the kinds with a check digit, give it or leave it out: a wrong one is
    INVALID_BARCODE, never silently replaced. PNG needs Pillow (MissingExtra otherwise)."""
    if not isinstance(kind, str) or kind.lower() not in BARCODE_KINDS:
        raise _bad(
            "INVALID_ARGUMENT", f"unknown barcode kind {kind!r}: use one of {', '.join(BARCODE_KINDS)}"
        )
    name = BARCODE_KINDS[kind.lower()]
    if not isinstance(text, str):
        raise _bad("INVALID_ARGUMENT", f"the barcode text must be str, not {type(text).__name__}")
    if not text:
        raise _bad("INVALID_ARGUMENT", "the barcode text is empty")
    if len(text) > MAX_BARCODE_LENGTH:
        raise _bad(
            "DATA_TOO_LONG", f"{len(text)} characters is over the {MAX_BARCODE_LENGTH} a barcode takes"
        )
    kind_format = _choice("format", format, ("png", "svg"))
    output = _choice("output", output, ("bytes", "data_url"))  # type: ignore[assignment]
    module_px = _scale(scale)
    quiet = _int("border", border, 0, _MAX_BORDER)
    points = _int("font_size", font_size, 1, 200)
    if not isinstance(label, bool):
        raise _bad("INVALID_ARGUMENT", f"label must be True or False, not {label!r}")
    if isinstance(height, bool) or not isinstance(height, int | float) or not 1 <= height <= 500:
        raise _bad(
            "INVALID_ARGUMENT", f"height must be a number of millimetres from 1 to 500, not {height!r}"
        )
    foreground = _colour("dark", dark, transparent_ok=False)
    background = _colour("light", light)
    library = _barcode_library()
    if kind_format == "png":
        need("PIL.Image", module="qrcode", package="Pillow", extra="qrcode")
    sizes = {"scale": module_px, "height": float(height), "border": quiet, "font_size": points}
    colours = (foreground, background)
    data = await run_cpu("qrcode", _draw_barcode, library, name, text, kind_format, sizes, label, colours)
    return _finish(data, "image/png" if kind_format == "png" else "image/svg+xml", output)


def _pixel_writer() -> Any:
    """python-barcode's ImageWriter with the image size and each bar's edges rounded to whole pixels
    (the original truncates float positions, so a bar comes out a pixel short or long)."""
    from barcode.writer import ImageWriter
    from PIL import Image, ImageDraw

    class PixelWriter(ImageWriter):  # type: ignore[misc,valid-type]
        def _init(self, code: list[str]) -> None:
            width, height = self.calculate_size(len(code[0]), 1)
            self._image = Image.new(self.mode, (round(width), round(height)), self.background)
            self._draw = ImageDraw.Draw(self._image)

        def _paint_module(self, xpos: float, ypos: float, width: float, color: str) -> None:
            left, right = round(xpos), round(xpos + width) - 1
            self._draw.rectangle([(left, round(ypos)), (right, round(ypos + self.module_height))], fill=color)

    return PixelWriter


def _geometry(kind_format: str, sizes: dict[str, Any], label: bool) -> dict[str, float]:
    """The writer's size options. The SVG is in millimetres; the PNG writer runs at 25.4 dpi, so its
    "millimetre" is one pixel and every size is scaled by 10 (px a mm): bars are whole pixels."""
    unit = 1 if kind_format == "svg" else _PX_PER_MM
    module = sizes["scale"] * unit / _PX_PER_MM  # exactly `scale` in the PNG
    return {
        "module_width": module,
        "module_height": sizes["height"] * unit,
        "quiet_zone": sizes["border"] * module,
        "font_size": sizes["font_size"] * unit if label else 0,
        "margin_top": unit,
        "margin_bottom": unit,
        "text_distance": 5 * unit,
        "text_line_distance": unit,
    }


def _draw_barcode(
    budget: Budget,
    library: Any,
    name: str,
    text: str,
    kind_format: str,
    sizes: dict[str, Any],
    label: bool,
    colours: tuple[str | None, str | None],
) -> bytes:
    foreground, background = colours
    writer: Any
    if kind_format == "png":
        translucent = background is None or len(background) > 7 or len(str(foreground)) > 7
        writer = _pixel_writer()(format="PNG", mode="RGBA" if translucent else "RGB", dpi=25.4)
    else:
        from barcode.writer import SVGWriter

        writer = SVGWriter()
    try:
        code = library.get_barcode_class(name)(text, writer=writer)
        modules = len(code.build()[0])
    except (library.errors.BarcodeError, ValueError, IndexError) as exc:
        raise _bad("INVALID_BARCODE", f"{text!r} cannot be a {name} barcode: {exc}") from None
    except KeyError as exc:  # code39's checksum looks characters up before it validates them
        raise _bad(
            "INVALID_BARCODE", f"{text!r} cannot be a {name} barcode: {exc} is not valid for it"
        ) from None
    if name in _CHECKED:
        _checked(name, text, code)
    budget.check()
    geometry = _geometry(kind_format, sizes, label)
    if kind_format == "png":
        width = (modules + 2 * sizes["border"]) * sizes["scale"]
        tall = geometry["module_height"] + 2 * _PX_PER_MM
        if label:
            tall += geometry["font_size"] * 0.3528 / 2 + geometry["text_distance"]
        if width * tall > MAX_BARCODE_PIXELS:
            raise ContentTooLarge(
                "qrcode",
                "OUTPUT_TOO_LARGE",
                f"the barcode would be {width}x{round(tall)} px, over {MAX_BARCODE_PIXELS} pixels: "
                "lower the scale or the height",
            )
    options = {
        **geometry,
        "write_text": label,
        "foreground": foreground,
        "background": background if background is not None else "#0000",
    }
    if background is None and kind_format == "svg":
        options["background"] = "transparent"
    buffer = io.BytesIO()
    code.write(buffer, options, text=_human(code.get_fullcode()) if label else None)
    return buffer.getvalue()
