"""Checks on one archive entry that need nothing but the archive: a name that is relative and portable,
a kind that is a plain file or folder (no links, devices or encryption, a known compression method),
and no clash with the entries before it (a file named twice, or a file where a folder is)."""

from __future__ import annotations

import re
import stat
import zipfile

from ..content.errors import ContentError
from .errors import MODULE, invalid, shown, unsafe

_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
if zipfile.bz2 is not None:  # type: ignore[attr-defined]
    _METHODS[zipfile.ZIP_BZIP2] = "bzip2"
if zipfile.lzma is not None:  # type: ignore[attr-defined]
    _METHODS[zipfile.ZIP_LZMA] = "lzma"
_DRIVE = re.compile(r"^[A-Za-z]:")
_MAX_SEGMENT = 255  # bytes in one file name, on every common file system


def entry_parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    """The entry's path segments ("." and empty ones dropped; () for a "./" folder), or UNSAFE_ENTRY
    for a name that could land outside the destination or means different things on different systems.
    The name is the archive's own (`orig_filename`: zipfile cuts its `filename` at a NUL)."""
    name = info.orig_filename
    if "\x00" in name:
        raise unsafe(name, "has a NUL character in its name")
    if "\\" in name:
        raise unsafe(name, "has a backslash in its name (a Windows path)")
    if name.startswith("/"):
        raise unsafe(name, "is an absolute path")
    if _DRIVE.match(name):
        raise unsafe(name, "starts with a drive letter")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise unsafe(name, "has a '..' segment, which would climb out of the destination")
    if not parts and not info.is_dir():
        raise unsafe(name, "has no file name")
    if any(len(p.encode("utf-8", "surrogatepass")) > _MAX_SEGMENT for p in parts):
        raise unsafe(name, f"has a name segment longer than {_MAX_SEGMENT} bytes")
    return parts


def check_kind(info: zipfile.ZipInfo) -> None:
    """Refuse links, devices, pipes and sockets (by the Unix mode in `external_attr`), encrypted entries
    and compression methods zipfile cannot read."""
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        raise unsafe(info.orig_filename, "is a symbolic link; links are not extracted")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise unsafe(info.orig_filename, "is a device, pipe or socket, not a file")
    if info.flag_bits & 0x1:
        raise ContentError(
            MODULE,
            "ENCRYPTED_ENTRY",
            f"entry {shown(info.orig_filename)} is encrypted; the zip module does not take passwords "
            "(nothing was written)",
        )
    if info.compress_type not in _METHODS:
        methods = ", ".join(_METHODS.values())
        raise invalid(
            f"entry {shown(info.orig_filename)} uses compression method {info.compress_type}; "
            f"supported: {methods}"
        )


def check_tree(info: zipfile.ZipInfo, parts: tuple[str, ...], kinds: dict[tuple[str, ...], bool]) -> None:
    """Refuse an entry that is both a file and a folder, or a file named twice."""
    for depth in range(1, len(parts)):
        if kinds.setdefault(parts[:depth], True) is False:
            raise unsafe(info.orig_filename, f"is inside {'/'.join(parts[:depth])!r}, which is a file")
    seen = kinds.get(parts)
    if info.is_dir():
        if seen is False:
            raise unsafe(info.orig_filename, "is a folder of the same name as a file")
        kinds[parts] = True
    elif seen is not None:
        raise unsafe(info.orig_filename, "appears twice, or as both a file and a folder")
    else:
        kinds[parts] = False
