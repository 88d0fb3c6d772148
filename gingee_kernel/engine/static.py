"""Serve an app's public files (everything in `web/<app>/` except `box/`)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from ..errors import HttpError
from .paths import static_file
from .response import Response

_TEXT_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml")


def not_found() -> HttpError:
    """404 FILE_NOT_FOUND."""
    return HttpError(404, "FILE_NOT_FOUND", "no such file or script in this app")


def serve_static(
    root: Path, box: Path, segments: list[str], trailing_slash: bool, response: Response
) -> None:
    """Fill `response` with the file at `segments` (or a directory's index.html); 403/404 otherwise."""
    path = static_file(root, box, segments)
    if path.is_dir():
        index = path / "index.html"
        if not index.is_file():
            raise not_found()
        if not trailing_slash:
            # Relative, so it stays correct under any base URL (Jupyter, Binder).
            name = segments[-1] if segments else ""
            response.headers["Location"] = f"{name}/" if name else "./"
            response.send(b"", status=301, content_type="text/plain")
            return
        path = index
    if not path.is_file():
        raise not_found()
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if kind.startswith(_TEXT_TYPES) and "charset" not in kind:
        kind += "; charset=utf-8"
    response.headers["Cache-Control"] = "no-cache"
    response.send(path.read_bytes(), content_type=kind)
