"""Extracting a ZIP archive into a confined folder, in a content-pool thread, all or nothing.

1. Plan: every entry is checked before anything is written. Names must be relative and portable (no
   "..", no leading "/", no drive letter, no backslash, no NUL); links, devices and encrypted entries
   are refused; declared sizes and compression ratios must be within the limits; each destination is
   resolved by the fs rules (so an existing symlink cannot lead out, and WEB never reaches box/) and
   must stay inside the destination folder; an existing file is refused unless `overwrite`.
2. Extract into a hidden staging folder inside the destination, counting the bytes really written
   (never trusting the declared sizes) against the same limits.
3. Move each file into place, then remove the staging folder. A failure before this step leaves the
   destination as it was (a destination folder created for the archive is removed again).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import struct
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from ...engine.paths import is_inside
from .. import fs
from ..content.errors import ContentError
from ..content.offload import Budget
from .entries import check_kind, check_tree, entry_parts
from .errors import MODULE, invalid, os_error, shown, too_large, unsafe

CHUNK = 1024 * 1024
#: Ratios are judged only past this much output: small files of repeated bytes compress far beyond
#: any bomb ratio, and a 1 MiB output is harmless.
RATIO_GRACE = 1024 * 1024
STAGING_PREFIX = ".gingee-unzip-"
_DAMAGED = (zipfile.BadZipFile, EOFError, NotImplementedError, ValueError, RuntimeError, OSError)


@dataclass(frozen=True)
class Destination:
    """Where to extract: `folder` (scope-relative) in `scope`, its checked real path, and whether
    existing files may be replaced."""

    scope: str
    folder: str
    real: Path
    overwrite: bool


@dataclass(frozen=True)
class Planned:
    """One checked entry: its path parts, its real final path, and the scope-relative path reported."""

    info: zipfile.ZipInfo
    parts: tuple[str, ...]
    target: Path
    rel: str


#: The destination folders being unzipped into in this process, each with its lock and how many unzips
#: want it: two unzips into the same folder run one after the other, so the second sees what the first
#: wrote (and, without `overwrite`, refuses to replace it).
_FOLDERS: dict[Path, tuple[threading.Lock, list[int]]] = {}
_FOLDERS_GUARD = threading.Lock()


@contextlib.contextmanager
def _one_at_a_time(folder: Path) -> Iterator[None]:
    with _FOLDERS_GUARD:
        lock, users = _FOLDERS.setdefault(folder, (threading.Lock(), [0]))
        users[0] += 1
    try:
        with lock:
            yield
    finally:
        with _FOLDERS_GUARD:
            users[0] -= 1
            if not users[0]:
                del _FOLDERS[folder]


def unpack(
    budget: Budget, source: BinaryIO, size: int, dest: Destination, limits: dict[str, int]
) -> list[str]:
    """Extract the archive in `source` (`size` bytes) into `dest`; the scope-relative paths of the
    files written, sorted. Unzips into the same folder in this process run one at a time."""
    archive = _open(source, limits["max_entries"])
    with archive, _one_at_a_time(dest.real):
        planned = plan(budget, archive, size, dest, limits)
        created = _missing_ancestor(dest.real)
        try:
            dest.real.mkdir(parents=True, exist_ok=True)
            staging = dest.real / f"{STAGING_PREFIX}{secrets.token_hex(8)}"
            staging.mkdir()
        except OSError as exc:
            raise os_error(exc, f"{dest.scope}:/{dest.folder}") from None
        try:
            extract(budget, archive, planned, staging, size, limits)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            _remove_empty(dest.real, created)
            raise
        try:
            place(planned, staging, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return sorted(p.rel for p in planned if not p.info.is_dir())


def _open(source: BinaryIO, max_entries: int) -> zipfile.ZipFile:
    count = _directory_entries(source)
    if count is not None and count > max_entries:
        raise too_large(f"the archive has more than {max_entries} entries", "max_entries")
    try:
        return zipfile.ZipFile(source)
    except (*_DAMAGED, zipfile.LargeZipFile) as exc:
        raise invalid(f"the data is not a readable ZIP archive ({exc})") from None


#: The records of APPNOTE.TXT (the ZIP format) read here: end of central directory, zip64's end record and
#: its locator, and a central directory file header.
#: signature, disk, cd disk, entries here, entries, cd size, cd offset, comment length
_END = struct.Struct("<4s4H2LH")
#: signature, record size, versions, disk, cd disk, entries here, entries, cd size, cd offset
_END64 = struct.Struct("<4sQ2H2L4Q")
_LOCATOR64 = struct.Struct("<4sLQL")
_CENTRAL_HEADER = b"PK\x01\x02"


def _directory_entries(source: BinaryIO) -> int | None:
    """How many entry records the central directory can hold at most (its signatures counted), read
    before zipfile parses them all into memory; None if the end record cannot be found (zipfile then
    says why). Reads the end records as APPNOTE.TXT lays them out."""
    try:
        size = source.seek(0, os.SEEK_END)
        tail_start = max(0, size - _END.size - 0xFFFF)  # the end record, then a comment of up to 64 KiB
        source.seek(tail_start)
        tail = source.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + _END.size > len(tail):
            return None
        cd_size = _END.unpack_from(tail, at)[5]
        start = tail_start + at - cd_size
        locator_at = tail_start + at - _LOCATOR64.size
        if locator_at >= 0:
            source.seek(locator_at)
            locator = source.read(_LOCATOR64.size)
            if locator[:4] == b"PK\x06\x07":  # zip64: the sizes are in its own end record
                record_at = _LOCATOR64.unpack(locator)[2]
                source.seek(record_at)
                record = source.read(_END64.size)
                if len(record) < _END64.size or record[:4] != b"PK\x06\x06":
                    return None
                cd_size = _END64.unpack(record)[8]
                start = record_at - cd_size
        if start < 0 or cd_size > size:
            return None
        source.seek(start)
        return source.read(cd_size).count(_CENTRAL_HEADER)
    except (OSError, ValueError, struct.error):
        return None
    finally:
        with contextlib.suppress(OSError, ValueError):
            source.seek(0)


def plan(
    budget: Budget, archive: zipfile.ZipFile, size: int, dest: Destination, limits: dict[str, int]
) -> list[Planned]:
    """Every entry checked, before anything is written (see the module docstring)."""
    infos = archive.infolist()
    max_entries, max_ratio = limits["max_entries"], limits["max_ratio"]
    if len(infos) > max_entries:
        raise too_large(f"the archive has {len(infos)} entries, more than {max_entries}", "max_entries")
    kinds: dict[tuple[str, ...], bool] = {}  # path -> is a folder
    targets: dict[Path, str] = {}
    planned, declared = [], 0
    base = [p for p in dest.folder.split("/") if p]
    for info in infos:
        budget.check()
        parts = entry_parts(info)
        if not parts:
            continue  # a folder entry for the archive's own root ("./"): the destination itself
        check_kind(info)
        check_tree(info, parts, kinds)
        if info.file_size > RATIO_GRACE and info.file_size > max_ratio * max(info.compress_size, 1):
            raise too_large(f"entry {shown(info.filename)} expands more than {max_ratio} times", "max_ratio")
        declared += info.file_size
        rel = "/".join((*base, *parts))
        try:
            target = fs.resolve(dest.scope, rel)
        except fs.FsAccessDenied as exc:
            raise unsafe(
                info.orig_filename, f"would be written where fs does not allow ({exc.reason})"
            ) from None
        if not is_inside(target, dest.real) or target == dest.real:
            raise unsafe(info.orig_filename, "would be written outside the destination folder")
        if not info.is_dir():
            if target in targets:
                raise unsafe(info.orig_filename, f"writes the same file as entry {shown(targets[target])}")
            targets[target] = info.orig_filename
        _check_existing(info, target, dest)
        planned.append(Planned(info, parts, target, rel))
    limit = limits["max_unpacked_size"]
    if declared > limit:
        raise too_large(
            f"the archive unpacks to {declared} bytes, over the limit of {limit}", "max_unpacked_size"
        )
    if declared > RATIO_GRACE and declared > max_ratio * max(size, 1):
        raise too_large(f"the archive expands more than {max_ratio} times", "max_ratio")
    return planned


def _check_existing(info: zipfile.ZipInfo, target: Path, dest: Destination) -> None:
    for parent in target.parents:
        if parent == dest.real or not is_inside(parent, dest.real):
            break
        if parent.exists() and not parent.is_dir():
            raise _exists(info, f"needs a folder where the file {_rel(parent, dest)!r} is")
    if info.is_dir():
        if target.exists() and not target.is_dir():
            raise _exists(info, f"is a folder, but {_rel(target, dest)!r} is a file")
    elif target.is_dir():
        raise _exists(info, f"is a file, but {_rel(target, dest)!r} is a folder")
    elif (target.exists() or target.is_symlink()) and not dest.overwrite:
        raise _exists(info, f"would replace {_rel(target, dest)!r}; pass overwrite=True to replace files")


def _exists(info: zipfile.ZipInfo, reason: str) -> ContentError:
    return ContentError(
        MODULE, "ENTRY_EXISTS", f"entry {shown(info.orig_filename)} {reason}; nothing was written"
    )


def _rel(path: Path, dest: Destination) -> str:
    rel = "/".join(p for p in (dest.folder, path.relative_to(dest.real).as_posix()) if p)
    return f"{dest.scope}:/{rel}"


def extract(
    budget: Budget,
    archive: zipfile.ZipFile,
    planned: list[Planned],
    staging: Path,
    size: int,
    limits: dict[str, int],
) -> None:
    """Write the planned entries under `staging`, counting the bytes really written."""
    max_ratio, max_total = limits["max_ratio"], limits["max_unpacked_size"]
    total = 0
    for entry in planned:
        budget.check()
        out = staging.joinpath(*entry.parts)
        where = f"entry {entry.info.orig_filename!r}"
        try:
            if entry.info.is_dir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            dst = open(out, "xb")  # noqa: SIM115 - closed below, after the source
        except FileExistsError:
            raise unsafe(entry.info.orig_filename, "names a file another entry names too") from None
        except OSError as exc:
            raise os_error(exc, where) from None
        written = 0
        with dst, _reading(archive, entry.info) as src:
            while True:
                try:
                    chunk = src.read(CHUNK)
                except _DAMAGED as exc:
                    raise invalid(f"entry {shown(entry.info.orig_filename)} is damaged ({exc})") from None
                if not chunk:
                    break
                written += len(chunk)
                total += len(chunk)
                _check_counts(entry.info, written, total, size, max_ratio, max_total)
                try:
                    dst.write(chunk)
                except OSError as exc:
                    raise os_error(exc, where) from None
                budget.check()
        _set_mtime(out, entry.info)


@contextlib.contextmanager
def _reading(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[IO[bytes]]:
    try:
        src = archive.open(info)
    except _DAMAGED as exc:
        raise invalid(f"entry {shown(info.orig_filename)} is damaged ({exc})") from None
    with src:
        yield src


def _check_counts(
    info: zipfile.ZipInfo, written: int, total: int, size: int, max_ratio: int, max_total: int
) -> None:
    if written > info.file_size:
        raise invalid(f"entry {shown(info.orig_filename)} holds more data than its header says")
    if total > max_total:
        raise too_large(f"the archive unpacks to more than {max_total} bytes", "max_unpacked_size")
    if written > RATIO_GRACE and written > max_ratio * max(info.compress_size, 1):
        raise too_large(f"entry {shown(info.orig_filename)} expands more than {max_ratio} times", "max_ratio")
    if total > RATIO_GRACE and total > max_ratio * max(size, 1):
        raise too_large(f"the archive expands more than {max_ratio} times", "max_ratio")


def _set_mtime(path: Path, info: zipfile.ZipInfo) -> None:
    with contextlib.suppress(OverflowError, ValueError, OSError):
        when = time.mktime((*info.date_time, 0, 0, -1))
        os.utime(path, (when, when))


def place(planned: list[Planned], staging: Path, dest: Destination) -> None:
    """Move the extracted files from `staging` to their checked real paths."""
    for entry in planned:
        try:
            if entry.info.is_dir():
                entry.target.mkdir(parents=True, exist_ok=True)
                continue
            entry.target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging.joinpath(*entry.parts), entry.target)
        except OSError as exc:
            raise os_error(exc, f"{dest.scope}:/{entry.rel}") from None


def _missing_ancestor(path: Path) -> Path | None:
    """The topmost folder of `path` (itself included) that does not exist yet."""
    missing = None
    while not path.exists() and path != path.parent:
        missing, path = path, path.parent
    return missing


def _remove_empty(path: Path, created: Path | None) -> None:
    """Remove the folders from `path` up to `created` (those made for this archive) while they are empty."""
    if created is None:
        return
    while is_inside(path, created):
        try:
            path.rmdir()
        except OSError:
            return
        path = path.parent
