"""`<app>/_gingee/docs`: the app's OpenAPI document rendered by the Swagger UI shipped in the package
(gingee_kernel/static/swagger-ui/, no CDN), for whoever may read openapi.json (engine/openapi.py).

The page carries the document inline, so it renders in a page that cannot fetch with credentials (a
sandboxed app page in Jupyter); its scripts and styles come from `<app>/_gingee/docs/<file>`, which anyone
may load (they are the viewer's own files, the same for every app)."""

from __future__ import annotations

import html
import json
from functools import cache
from pathlib import Path

from ..errors import HttpError
from .context import current_app
from .g import G
from .openapi import check_reader, document

VIEWER_DIR = Path(__file__).resolve().parent.parent / "static" / "swagger-ui"
VIEWER_VERSION = "5.36.0"
#: The viewer's files a page loads, and their content types.
ASSETS = {
    "swagger-ui-bundle.js": "application/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "gingee-docs.js": "application/javascript; charset=utf-8",
}
#: Scripts and styles from the page's own origin only; the inline JSON document is data, not script.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'"
)
_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="docs/swagger-ui.css?v={version}">
</head>
<body>
<div id="swagger-ui"></div>
<script id="gingee-openapi" type="application/json">{document}</script>
<script src="docs/swagger-ui-bundle.js?v={version}"></script>
<script src="docs/gingee-docs.js?v={version}"></script>
</body>
</html>
"""


def inline_json(value: object) -> str:
    """JSON safe inside a `<script>` element: no `<`, `>` or `&` that could end it or open a comment."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@cache
def _asset(name: str) -> bytes:
    return (VIEWER_DIR / name).read_bytes()


async def serve_docs(g: G) -> None:
    """The docs page (`<app>/_gingee/docs`) or one of its files (`<app>/_gingee/docs/<file>`)."""
    request, response = g.request, g.response
    assert request is not None and response is not None
    if request.method not in ("GET", "HEAD"):
        raise HttpError(
            405, "METHOD_NOT_ALLOWED", "the docs page is read with GET", headers={"Allow": "GET, HEAD"}
        )
    name = request.params.get("file")
    if name == "":  # `docs/`: the page's relative links need `docs`
        response.redirect("../docs", status=301)
        return
    if name is not None:
        if name not in ASSETS:
            raise HttpError(404, "FILE_NOT_FOUND", "no such file in the docs viewer")
        response.headers["Cache-Control"] = "public, max-age=86400"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.send(_asset(name), content_type=ASSETS[name])
        return
    app = current_app()
    check_reader(app, request)
    page = _PAGE.format(
        title=html.escape(app.name),
        version=VIEWER_VERSION,
        document=inline_json(document(app, request.app_url)),
    )
    response.headers["Content-Security-Policy"] = PAGE_CSP
    response.headers["Cache-Control"] = "no-store"
    response.send(page.encode(), content_type="text/html; charset=utf-8")
