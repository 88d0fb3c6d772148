"""Where a document's fonts and images come from: the app's box/ (confined as the fs module confines
BOX paths: no "..", symlinks resolved, nothing outside box/), base64 data URLs, or bytes the script
passes. Never a URL: a remote image is refused, not fetched. Image sizes are checked from the header
(bytes, then pixels) before fpdf2 decodes anything."""

from __future__ import annotations

import base64
import binascii
import io
import os
from pathlib import Path
from typing import Any

from ...engine.app import AppRuntime
from ...engine.paths import is_inside
from ..content.errors import ContentError, ContentTooLarge
from ..content.extras import need
from ._styles import invalid

#: What Pillow may open for a PDF: the raster formats PDF readers and fpdf2 handle well. SVG is not
#: among them (fpdf2 would parse it itself, and an SVG can point at other files).
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
FONT_EXTENSIONS = (".ttf", ".otf")
#: The tables fpdf2 reads from every font it embeds.
FONT_TABLES = ("head", "hhea", "hmtx", "cmap", "maxp")


def box_path(app: AppRuntime, path: Any, where: str) -> Path:
    """The resolved file for a box-relative `path` ("fonts/Inter.ttf", a leading "/" meaning box/), or
    INVALID_DOCUMENT if it is not a string, has ".." or NUL, resolves out of box/ or is not a file."""
    if not isinstance(path, str) or not path.strip():
        raise invalid(where, "expected a path relative to the app's box/ folder")
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if "\x00" in path or ".." in parts or not parts:
        raise invalid(
            where, f"{path!r} is refused: paths are relative to the app's box/ and may not use '..'"
        )
    shown = "box:/" + "/".join(parts)
    target = Path(os.path.realpath(app.box.joinpath(*parts)))
    if not is_inside(target, app.box):
        raise invalid(where, f"{shown} leaves the app's box/ (through a symlink) and is refused")
    if not target.is_file():
        raise invalid(where, f"{shown} is not a file in the app's box/")
    return target


def font_path(app: AppRuntime, path: Any, where: str) -> Path:
    """A box font file: .ttf or .otf (checked on the resolved file) whose table directory fontTools
    reads and holds the tables fpdf2 needs. A file that passes this but is corrupt further in is
    refused when fpdf2 loads it, and fontTools then leaves it open until garbage collection."""
    target = box_path(app, path, where)
    if target.suffix.lower() not in FONT_EXTENSIONS:
        raise invalid(where, f"{path!r} is not a TrueType or OpenType font (.ttf or .otf)")
    tt = need("fontTools.ttLib", module="pdf", package="fpdf2", extra="pdf")
    try:
        with open(target, "rb") as fh, tt.TTFont(fh, lazy=True) as font:
            usable = all(tag in font for tag in FONT_TABLES)
    except Exception:  # fontTools raises many kinds for a file that is not a font
        usable = False
    if not usable:
        raise invalid(where, "the file is not a TrueType or OpenType font fpdf2 can read")
    return target


def image_bytes(app: AppRuntime, source: Any, where: str, limit: int) -> bytes:
    """The bytes of an image given as a box path, a base64 data URL or bytes, at most `limit` bytes."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str) and source.startswith("data:"):
        data = _data_url(source, where, limit)
    elif isinstance(source, str) and source.lower().startswith(("http:", "https:", "ftp:", "file:", "//")):
        raise invalid(
            where,
            "remote images are not fetched: fetch it with the httpclient module and pass the bytes, "
            "or use a file in the app's box/ or a data URL",
        )
    elif isinstance(source, str):
        target = box_path(app, source, where)
        size = target.stat().st_size
        if size > limit:
            raise _too_large(where, size, limit)
        with open(target, "rb") as fh:
            data = fh.read(limit + 1)
    else:
        raise invalid(where, "expected an image: a box path, a data URL or bytes")
    if len(data) > limit:
        raise _too_large(where, len(data), limit)
    return data


def image_size(data: bytes, where: str, max_pixels: int) -> tuple[int, int]:
    """(width, height) in pixels from the image header, refused past `max_pixels` (image limits) before
    anything is decoded; INVALID_IMAGE if Pillow does not recognise it as one of FORMATS."""
    image = need("PIL.Image", module="pdf", package="Pillow", extra="pdf")
    try:
        with image.open(io.BytesIO(data), formats=FORMATS) as opened:
            width, height = opened.size
    except (image.DecompressionBombError, image.DecompressionBombWarning):
        raise ContentTooLarge("pdf", "IMAGE_TOO_LARGE", f"{where}: the image has too many pixels") from None
    except Exception:  # Pillow raises many kinds for a malformed header; all mean "not an image"
        raise ContentError(
            "pdf", "INVALID_IMAGE", f"{where}: not an image fpdf2 can embed ({', '.join(FORMATS)})"
        ) from None
    if width * height > max_pixels:
        raise ContentTooLarge(
            "pdf",
            "IMAGE_TOO_LARGE",
            f"{where}: the image is {width}x{height} pixels, "
            f"over the limit of {max_pixels} (image.max_pixels)",
        )
    return width, height


def _data_url(url: str, where: str, limit: int) -> bytes:
    head, comma, body = url.partition(",")
    if not comma or not head.lower().endswith(";base64"):
        raise invalid(where, "only base64 data URLs are supported (data:image/png;base64,...)")
    body = "".join(body.split())
    if len(body) // 4 * 3 > limit + 2:
        raise _too_large(where, len(body) // 4 * 3, limit)
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(where, "the data URL is not valid base64") from None


def _too_large(where: str, size: int, limit: int) -> ContentTooLarge:
    return ContentTooLarge(
        "pdf",
        "IMAGE_TOO_LARGE",
        f"{where}: the image is {size} bytes, over the limit of {limit} (pdf.max_image_size)",
    )
