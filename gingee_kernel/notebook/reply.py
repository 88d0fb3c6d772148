"""What `app.request()` returns: status, headers and body, shown readably in a notebook cell."""

from __future__ import annotations

import base64
import html
import json
from typing import Any

#: Reply bodies a cell shows as the picture they are (an <img> of a data URL: an SVG's scripts never run
#: there), up to this size.
_PICTURES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"})
_PICTURE_MAX = 4 * 2**20


class BufferTransport:
    """Collects a streamed reply (server-sent events, send_object) so app.request() can return it whole."""

    def __init__(self) -> None:
        self.status = 200
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.started = False  # a streamed reply began (it may have ended too: its chunks are the body)

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.status, self.headers, self.started = status, headers, True

    async def write(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    async def finish(self) -> None:
        return None


class Reply:
    """A response from an in-process request."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = {k: v for k, v in headers if k.lower() != "set-cookie"}
        self.cookies = [v for k, v in headers if k.lower() == "set-cookie"]
        self.body = body

    @property
    def content_type(self) -> str:
        """The Content-Type header, or ""."""
        return self.headers.get("Content-Type", "")

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def _body_for_display(self) -> str:
        if "json" in self.content_type:
            try:
                return json.dumps(self.json(), indent=2, ensure_ascii=False)
            except ValueError:
                pass
        if self.content_type.startswith(("text/", "application/javascript")) or not self.body:
            return self.text
        return f"<{len(self.body)} bytes of {self.content_type or 'binary data'}>"

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.content_type or '-'} {len(self.body)} bytes>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        lines = [f"HTTP {self.status}"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        lines += [f"Set-Cookie: {c}" for c in self.cookies]
        printer.text("\n".join(lines) + "\n\n" + self._body_for_display())

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.status < 400 else ("#9a6700" if self.status < 500 else "#cf222e")
        rows = "".join(
            f"<tr><td style='text-align:left'><code>{html.escape(k)}</code></td>"
            f"<td style='text-align:left'><code>{html.escape(v)}</code></td></tr>"
            for k, v in [*self.headers.items(), *(("Set-Cookie", c) for c in self.cookies)]
        )
        kind = self.content_type.split(";", 1)[0].strip().lower()
        if kind in _PICTURES and 0 < len(self.body) <= _PICTURE_MAX:
            url = f"data:{kind};base64,{base64.b64encode(self.body).decode('ascii')}"
            shown = f"<img src='{url}' alt='{len(self.body)} bytes of {kind}' style='max-width:100%'>"
        else:
            shown = f"<pre>{html.escape(self._body_for_display())}</pre>"
        return (
            f"<div><strong style='color:{colour}'>HTTP {self.status}</strong>"
            f"<details><summary>headers</summary><table>{rows}</table></details>"
            f"{shown}</div>"
        )
