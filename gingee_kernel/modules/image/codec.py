"""Pillow at the edges of the pipeline: opening an input's header (only the accepted formats, with the
pixel limit checked before any pixel is allocated), decoding it (first frame only, EXIF orientation applied,
one of a few plain modes), encoding the result (no EXIF, XMP or comments; the ICC profile kept), and
Pillow's exceptions turned into ContentError.

Pillow's own decompression-bomb check (Image.MAX_IMAGE_PIXELS) never fires: inputs are opened with the
format's reader directly, not Image.open, and every size Pillow later checks itself (a crop, a TIFF strip)
is already within `max_pixels`, which is capped at Pillow's limit.
"""

from __future__ import annotations

import importlib
import io
import struct
from typing import Any

from ..content.errors import ContentError, ContentTooLarge
from ..content.extras import need
from . import sniff

Box = tuple[float, float, float, float]

#: Exceptions Pillow raises on broken input (its readers and decoders use all of these).
BROKEN = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, TypeError, KeyError,
          ZeroDivisionError, OverflowError)  # fmt: skip

#: Output formats: name -> (Pillow format, media type, largest side the format can hold).
OUTPUTS = {
    "png": ("PNG", "image/png", 2**31 - 1),
    "jpeg": ("JPEG", "image/jpeg", 65_500),
    "webp": ("WEBP", "image/webp", 16_383),
    "gif": ("GIF", "image/gif", 65_535),
}
DEFAULT_QUALITY = 80  # sharp's default for JPEG and WebP
_READERS = {
    "JPEG": ("PIL.JpegImagePlugin", "JpegImageFile"),  # never MPO: its reader runs Pillow's bomb check
    "PNG": ("PIL.PngImagePlugin", "PngImageFile"),
    "GIF": ("PIL.GifImagePlugin", "GifImageFile"),
    "WEBP": ("PIL.WebPImagePlugin", "WebPImageFile"),
    "TIFF": ("PIL.TiffImagePlugin", "TiffImageFile"),
    "BMP": ("PIL.BmpImagePlugin", "BmpImageFile"),
}
#: Pillow's Image.transpose method for each EXIF orientation (as ImageOps.exif_transpose).
_TRANSPOSE = {2: 0, 3: 3, 4: 1, 5: 5, 6: 4, 7: 6, 8: 2}
_PLAIN = {"1": "L", "P": "RGB", "PA": "RGBA", "La": "LA", "RGBa": "RGBA", "RGBX": "RGB", "YCbCr": "RGB",
          "LAB": "RGB", "HSV": "RGB", "F": "L"}  # fmt: skip
_FAMILY = {"L": "grey", "LA": "grey", "RGB": "rgb", "RGBA": "rgb", "CMYK": "cmyk"}


def pil() -> Any:
    """PIL.Image, or MissingExtra saying to `pip install 'gingee[image]'`."""
    return need("PIL.Image", module="image", package="Pillow", extra="image")


def invalid(reason: str) -> ContentError:
    """INVALID_IMAGE (422). Raised `from` Pillow's exception, which the client never sees."""
    return ContentError("image", "INVALID_IMAGE", reason)


def too_large(reason: str) -> ContentTooLarge:
    return ContentTooLarge("image", "IMAGE_TOO_LARGE", reason)


def pixel_limit(max_pixels: int) -> int:
    """`max_pixels`, capped at Pillow's MAX_IMAGE_PIXELS so that Pillow never warns about a size."""
    ceiling = pil().MAX_IMAGE_PIXELS
    return max_pixels if ceiling is None else min(max_pixels, ceiling)


def check_pixels(size: tuple[int, int], max_pixels: int, what: str = "the image") -> None:
    """ContentTooLarge when `size` has more than `max_pixels` pixels (or a side under 1)."""
    width, height = size
    if width * height > max_pixels:
        raise too_large(
            f"{what} would be {width}x{height} pixels ({width * height}), over the limit of {max_pixels} "
            '(app.json "image": {"max_pixels": ...})'
        )


def open_header(data: bytes, max_pixels: int) -> Any:
    """The input opened by its format's reader, which parses the header only; INVALID_IMAGE for
    anything else, IMAGE_TOO_LARGE when it declares more than `max_pixels` pixels."""
    fmt = sniff.kind(data)
    if fmt is None:
        raise invalid("the input is not an image in a supported format (" + ", ".join(sniff.ACCEPTED) + ")")
    declared = sniff.canvas(fmt, data)
    if declared is not None:
        check_pixels(declared, max_pixels)
    image = pil()
    module, name = _READERS[fmt]
    try:
        reader = getattr(importlib.import_module(module), name)
        opened = reader(io.BytesIO(data))
    except image.DecompressionBombError as exc:
        raise too_large(f"the {fmt} image declares more pixels than Pillow accepts") from exc
    except ImportError as exc:  # a Pillow built without this format's codec
        raise invalid(f"this server's Pillow cannot read {fmt}") from exc
    except BROKEN as exc:
        raise invalid(f"the {fmt} header is broken") from exc
    check_pixels(opened.size, max_pixels)
    return opened


