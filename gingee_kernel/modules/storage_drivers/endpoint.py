"""The local driver's signed URLs, answered by gingee: `GET`/`HEAD` stream the object (Range, ETag),
`PUT` stores the body as it arrives. The signature is the only credential (signing.py); the app's
middleware does not run, and the app must still hold the `storage` grant."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from ...engine.context import require
from ...errors import HttpError
from .signing import ENDPOINT, verify


async def serve_signed(g: Any) -> Any:
    """Answer one request to `<app>/_gingee/storage/<store>/<key>?...&sig=...`."""
    from .. import storage

    request = g.request
    rest = request.path.split(ENDPOINT, 1)[1] if ENDPOINT in request.path else ""
    store, _, raw_key = rest.partition("/")
    store, key = unquote(store), unquote(raw_key, errors="strict")
    if not store or not key:
        raise HttpError(404, "NOT_FOUND", "a signed storage URL names a store and a key")
    app = require("storage")
    method = request.method
    verify(app, store, key, request.query, method, request.content_type)
    if method in ("GET", "HEAD"):
        await g.response.send_object(storage.store(store), key)
        return None
    if method == "PUT":
        content_type = request.headers.get("Content-Type") or None
        info = await storage.store(store).put(key, request, content_type=content_type)
        return {"key": info.key, "size": info.size, "etag": info.etag}
    raise HttpError(
        405,
        "METHOD_NOT_ALLOWED",
        f"{method} is not allowed on a signed storage URL",
        headers={"Allow": "GET, HEAD, PUT"},
    )
