"""The local driver's signed URLs, answered by gingee: `GET`/`HEAD` stream the object (Range, ETag),
`PUT` stores the body as it arrives. The signature is the only credential (signing.py); the app's
middleware does not run, and the app must still hold the `storage` grant."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from ...engine.context import require
from ...errors import HttpError, PermissionDenied
from .errors import InvalidKey, ObjectNotFound, ObjectTooLarge, StorageError, StorageUnavailable
from .signing import ENDPOINT, verify

# The holder of a signed URL is a client: what the store refuses becomes a status, never a 500.
_STATUSES: tuple[tuple[type[Exception], int, str], ...] = (
    (PermissionDenied, 403, "ACCESS_DENIED"),
    (InvalidKey, 400, "INVALID_KEY"),
    (ObjectNotFound, 404, "NOT_FOUND"),
    (ObjectTooLarge, 413, "PAYLOAD_TOO_LARGE"),
    (StorageUnavailable, 503, "STORAGE_UNAVAILABLE"),
)


async def serve_signed(g: Any) -> Any:
    """Answer one request to `<app>/_gingee/storage/<store>/<key>?...&sig=...`."""
    try:
        return await _serve(g)
    except (PermissionDenied, StorageError) as exc:
        for kind, status, code in _STATUSES:
            if isinstance(exc, kind):
                headers = {"Retry-After": "5"} if status == 503 else None
                raise HttpError(status, code, _reason(exc, status), headers=headers) from None
        raise


def _reason(exc: Exception, status: int) -> str:
    if status == 403:
        return "this app may no longer use storage; the signed URL is void"
    if status == 503:
        return "the store is unavailable; try again later"
    return str(exc)


async def _serve(g: Any) -> Any:
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