def orientation(opened: Any) -> int:
    """The EXIF orientation (1-8, 1 when there is none or it is broken), read from the header only."""
    try:
        if opened.format == "TIFF":
            value = opened.tag_v2.get(0x0112, 1)
        else:
            raw = opened.info.get("exif")
            if not raw:
                return 1
            exif = pil().Exif()
            exif.load(raw)
            value = exif.get(0x0112, 1)
    except BROKEN:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def oriented(size: tuple[int, int], turn: int) -> tuple[int, int]:
    """`size` as displayed: orientations 5 to 8 swap the sides."""
    return (size[1], size[0]) if turn >= 5 else size


def decode(opened: Any, turn: int, draft: tuple[int, int] | None) -> tuple[Any, Box]:
    """The first frame's pixels, turned upright and in a plain mode (L, LA, RGB, RGBA or CMYK), and the
    area of it that stands for the whole input: smaller than the image only after a JPEG `draft`
    (decoding at 1/2, 1/4 or 1/8 scale, at least `draft` pixels, as Pillow's thumbnail does)."""
    width, height = opened.size
    region: Box = (0.0, 0.0, float(width), float(height))
    try:
        if draft is not None and opened.format == "JPEG" and opened.mode in ("RGB", "L", "CMYK"):
            drafted = opened.draft(opened.mode, draft)
            if drafted is not None:
                region = drafted[1]
        opened.load()
    except BROKEN as exc:
        raise invalid(f"the {opened.format} data is truncated or corrupt") from exc
    picture = opened
    if turn in _TRANSPOSE:
        region = _turn_box(region, picture.size, turn)
        picture = picture.transpose(_TRANSPOSE[turn])
    return plain(picture), region


def plain(picture: Any) -> Any:
    """`picture` in L, LA, RGB, RGBA or CMYK (palette and transparency keys become alpha; 16-bit greys
    are scaled to 8 bits rather than clipped)."""
    mode = picture.mode
    if mode in ("L", "RGB", "P") and "transparency" in picture.info:
        return picture.convert("LA" if mode == "L" else "RGBA")
    if mode.startswith("I"):
        return picture.convert("I").point(lambda v: v / 257 + 0.5).convert("L")
    if mode in _PLAIN:
        return picture.convert(_PLAIN[mode])
    return picture


def has_alpha(picture: Any) -> bool:
    return picture.mode in ("LA", "RGBA")


def encode(picture: Any, fmt: str, quality: int | None, icc: tuple[str, bytes] | None) -> bytes:
    """`picture` encoded as `fmt` (a key of OUTPUTS). Nothing of the input's metadata is written but its
    ICC profile (`(family, profile)`), and that only while the colours are still in that family."""
    name = OUTPUTS[fmt][0]
    if fmt == "jpeg":
        if has_alpha(picture):
            picture = flatten(picture, (255, 255, 255))
        elif picture.mode not in ("L", "RGB", "CMYK"):
            picture = picture.convert("RGB")
    elif picture.mode == "CMYK":
        picture = picture.convert("RGB")
    params: dict[str, Any] = {}
    if fmt in ("jpeg", "webp"):
        params["quality"] = quality or DEFAULT_QUALITY
    if icc is not None and icc[0] == _FAMILY.get(picture.mode):
        params["icc_profile"] = icc[1]
    picture.info = {}  # EXIF, XMP, comments, text chunks, DPI: none goes to the output
    out = io.BytesIO()
    try:
        picture.save(out, format=name, **params)
    except BROKEN as exc:
        raise ContentError("image", "ENCODE_FAILED", f"the image could not be encoded as {fmt}") from exc
    return out.getvalue()


def icc_of(opened: Any) -> tuple[str, bytes] | None:
    """The input's ICC profile with its colour family, or None."""
    profile = opened.info.get("icc_profile")
    family = _FAMILY.get(plain_mode(opened.mode, opened.info))
    return (family, profile) if profile and family else None


def plain_mode(mode: str, info: dict[str, Any]) -> str:
    """The mode `plain` turns `mode` into."""
    if mode in ("L", "RGB", "P") and "transparency" in info:
        return "LA" if mode == "L" else "RGBA"
    if mode.startswith("I"):
        return "L"
    return _PLAIN.get(mode, mode)


def flatten(picture: Any, rgb: tuple[int, int, int]) -> Any:
    """`picture` (with alpha) laid on an opaque `rgb` background, without alpha."""
    image = pil()
    rgba = picture.convert("RGBA")
    canvas = image.new("RGBA", rgba.size, (*rgb, 255))
    canvas.alpha_composite(rgba)
    return canvas.convert("RGB")


def _turn_box(box: Box, size: tuple[int, int], turn: int) -> Box:
    """`box`, an area of an image of `size`, where it lands once the image is turned for orientation
    `turn` (what Image.transpose(_TRANSPOSE[turn]) does to each pixel)."""
    x0, y0, x1, y1 = box
    w, h = size
    return {
        2: (w - x1, y0, w - x0, y1),
        3: (w - x1, h - y1, w - x0, h - y0),
        4: (x0, h - y1, x1, h - y0),
        5: (y0, x0, y1, x1),
        6: (h - y1, x0, h - y0, x1),
        7: (h - y1, w - x1, h - y0, w - x0),
        8: (y0, w - x1, y1, w - x0),
    }[turn]
