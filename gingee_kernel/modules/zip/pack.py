"""Packing a confined folder into a ZIP archive, in a content-pool thread. The entries are collected
first (sorted, every path checked by the fs rules, symlinks followed only inside the scope), then
written one at a time, with the archive's size watched as it grows."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ...engine.paths import is_inside
from .. import fs
from ..content.offload import Budget
from .errors import os_error, too_large, unsafe

CHUNK = 1024 * 1024
#: The time every entry gets with keep_times=False: the earliest a ZIP archive can hold.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Entry:
    """One archive entry: its name ("docs/" for a folder) and the checked real path it is read from."""

    name: str
    path: Path
    is_dir: bool


@dataclass(frozen=True)
class Source:
    """What to pack: `folder` in `scope`, its checked real path, the name prefix of its entries ("" or
    "<folder name>/"), and a real path to leave out (the archive being written, if it lies inside)."""

    scope: str
    folder: str
    real: Path
    prefix: str
    skip: Path | None = None


def collect(budget: Budget, source: Source, max_entries: int) -> list[Entry]:
    """The entries under the source folder, sorted by name. In WEB scope the app's box/ is left out (fs
    never shows it); a symlink leading out of the scope, or to one of its own parent folders, is
    refused (UNSAFE_ENTRY). ARCHIVE_TOO_LARGE past `max_entries`."""
    web_root = fs.resolve(fs.WEB, "/") if source.scope == fs.WEB else None
    entries: list[Entry] = []
    if source.prefix:
        entries.append(Entry(source.prefix, source.real, True))
    stack = [(source.real, source.folder, source.prefix, (source.real,))]
    while stack:
        real_dir, rel, prefix, parents = stack.pop()
        try:
            with os.scandir(real_dir) as found:
                names = sorted(entry.name for entry in found)
        except OSError as exc:
            raise os_error(exc, f"{source.scope}:/{rel}") from None
        for name in names:
            budget.check()
            if real_dir == web_root and name.casefold() == "box":
                continue
            arcname = prefix + name
            _check_name(arcname, name)
            try:
                real = fs.resolve(source.scope, f"{rel}/{name}")
            except fs.FsAccessDenied:
                raise unsafe(arcname, "is a symlink that leads out of the folder's scope") from None
            if real == source.skip:
                continue
            if real.is_dir():
                if any(is_inside(parent, real) for parent in parents):
                    raise unsafe(arcname, "is a symlink to a folder that contains it (a loop)")
                entries.append(Entry(arcname + "/", real, True))
                stack.append((real, f"{rel}/{name}", arcname + "/", (*parents, real)))
            elif real.is_file():
                entries.append(Entry(arcname, real, False))
            if len(entries) > max_entries:
                raise too_large(f"the folder holds more than {max_entries} files and folders", "max_entries")
    return sorted(entries, key=lambda entry: entry.name)


def write(budget: Budget, entries: list[Entry], out: BinaryIO, keep_times: bool, max_size: int) -> None:
    """Write `entries` as a deflated ZIP archive into `out` (a seekable binary file), checking the
    budget and the archive's size (ARCHIVE_TOO_LARGE past `max_size` bytes) after every chunk."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry in entries:
            budget.check()
            try:
                info = zipfile.ZipInfo.from_file(entry.path, entry.name, strict_timestamps=False)
                if not keep_times:
                    info.date_time = FIXED_TIME
                if entry.is_dir:
                    archive.writestr(info, b"")
                    continue
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(entry.path, "rb") as src, archive.open(info, "w") as dst:
                    while chunk := src.read(CHUNK):
                        dst.write(chunk)
                        budget.check()
                        _check_size(out, max_size)
            except OSError as exc:
                raise os_error(exc, f"entry {entry.name!r}") from None
            _check_size(out, max_size)


def _check_name(arcname: str, name: str) -> None:
    if "\\" in name:
        raise unsafe(arcname, "has a backslash in its name, which other systems read as a folder separator")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise unsafe(arcname, "has a name that is not valid UTF-8") from None


def _check_size(out: BinaryIO, max_size: int) -> None:
    if out.tell() > max_size:
        raise too_large(f"the archive grew past {max_size} bytes", "max_output_size")
