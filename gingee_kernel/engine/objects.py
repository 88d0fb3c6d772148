"""`g.response.send_object(store, key)`: stream a stored object as the reply, with its content type, ETag,
one `Range` (206, or 416 if it cannot be met) and `If-None-Match` (304). Nothing is read whole."""

from __future__ import annotations

import re
from typing import Any

from ..errors import HttpError
from .context import current_request

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, stop) for one `Range: bytes=...` header (stop exclusive); None to send the whole object
    (no header, a malformed one or several ranges, as RFC 9110 allows); HttpError 416 if unsatisfiable."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        if length == 0:
            raise _unsatisfiable(size)
        return max(0, size - length), size
    start = int(first)
    stop = size if not last else min(size, int(last) + 1)
    if last and int(last) < start:
        return None
    if start >= size:
        raise _unsatisfiable(size)
    return start, stop


def _unsatisfiable(size: int) -> HttpError:
    return HttpError(
        416,
        "RANGE_NOT_SATISFIABLE",
        f"the object is {size} bytes",
        headers={"Content-Range": f"bytes */{size}"},
    )


def _matches(header: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or f'"{etag}"' in tags


async def send_object(response: Any, store: Any, key: str, *, cache_control: str | None = None) -> None:
    """Reply with the object `key` of `store` (a `storage.store(...)` or its name)."""
    from ..modules import storage

    target = storage.store(store) if store is None or isinstance(store, str) else store
    request = current_request()
    headers = request.headers if request is not None else {}
    try:
        info = await target.stat(key)
    except storage.ObjectNotFound:
        raise HttpError(404, "NOT_FOUND", f"no object {key!r} here") from None
    except storage.InvalidKey as exc:
        raise HttpError(400, "INVALID_KEY", str(exc)) from None
    response.headers["ETag"] = f'"{info.etag}"'
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Cache-Control"] = cache_control or "no-cache"
    if info.modified is not None:
        response.headers["Last-Modified"] = info.modified.strftime("%a, %d %b %Y %H:%M:%S GMT")
    if_none_match = headers.get("If-None-Match")
    if if_none_match and _matches(if_none_match, info.etag):
        response.send(b"", status=304, content_type=info.content_type)
        return
    wanted = byte_range(headers.get("Range"), info.size)
    status = 200
    start, stop = 0, info.size
    if wanted is not None and (wanted != (0, info.size) or "Range" in headers):
        start, stop = wanted
        status = 206
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{info.size}"
    response.headers["Content-Length"] = str(stop - start)
    head = request is not None and request.method == "HEAD"
    if head or stop == start:
        response.send(b"", status=status, content_type=info.content_type)
        return
    opened = await target.open(key, range=(start, stop))
    async with opened:
        await response.stream(status, info.content_type or "application/octet-stream")
        async for chunk in opened:
            await response.write(chunk)
        await response.end()
