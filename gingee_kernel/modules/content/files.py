"""Where content comes from and goes to, with the same gates as everywhere else: a file goes through the
`fs` module (its grant, its BOX/WEB confinement, no server path in an error) and an object through
`storage` (its grant, its stores). Inputs are size-checked before they are read whole."""

from __future__ import annotations

from typing import Any

from .errors import ContentError, ContentTooLarge


def as_bytes(module: str, data: Any, limit: int, what: str = "input") -> bytes:
    """`data` (bytes, bytearray, memoryview) as bytes, refused past `limit` bytes."""
    if isinstance(data, bytes | bytearray | memoryview):
        data = bytes(data)
    else:
        raise ContentError(module, "INVALID_INPUT", f"the {what} must be bytes, not {type(data).__name__}")
    if len(data) > limit:
        raise ContentTooLarge(
            module, "INPUT_TOO_LARGE", f"the {what} is {len(data)} bytes, over the limit of {limit}"
        )
    return data


def read_file(module: str, scope: str, path: str, limit: int) -> bytes:
    """A confined file's bytes (needs the `fs` grant), refused past `limit` bytes before it is read."""
    from .. import fs

    size = fs.stat(scope, path)["size"]
    if size > limit:
        raise ContentTooLarge(
            module, "INPUT_TOO_LARGE", f"{scope}:{path} is {size} bytes, over the limit of {limit}"
        )
    return fs.read_bytes(scope, path)


def write_file(scope: str, path: str, data: bytes) -> None:
    """Write `data` to a confined file (needs the `fs` grant)."""
    from .. import fs

    fs.write_bytes(scope, path, data)


async def read_object(module: str, key: str, store: str | None, limit: int) -> bytes:
    """A storage object's bytes (needs the `storage` grant), refused past `limit` bytes before it is read."""
    from .. import storage

    opened = await storage.store(store).open(key)
    async with opened:
        size = opened.stop - opened.start
        if size > limit:
            raise ContentTooLarge(
                module, "INPUT_TOO_LARGE", f"object {key!r} is {size} bytes, over the limit of {limit}"
            )
        return await opened.read()


async def write_object(key: str, data: bytes, store: str | None, content_type: str) -> Any:
    """Store `data` under `key` (needs the `storage` grant); the storage module's ObjectInfo."""
    from .. import storage

    return await storage.store(store).put(key, data, content_type=content_type)
