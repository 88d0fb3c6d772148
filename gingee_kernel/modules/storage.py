"""`storage`: objects in named stores, a folder on a laptop or Binder, S3 in production (permission
"storage"), with the same calls.

    photos = storage.store("photos")                        # app.json "storage": [{"name": "photos", ...}]
    info = await photos.put("ada/cat.png", g.request, content_type="image/png")   # streamed, never whole
    data = await photos.get("ada/cat.png")
    async for chunk in photos.stream("ada/cat.png", range=(0, 1024)): ...
    link = await photos.url("ada/cat.png", expires=600)     # a signed GET (or PUT) URL
    await g.response.send_object(photos, "ada/cat.png")    # Range, ETag and 304 handled

The module-level functions (`storage.put(...)`) use the app's first store ("default" if app.json has
none). A store is looked up in the *current* app on every call, so a Store handle reaches only the
objects of the app that is running; keys follow one set of rules on every driver (docs/storage.md).
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import AsyncIterator
from typing import Any

from ..engine.app import AppRuntime
from ..engine.context import require
from ..metrics.series import record_storage
from .drivers import app_driver
from .storage_drivers.base import Method, ObjectInfo, Opened, Page, StorageDriver
from .storage_drivers.chunks import as_chunks
from .storage_drivers.errors import (
    InvalidKey,
    KeyConflict,
    ObjectNotFound,
    ObjectTooLarge,
    StorageError,
    StorageUnavailable,
)
from .storage_drivers.keys import check_key, check_prefix
from .storage_drivers.settings import StoreSettings, create_driver, store_settings

__all__ = [
    "InvalidKey",
    "KeyConflict",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectTooLarge",
    "Opened",
    "Page",
    "StorageError",
    "StorageUnavailable",
    "Store",
    "copy",
    "delete",
    "exists",
    "get",
    "list",
    "open",
    "put",
    "stat",
    "store",
    "stream",
    "url",
]

_STATE_KEY = "storage.drivers"
_META_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_META_BYTES = 2048  # S3's limit on user metadata
_OUTCOMES = {
    ObjectNotFound: "not_found",
    InvalidKey: "invalid",
    ObjectTooLarge: "too_large",
    KeyConflict: "conflict",
    StorageUnavailable: "unavailable",
}
_builtin_list = list


class Store:
    """A named store of the running app. Holds only the name: every call checks the `storage` grant and
    finds the store in the app running now."""

    __slots__ = ("name",)

    def __init__(self, name: str | None = None) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<Store {self.name or '(first)'}>"

    async def put(
        self,
        key: str,
        data: Any,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        """Store `data` (bytes, str, a binary file, an async iterator of bytes, or `g.request` to stream
        an upload) under `key`, replacing what was there. All or nothing: if the data fails halfway, the
        object is over `max_object_size` or the provider fails, nothing new is left under `key`."""
        key = check_key(key)
        kind = _content_type(key, content_type)
        meta = _metadata(metadata)
        chunks = as_chunks(data)
        app, settings, driver = await _resolve(self.name)
        async with _recorded(app, driver, "put") as record:
            info = await driver.put(key, chunks, kind, meta, settings.max_object_size)
            record.size = info.size
        return info

    async def get(self, key: str) -> bytes:
        """The object's bytes, whole (use `stream` for large ones); ObjectNotFound if there is none."""
        opened = await self.open(key)
        return await opened.read()

    async def open(self, key: str, range: tuple[int, int | None] | None = None) -> Opened:
        """The object opened for reading: `.info`, and its bytes as an async iterator (`range=(start,
        stop)`, stop exclusive or None for the end). Close it, or read it to the end."""
        key = check_key(key)
        start, stop = _range(range)
        app, _, driver = await _resolve(self.name)
        async with _recorded(app, driver, "get") as record:
            opened = await driver.open(key, start, stop)
            record.size = opened.stop - opened.start
        return opened

    async def stream(self, key: str, range: tuple[int, int | None] | None = None) -> AsyncIterator[bytes]:
        """The object's bytes, a chunk at a time (`async for chunk in store.stream(key)`)."""
        opened = await self.open(key, range)
        async with opened:
            async for chunk in opened:
                yield chunk

    async def stat(self, key: str) -> ObjectInfo:
        """Size, ETag, content type, modified time and metadata; ObjectNotFound if there is none."""
        key = check_key(key)
        app, _, driver = await _resolve(self.name)
        async with _recorded(app, driver, "stat"):
            return await driver.stat(key)

    async def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""
        try:
            await self.stat(key)
        except ObjectNotFound:
            return False
        return True

    async def list(self, prefix: str = "", *, cursor: str | None = None, limit: int = 100) -> Page:
        """One page of objects whose keys start with `prefix`, in key order; pass `page.cursor` back for
        the next page (None once there is no more). `limit` is 1 to 1000."""
        prefix = check_prefix(prefix)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValueError(f"storage.list: limit must be an int from 1 to 1000, not {limit!r}")
        app, _, driver = await _resolve(self.name)
        async with _recorded(app, driver, "list"):
            return await driver.list(prefix, cursor, limit)

    async def delete(self, key: str) -> bool:
        """Remove the object; True if there was one."""
        key = check_key(key)
        app, _, driver = await _resolve(self.name)
        async with _recorded(app, driver, "delete"):
            return await driver.delete(key)

    async def copy(self, source: str, target: str) -> ObjectInfo:
        """Copy an object (with its content type and metadata) to another key of this store."""
        source, target = check_key(source), check_key(target)
        app, _, driver = await _resolve(self.name)
        async with _recorded(app, driver, "copy"):
            return await driver.copy(source, target)

    async def url(
        self, key: str, *, expires: int | None = None, method: Method = "GET", content_type: str | None = None
    ) -> str:
        """A signed URL that lets anyone holding it GET (or PUT, with `content_type` if given) this key for
        `expires` seconds (default app.json `url_expires_s`, 3600). On S3 it is S3's presigned URL; on
        the local driver gingee signs and serves it (`<app>/_gingee/storage/...`)."""
        key = check_key(key)
        if method not in ("GET", "PUT"):
            raise ValueError(f"storage.url: method must be 'GET' or 'PUT', not {method!r}")
        app, settings, driver = await _resolve(self.name)
        seconds = settings.values["url_expires_s"] if expires is None else expires
        cap = settings.values["max_url_expires_s"]
        if not isinstance(seconds, int) or not 1 <= seconds <= cap:
            raise ValueError(f"storage.url: expires must be whole seconds from 1 to {cap}, not {seconds!r}")
        if content_type is not None:
            _content_type(key, content_type)
        async with _recorded(app, driver, "url"):
            return await driver.url(key, method, seconds, content_type)


