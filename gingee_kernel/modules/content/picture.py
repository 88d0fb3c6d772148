"""Bytes that know their media type: what image, chart and qrcode return. A Picture is plain `bytes` to
everything else (send it, store it, write it), shows itself inline when it is a notebook cell's value, and
gives a data URL for an <img src>."""

from __future__ import annotations

import base64
from typing import Any


class Picture(bytes):
    """Encoded image (or PDF) bytes with their media type in `.content_type`."""

    content_type: str

    def __new__(cls, data: bytes, content_type: str) -> Picture:
        self = super().__new__(cls, data)
        self.content_type = content_type
        return self

    def data_url(self) -> str:
        """`data:<type>;base64,...`, for an <img src> or a CSS url()."""
        return f"data:{self.content_type};base64,{base64.b64encode(self).decode('ascii')}"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        text = f"<{self.content_type}, {len(self)} bytes>"
        if self.content_type == "image/svg+xml":
            return {"image/svg+xml": self.decode("utf-8"), "text/plain": text}
        if self.content_type in ("image/png", "image/jpeg", "image/gif", "image/webp"):
            return {self.content_type: base64.b64encode(self).decode("ascii"), "text/plain": text}
        return {"text/plain": text}

    def __repr__(self) -> str:
        return f"<Picture {self.content_type}, {len(self)} bytes>"
