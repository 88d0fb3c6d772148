"""The local driver: a store is a folder (the embedded default; Binder and laptops need nothing else).

    <root>/objects/<key>   the bytes, at the path the key names
    <root>/meta/<key>      a JSON sidecar: content type, metadata, ETag (MD5 of the bytes, as S3's)
    <root>/tmp/            puts in progress; renamed into place only once complete

Every key resolves inside `objects/` by real path, so a symlink planted in the folder cannot lead out of
it (the check lstat()s the key's own components, the store's folder being real already, and resolves a
link only where one is found). File work runs in threads, a megabyte or one small object at a time, one
thread hop per small get, stat or put.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import errno
import hashlib
import json
import os
import stat as stat_mode
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from .base import Method, ObjectInfo, Opened, Page, StorageDriver
from .errors import InvalidKey, KeyConflict, ObjectNotFound, ObjectTooLarge, StorageError

#: Buffered before a write in a thread: few thread hops, and never more than this much held.
WRITE_BUFFER = 1024 * 1024
#: Read per thread hop when streaming an object out.
READ_CHUNK = 1024 * 1024
T = TypeVar("T")
Signer = Callable[[str, Method, int, "str | None"], str]


class LocalDriver(StorageDriver):
    """Objects as files under `root`; signed URLs are served by gingee itself (signing.py)."""

    name = "local"

    def __init__(self, root: Path, store: str, signer: Signer) -> None:
        self.store = store
        self.root = root
        self._signer = signer
        for part in ("objects", "meta", "tmp"):
            (root / part).mkdir(parents=True, exist_ok=True)
        self.objects = os.path.realpath(root / "objects")
        self.meta = os.path.realpath(root / "meta")
        self.tmp = os.path.realpath(root / "tmp")

    # -- paths -----------------------------------------------------------------------------------------
    def _path(self, key: str, tree: str | None = None) -> str:
        """The file for `key` under `tree` (objects/ by default), refused if it resolves outside."""
        base = tree or self.objects
        path = base
        for part in key.split("/"):
            path = os.path.join(path, part)
            try:
                mode = os.lstat(path).st_mode
            except (FileNotFoundError, NotADirectoryError):
                break  # nothing below exists, so no link can lead out from there
            if stat_mode.S_ISLNK(mode):
                return self._resolved(key, os.path.join(base, *key.split("/")), base)
        return os.path.join(base, *key.split("/"))

    def _resolved(self, key: str, path: str, base: str) -> str:
        real = os.path.realpath(path)
        if not real.startswith(base + os.sep):
            raise InvalidKey(
                key, f"it resolves outside store {self.store!r} (a symlink in its folder leads out); refused"
            )
        return real

    # -- writing ---------------------------------------------------------------------------------------
    async def put(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        content_type: str,
        metadata: dict[str, str],
        limit: int | None,
    ) -> ObjectInfo:
        path = self._path(key)
        meta_path = self._path(key, self.meta)
        upload = _Upload(os.path.join(self.tmp, uuid.uuid4().hex))
        try:
            buffered: list[bytes] = []
            held = 0
            async for chunk in chunks:
                upload.size += len(chunk)
                if limit is not None and upload.size > limit:
                    raise ObjectTooLarge(limit, store=self.store)
                buffered.append(chunk)
                held += len(chunk)
                if held >= WRITE_BUFFER:
                    await self._io(key, upload.write, buffered)
                    buffered, held = [], 0
            meta = {"content_type": content_type, "metadata": metadata}
            return await self._io(key, self._commit, key, upload, buffered, path, meta_path, meta)
        finally:
            upload.discard()

    def _commit(
        self, key: str, upload: _Upload, rest: list[bytes], path: str, meta_path: str, meta: dict[str, Any]
    ) -> ObjectInfo:
        upload.write(rest)
        upload.close()
        meta["etag"] = upload.digest.hexdigest()
        meta["size"] = upload.size
        self._parents(key, path, meta_path)
        meta_tmp = upload.path + ".meta"
        with open(meta_tmp, "w", encoding="utf-8") as handle:
            json.dump(meta, handle)
        try:
            os.replace(upload.path, path)
            os.replace(meta_tmp, meta_path)
        except IsADirectoryError:
            raise KeyConflict(
                f"storage: key {key!r} is the folder of other keys in store {self.store!r}; on the local "
                "driver a key cannot be both an object and a folder (see docs/storage.md)",
                store=self.store,
            ) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(meta_tmp)
        return ObjectInfo(
            key, upload.size, meta["etag"], meta["content_type"], _mtime(path), meta["metadata"]
        )

    def _parents(self, key: str, path: str, meta_path: str) -> None:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.makedirs(os.path.dirname(meta_path), exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise KeyConflict(
                f"storage: key {key!r} extends a key that is an object in store {self.store!r}; on the local "
                "driver a key cannot be both an object and a folder (see docs/storage.md)",
                store=self.store,
            ) from None

    # -- reading ---------------------------------------------------------------------------------------
    async def stat(self, key: str) -> ObjectInfo:
        return await asyncio.to_thread(self._stat, key)

    def _stat(self, key: str, path: str | None = None) -> ObjectInfo:
        path = path or self._path(key)
        try:
            status = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key, store=self.store) from None
        if not os.path.isfile(path):
            raise ObjectNotFound(key, store=self.store)
        meta = self._read_meta(key)
        etag = meta.get("etag") or f"{status.st_size:x}-{status.st_mtime_ns:x}"
        modified = datetime.fromtimestamp(status.st_mtime, timezone.utc)
        content_type = meta.get("content_type") or "application/octet-stream"
        return ObjectInfo(key, status.st_size, etag, content_type, modified, dict(meta.get("metadata") or {}))

    def _read_meta(self, key: str) -> dict[str, Any]:
        try:
            with open(self._path(key, self.meta), encoding="utf-8") as handle:
                meta = json.load(handle)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, ValueError):
            return {}  # a file copied in by hand: no sidecar
        return meta if isinstance(meta, dict) else {}

    async def open(self, key: str, start: int = 0, stop: int | None = None) -> Opened:
        info, handle, first = await asyncio.to_thread(self._open, key, start, stop)
        # A range past the end is empty, as a slice is (and as the S3 driver answers it).
        start = min(start, info.size)
        stop = info.size if stop is None else max(start, min(stop, info.size))
        return Opened(info, start, stop, _read(handle, first, stop - start), release=handle.close)

    def _open(self, key: str, start: int, stop: int | None) -> tuple[ObjectInfo, BinaryIO, bytes]:
        path = self._path(key)
        info = self._stat(key, path)
        handle = open(path, "rb")  # noqa: SIM115 - handed to the reader, which closes it
        try:
            end = info.size if stop is None else min(stop, info.size)
            if start:
                handle.seek(start)
            first = handle.read(min(READ_CHUNK, max(0, end - start)))
        except BaseException:
            handle.close()
            raise
        return info, handle, first

    # -- the rest --------------------------------------------------------------------------------------
    async def delete(self, key: str) -> bool:
        path, meta_path = self._path(key), self._path(key, self.meta)
        return await asyncio.to_thread(self._delete, path, meta_path)

    def _delete(self, path: str, meta_path: str) -> bool:
        try:
            if not os.path.isfile(path):
                return False
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
            os.unlink(meta_path)
        _prune(os.path.dirname(path), self.objects)
        _prune(os.path.dirname(meta_path), self.meta)
        return True

    async def copy(self, source: str, target: str) -> ObjectInfo:
        opened = await self.open(source)
        info = opened.info
        return await self.put(target, aiter(opened), info.content_type or "", info.metadata, None)

    async def list(self, prefix: str, cursor: str | None, limit: int) -> Page:
        after = _decode_cursor(cursor)
        keys = await asyncio.to_thread(self._keys, prefix)
        keys = [k for k in keys if after is None or k > after]
        page = keys[:limit]
        items = await asyncio.to_thread(lambda: [self._stat(k) for k in page])
        more = len(keys) > limit
        return Page(items, _encode_cursor(page[-1]) if more and page else None)

    def _keys(self, prefix: str) -> list[str]:
        folder, _, _ = prefix.rpartition("/")
        start = self._path(folder) if folder else self.objects
        if not os.path.isdir(start):
            return []
        found: list[str] = []
        for directory, _dirs, files in os.walk(start):
            relative = os.path.relpath(directory, self.objects)
            base = "" if relative == "." else relative.replace(os.sep, "/") + "/"
            found.extend(
                base + name
                for name in files
                if (base + name).startswith(prefix) and self._inside(os.path.join(directory, name))
            )
        return sorted(found)

    def _inside(self, path: str) -> bool:
        """Whether `path` resolves inside objects/ (a symlink planted there that leads out is not listed)."""
        return os.path.realpath(path).startswith(self.objects + os.sep)

    async def url(self, key: str, method: Method, expires: int, content_type: str | None) -> str:
        self._path(key)
        return self._signer(key, method, expires, content_type)

    async def _io(self, key: str, func: Callable[..., T], *args: Any) -> T:
        """`func(*args)` in a thread, a file system error as a StorageError (the data's own errors, such
        as a client that went away, are not the store's and pass through unchanged)."""
        try:
            return await asyncio.to_thread(func, *args)
        except OSError as exc:
            raise self._os_error(key, exc) from None

    def _os_error(self, key: str, exc: OSError) -> StorageError:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return StorageError(f"storage: store {self.store!r} is out of disk space; {key!r} was not stored")
        return StorageError(
            f"storage: store {self.store!r}: {key!r}: {exc.strerror or exc}", store=self.store
        )


class _Upload:
    """A put's temporary file: written a batch at a time, hashed as it goes, removed unless committed."""

    __slots__ = ("digest", "handle", "path", "size")

    def __init__(self, path: str) -> None:
        self.path = path
        self.handle: BinaryIO | None = None
        self.digest = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def write(self, chunks: list[bytes]) -> None:
        if self.handle is None:
            self.handle = open(self.path, "wb")  # noqa: SIM115 - closed by close() or discard()
        for chunk in chunks:
            self.digest.update(chunk)
            self.handle.write(chunk)

    def close(self) -> None:
        if self.handle is None:
            self.write([])
        assert self.handle is not None
        self.handle.close()

    def discard(self) -> None:
        """Remove the temporary file unless it was renamed into place (then there is nothing left)."""
        if self.handle is not None and not self.handle.closed:
            self.handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


async def _read(handle: BinaryIO, first: bytes, remaining: int) -> AsyncIterator[bytes]:
    try:
        if first:
            yield first
        remaining -= len(first)
        while remaining > 0:
            chunk = await asyncio.to_thread(handle.read, min(READ_CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


def _prune(directory: str, root: str) -> None:
    """Remove `directory` and its parents up to `root` while they are empty (a freed key's folders)."""
    while directory != root and directory.startswith(root + os.sep):
        try:
            os.rmdir(directory)
        except OSError:
            return
        directory = os.path.dirname(directory)


def _mtime(path: str) -> datetime:
    return datetime.fromtimestamp(os.stat(path).st_mtime, timezone.utc)


def _encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidKey(cursor, "not a cursor that storage.list returned") from None
