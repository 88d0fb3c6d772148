"""Gingee `zip` module: pack a confined folder into a ZIP archive and unpack archives safely (permission
"zip"; files go through `fs` and objects through `storage`, which need their own grants).

    from gingee_kernel import zip

    data = await zip.pack("box", "reports")                     # archive bytes, typed application/zip
    await zip.pack_to_file("box", "reports", "web", "downloads/reports.zip")
    info = await zip.pack_to_object("box", "reports", "backups/reports.zip", store="backups")
    paths = await zip.unzip("box", "uploads/site.zip", "web", "site")    # ['site/index.html', ...]
    paths = await zip.unzip_bytes(g.request.raw_body, "box", "imports/today")
    paths = await zip.unzip_object("incoming/site.zip", "box", "site", store="uploads")

Packing follows the fs rules: entries are sorted, WEB never includes box/, and a symlink is followed
only if it stays inside the scope (one leading out, or to a folder containing it, is refused).
Unpacking is all or nothing: every entry is checked before anything is written (see `unpack`), the
bytes really written are counted against app.json `zip` limits (max_entries, max_unpacked_size,
max_ratio; max_output_size for packing), and existing files are refused unless `overwrite=True`.

Errors: ContentError INVALID_ARCHIVE (not a readable archive), UNSAFE_ENTRY (an entry that may not be
written where it asks: "..", absolute, drive letter, backslash, NUL, a link, outside the destination),
ENCRYPTED_ENTRY, ENTRY_EXISTS; ContentTooLarge ARCHIVE_TOO_LARGE for a limit. Each names the entry,
never a server path. The work runs in the content thread pool, within the request's time budget.
"""

from __future__ import annotations

import asyncio
import errno
import io
import os
import secrets
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ...engine.context import require
from .. import fs
from ..content.files import as_bytes
from ..content.offload import Budget, run_cpu
from ..content.picture import Picture
from ..content.settings import limits
from .errors import MODULE, os_error, too_large
from .pack import Source, collect, write
from .unpack import Destination, unpack

if TYPE_CHECKING:
    from ..storage_drivers.base import ObjectInfo

__all__ = ["pack", "pack_to_file", "pack_to_object", "unzip", "unzip_bytes", "unzip_object"]

CONTENT_TYPE = "application/zip"


async def pack(
    scope: str, folder: str, *, include_root_folder: bool = False, keep_times: bool = True
) -> Picture:
    """The ZIP archive of `scope:folder` (needs the `fs` grant), as bytes typed application/zip, so a
    script can `return` it. `include_root_folder` puts the entries under the folder's own name;
    `keep_times=False` gives every entry the same time, so the same files give the same bytes.
    ARCHIVE_TOO_LARGE past `max_entries` entries or `max_output_size` bytes."""
    require(MODULE)
    lim = limits(MODULE)
    source = _source(scope, folder, include_root_folder)
    return await run_cpu(MODULE, _pack_bytes, source, keep_times, lim)


async def pack_to_file(
    scope: str,
    folder: str,
    dst_scope: str,
    dst: str,
    *,
    include_root_folder: bool = False,
    keep_times: bool = True,
) -> int:
    """Write the archive of `scope:folder` to the file `dst_scope:dst` (replaced whole, or left as it
    was if packing fails; parent folders are created); its size in bytes. The archive itself is left
    out if it lies inside the folder."""
    require(MODULE)
    lim = limits(MODULE)
    target = fs.resolve(dst_scope, dst)
    shown = _display(dst_scope, dst)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "the archive's path is a folder", shown)
    source = _source(scope, folder, include_root_folder, skip=target)
    return await run_cpu(MODULE, _pack_file, source, target, shown, keep_times, lim)


async def pack_to_object(
    scope: str,
    folder: str,
    key: str,
    store: str | None = None,
    *,
    include_root_folder: bool = False,
    keep_times: bool = True,
) -> ObjectInfo:
    """Store the archive of `scope:folder` under `key` in storage `store` (needs the `storage` grant),
    typed application/zip; the storage module's ObjectInfo. The archive is spooled to a temporary
    file, never held whole in memory."""
    from .. import storage
    from ..storage_drivers.keys import check_key

    require(MODULE)
    require("storage")
    check_key(key)
    lim = limits(MODULE)
    source = _source(scope, folder, include_root_folder)
    with tempfile.TemporaryFile() as spool:
        await run_cpu(MODULE, _pack_spool, source, spool, keep_times, lim)
        return await storage.store(store).put(key, spool, content_type=CONTENT_TYPE)


