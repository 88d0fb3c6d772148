"""What an input claims to be, read from its first bytes without Pillow: the format (only the ones the
module accepts) and, for the two formats whose Pillow reader sizes a canvas while it opens (GIF grows it to
the first frame's extent, WebP allocates it), the pixel size they declare, so the limit is checked first."""

from __future__ import annotations

import struct

#: Formats accepted as input, by the name Pillow gives them. Others (EPS runs Ghostscript, PSD, ICO,
#: the long tail of legacy readers) are refused as INVALID_IMAGE before any Pillow reader sees them.
ACCEPTED = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP")


def kind(data: bytes) -> str | None:
    """The input's format, one of ACCEPTED, from its magic bytes; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if data[:2] == b"BM":
        return "BMP"
    return None


def canvas(fmt: str, data: bytes) -> tuple[int, int] | None:
    """The canvas a GIF or WebP reader will size (width, height), or None when the header does not say
    (the reader then fails on it) and for the other formats (their readers only parse the header)."""
    try:
        if fmt == "GIF":
            return _gif(data)
        if fmt == "WEBP":
            return _webp(data)
    except (IndexError, struct.error):
        return None
    return None


def _gif(data: bytes) -> tuple[int, int]:
    width, height, flags = struct.unpack_from("<HHB", data, 6)
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    while pos < len(data):
        block = data[pos]
        if block == 0x21:  # an extension: label, then sub-blocks up to an empty one
            pos += 2
            while data[pos]:
                pos += data[pos] + 1
            pos += 1
        elif block == 0x2C:  # the first frame: Pillow grows the canvas to hold it
            left, top, w, h = struct.unpack_from("<HHHH", data, pos + 1)
            return max(width, left + w), max(height, top + h)
        else:
            break
    return width, height


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack_from("<HH", data, 26)
        return w & 0x3FFF, h & 0x3FFF
    return None