def store(name: str | None = None) -> Store:
    """The app's store called `name` (None: its first, "default" if app.json declares none). The name is
    checked when the store is first used."""
    if name is not None and not isinstance(name, str):
        raise TypeError(f"storage.store: a store name is a str, not {type(name).__name__}")
    return Store(name)


_default = Store()
put = _default.put
get = _default.get
open = _default.open
stream = _default.stream
stat = _default.stat
exists = _default.exists
list = _default.list
delete = _default.delete
copy = _default.copy
url = _default.url


# --- inside ---------------------------------------------------------------------------------------------


async def _resolve(name: str | None) -> tuple[AppRuntime, StoreSettings, StorageDriver]:
    app = require("storage")
    settings = store_settings(app, name)
    driver = await app_driver(app, _STATE_KEY, settings.name, lambda: create_driver(app, settings))
    return app, settings, driver


class _recorded:
    """Count one call in the metrics, by its outcome, and the bytes it moved."""

    __slots__ = ("app", "driver", "operation", "size")

    def __init__(self, app: AppRuntime, driver: StorageDriver, operation: str) -> None:
        self.app, self.driver, self.operation, self.size = app, driver, operation, 0

    async def __aenter__(self) -> _recorded:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if kind is not None and not issubclass(kind, Exception):
            return
        outcome = "ok"
        if exc is not None:
            outcome = next((v for k, v in _OUTCOMES.items() if isinstance(exc, k)), "error")
        record_storage(self.app.name, self.driver.name, self.operation, outcome, self.size)


def _content_type(key: str, given: str | None) -> str:
    if given is None:
        guessed, _ = mimetypes.guess_type(key.rsplit("/", 1)[-1], strict=False)
        return guessed or "application/octet-stream"
    if not isinstance(given, str) or not re.fullmatch(r"[\w.+-]+/[\w.+-]+(\s*;[^\r\n]*)?", given):
        raise ValueError(f"storage: content_type {given!r} is not a media type such as image/png")
    return given


def _metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ValueError(f"storage: metadata must be a dict of str to str, not {type(metadata).__name__}")
    size = 0
    checked: dict[str, str] = {}
    for name, value in metadata.items():
        if not isinstance(name, str) or not _META_NAME.match(name):
            raise ValueError(
                f"storage: metadata name {name!r}: use lower-case letters, digits and '-' (S3 lower-cases "
                "names, so the same rule holds on every driver)"
            )
        if not isinstance(value, str) or not value.isascii() or not value.isprintable():
            raise ValueError(f"storage: metadata {name!r}: the value must be printable ASCII text")
        size += len(name) + len(value)
        checked[name] = value
    if size > _META_BYTES:
        raise ValueError(f"storage: metadata is {size} bytes; at most {_META_BYTES} (names and values)")
    return checked


def _range(given: tuple[int, int | None] | None) -> tuple[int, int | None]:
    if given is None:
        return 0, None
    try:
        start, stop = given
    except (TypeError, ValueError):
        raise ValueError(f"storage: range must be (start, stop), not {given!r}") from None
    if (
        not isinstance(start, int)
        or start < 0
        or (stop is not None and (not isinstance(stop, int) or stop < start))
    ):
        raise ValueError(f"storage: range {given!r}: need 0 <= start <= stop (stop exclusive, or None)")
    return start, stop