async def unzip(src_scope: str, src: str, dst_scope: str, dst: str, *, overwrite: bool = False) -> list[str]:
    """Extract the archive file `src_scope:src` into the folder `dst_scope:dst` (created if missing);
    the scope-relative paths of the files written, sorted. An archive larger than `max_unpacked_size`
    is refused before it is read."""
    require(MODULE)
    lim = limits(MODULE)
    path = fs.resolve(src_scope, src)
    dest = _destination(dst_scope, dst, overwrite)
    return await run_cpu(MODULE, _unzip_file, path, _display(src_scope, src), dest, lim)


async def unzip_bytes(data: bytes, dst_scope: str, dst: str, *, overwrite: bool = False) -> list[str]:
    """Extract the archive in `data` (bytes, e.g. `g.request.raw_body` or an upload's `.data`), as
    `unzip` does."""
    require(MODULE)
    lim = limits(MODULE)
    data = as_bytes(MODULE, data, sys.maxsize, what="archive")
    _check_archive_size(len(data), lim)
    dest = _destination(dst_scope, dst, overwrite)
    return await run_cpu(MODULE, unpack, io.BytesIO(data), len(data), dest, lim)


async def unzip_object(
    key: str, dst_scope: str, dst: str, store: str | None = None, *, overwrite: bool = False
) -> list[str]:
    """Extract the archive stored under `key` in storage `store` (needs the `storage` grant), as
    `unzip` does. The object is streamed to a temporary file first, never held whole in memory."""
    from .. import storage

    require(MODULE)
    lim = limits(MODULE)
    dest = _destination(dst_scope, dst, overwrite)
    with tempfile.TemporaryFile() as spool:
        async with await storage.store(store).open(key) as opened:
            _check_archive_size(opened.stop - opened.start, lim)  # before a byte is read
            async for chunk in opened:
                await asyncio.to_thread(spool.write, chunk)
                _check_archive_size(spool.tell(), lim)
        size = spool.tell()
        spool.seek(0)
        return await run_cpu(MODULE, unpack, spool, size, dest, lim)


# --- inside ---------------------------------------------------------------------------------------------


def _rel(path: str) -> str:
    """A path fs has accepted, as its normalised scope-relative form ("" for the scope root)."""
    return "/".join(p for p in os.fspath(path).replace("\\", "/").split("/") if p not in ("", "."))


def _display(scope: str, path: str) -> str:
    return f"{scope.lower()}:/{_rel(path)}"


def _source(scope: str, folder: str, include_root_folder: bool, skip: Path | None = None) -> Source:
    real = fs.resolve(scope, folder)
    rel = _rel(folder)
    if not real.is_dir():
        if real.exists():
            raise NotADirectoryError(errno.ENOTDIR, "zip packs folders", _display(scope, folder))
        raise FileNotFoundError(errno.ENOENT, "no such folder", _display(scope, folder))
    prefix = (rel.rsplit("/", 1)[-1] if rel else real.name) + "/" if include_root_folder else ""
    return Source(scope.lower(), rel, real, prefix, skip)


def _destination(scope: str, folder: str, overwrite: bool) -> Destination:
    real = fs.resolve(scope, folder)
    if real.exists() and not real.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "the destination is a file", _display(scope, folder))
    return Destination(scope.lower(), _rel(folder), real, bool(overwrite))


def _check_archive_size(size: int, lim: dict[str, int]) -> None:
    if size > lim["max_unpacked_size"]:
        raise too_large(
            f"the archive is {size} bytes, more than it may unpack to ({lim['max_unpacked_size']})",
            "max_unpacked_size",
        )


def _pack_bytes(budget: Budget, source: Source, keep_times: bool, lim: dict[str, int]) -> Picture:
    out = io.BytesIO()
    write(budget, collect(budget, source, lim["max_entries"]), out, keep_times, lim["max_output_size"])
    with out.getbuffer() as view:  # one copy, not two
        return Picture(view, CONTENT_TYPE)


def _pack_spool(
    budget: Budget, source: Source, spool: BinaryIO, keep_times: bool, lim: dict[str, int]
) -> None:
    write(budget, collect(budget, source, lim["max_entries"]), spool, keep_times, lim["max_output_size"])
    spool.seek(0)


def _pack_file(
    budget: Budget, source: Source, target: Path, shown: str, keep_times: bool, lim: dict[str, int]
) -> int:
    entries = collect(budget, source, lim["max_entries"])
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        out = open(tmp, "xb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise os_error(exc, shown) from None
    try:
        with out:
            write(budget, entries, out, keep_times, lim["max_output_size"])
            size = out.tell()
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise os_error(exc, shown) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return size


def _unzip_file(budget: Budget, path: Path, shown: str, dest: Destination, lim: dict[str, int]) -> list[str]:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
        size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise os_error(exc, shown) from None
    with handle:
        _check_archive_size(size, lim)
        return unpack(budget, handle, size, dest, lim)
