"""Gingee `fs` module: a jailed file system for server scripts, gated by the "fs" permission.

Two scopes, passed first to every function:

- `BOX`: the app's private `web/<app>/box/` folder.
- `WEB`: the app's public files, `web/<app>/` *without* `box/`. The Node original let WEB reach
  `box/`; here WEB never does (a path that resolves into `box/`, by name or through a symlink, is
  denied, and `listdir`/`walk` never show it). The name `box` is reserved at the WEB root in any
  letter case, so a case-insensitive file system cannot alias it.

Paths are relative to the scope root, with "/" as the separator ("\\" is accepted as one too). A
leading "/" means the scope root, so `"/etc/passwd"` is `<scope root>/etc/passwd`, never the server's
`/etc/passwd`: it is simply not found unless the app has such a file. "." and empty segments are
ignored; ".." segments and NUL characters are refused outright.

Confinement is decided on the resolved path (`os.path.realpath`, symlinks followed; for a path that
does not exist yet, its existing ancestors are resolved): whatever leaves the scope root, including
symlinks pointing out and sibling folders sharing a prefix (`demo` vs `demo2`), raises
`FsAccessDenied`. Operations then act on the resolved path, never on the caller's string. The check is
made at call time: a symlink swapped in by another process between the check and the use is not
guarded against (scripts themselves cannot create symlinks through this module).

Errors never reveal server paths: OS errors (FileNotFoundError, IsADirectoryError, ...) are re-raised
with the scope-relative path, written like `box:/data/notes.txt`. Text is read and written verbatim
(no newline translation). Functions are synchronous and meant for small files.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine.app import AppRuntime
from ..engine.context import require
from ..engine.paths import is_inside
from ..errors import GingeeError

__all__ = [
    "BOX",
    "WEB",
    "FsAccessDenied",
    "append_text",
    "copy",
    "delete",
    "exists",
    "is_dir",
    "is_file",
    "listdir",
    "mkdir",
    "move",
    "read_bytes",
    "read_json",
    "read_text",
    "rmdir",
    "stat",
    "walk",
    "write_bytes",
    "write_json",
    "write_text",
]

BOX = "box"
WEB = "web"

_SCOPES = (BOX, WEB)


class FsAccessDenied(GingeeError, PermissionError):
    """A path given to the fs module leaves its scope (or, in WEB scope, reaches the private box/)."""

    def __init__(self, scope: str, path: object, reason: str = "it leaves the scope root") -> None:
        self.scope = scope
        self.path = path
        self.reason = reason
        super().__init__(
            f"fs: access to {path!r} in scope {scope.upper()} is denied: {reason}. Paths are relative "
            f"to the scope root ({'the app box/' if scope == BOX else 'the app public folder'})."
        )


@dataclass(frozen=True)
class _Loc:
    """A checked location: `leaf` has its parent resolved but not its last segment; `target` is fully
    resolved. `rel` is the normalised scope-relative POSIX path ("" for the scope root)."""

    app: AppRuntime
    scope: str
    root: Path
    rel: str
    leaf: Path
    target: Path

    @property
    def display(self) -> str:
        return f"{self.scope}:/{self.rel}"

    @property
    def is_root(self) -> bool:
        return self.leaf == self.root or self.target == self.root


def _scope_name(scope: str) -> str:
    if isinstance(scope, str) and scope.lower() in _SCOPES:
        return scope.lower()
    raise ValueError(f"fs: scope must be fs.BOX or fs.WEB, not {scope!r}")


def _in_box(app: AppRuntime, path: Path) -> bool:
    """True if resolved `path` is the box or below it, by name or by file identity (case-insensitive
    file systems can spell the same folder differently)."""
    if is_inside(path, app.box):
        return True
    try:
        box_stat = os.stat(app.box)
    except OSError:
        return False
    for ancestor in (path, *path.parents):
        if ancestor == app.root or not is_inside(ancestor, app.root):
            break
        try:
            if os.path.samestat(os.stat(ancestor), box_stat):
                return True
        except OSError:
            continue
    return False


def _locate(app: AppRuntime, scope: str, path: str) -> _Loc:
    """Check `path` against `scope` and return where it really is; raises FsAccessDenied."""
    scope = _scope_name(scope)
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"fs: path must be a str, not {type(path).__name__}")
    if "\x00" in path:
        raise FsAccessDenied(scope, path, "the path contains a NUL character")
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise FsAccessDenied(scope, path, "'..' segments are not allowed")
    if os.name == "nt" and any(":" in p for p in parts):
        raise FsAccessDenied(scope, path, "':' is not allowed in a path segment")
    root = app.box if scope == BOX else app.root
    if scope == WEB and parts and parts[0].casefold() == "box":
        raise FsAccessDenied(scope, path, "the app's box/ folder is private")

    if parts:
        parent = Path(os.path.realpath(root.joinpath(*parts[:-1])))
        leaf = parent / parts[-1]
    else:
        parent = leaf = root
    target = Path(os.path.realpath(leaf))
    if not is_inside(parent, root) or not is_inside(target, root):
        raise FsAccessDenied(scope, path)
    if scope == WEB and (_in_box(app, leaf) or _in_box(app, target)):
        raise FsAccessDenied(scope, path, "the app's box/ folder is private")
    return _Loc(app, scope, root, "/".join(parts), leaf, target)


def _allowed(loc: _Loc, path: Path) -> bool:
    """True if the resolved `path` may be shown or used in `loc`'s scope."""
    if not is_inside(path, loc.root):
        return False
    return not (loc.scope == WEB and _in_box(loc.app, path))


def _child_rel(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


@contextlib.contextmanager
def _os_errors(first: _Loc, second: _Loc | None = None) -> Iterator[None]:
    """Re-raise OS errors with scope-relative paths instead of server paths."""
    try:
        yield
    except FsAccessDenied:
        raise
    except OSError as exc:
        cls: type[OSError] = type(exc) if type(exc).__module__ == "builtins" else OSError
        reason = exc.strerror or "the operation failed"
        if exc.errno is None:
            target = first.display + (f" -> {second.display}" if second else "")
            raise cls(f"{reason}: {target}") from None
        if second is None:
            raise cls(exc.errno, reason, first.display) from None
        raise cls(exc.errno, reason, first.display, None, second.display) from None


def _not_found(loc: _Loc) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), loc.display)


def _refuse_root(loc: _Loc, path: str, what: str) -> None:
    if loc.is_root:
        raise FsAccessDenied(loc.scope, path, f"the scope root itself cannot be {what}")
    if loc.scope == WEB and (is_inside(loc.app.box, loc.leaf) or is_inside(loc.app.box, loc.target)):
        raise FsAccessDenied(loc.scope, path, f"it holds the app's box/ folder, which cannot be {what}")


def _write(loc: _Loc, data: bytes, *, append: bool = False) -> None:
    with _os_errors(loc):
        loc.target.parent.mkdir(parents=True, exist_ok=True)
        with open(loc.target, "ab" if append else "wb") as fh:
            fh.write(data)


def read_text(scope: str, path: str, encoding: str = "utf-8") -> str:
    """The text of a file, decoded with `encoding` (newlines kept as they are)."""
    app = require("fs")
    loc = _locate(app, scope, path)
    with _os_errors(loc), open(loc.target, encoding=encoding, newline="") as fh:
        return fh.read()


def read_bytes(scope: str, path: str) -> bytes:
    """The bytes of a file."""
    app = require("fs")
    loc = _locate(app, scope, path)
    with _os_errors(loc), open(loc.target, "rb") as fh:
        return fh.read()


def write_text(scope: str, path: str, text: str, encoding: str = "utf-8") -> None:
    """Write `text` to a file (replacing it; parent folders are created)."""
    app = require("fs")
    loc = _locate(app, scope, path)
    _write(loc, text.encode(encoding))


def write_bytes(scope: str, path: str, data: bytes) -> None:
    """Write `data` to a file (replacing it; parent folders are created)."""
    app = require("fs")
    loc = _locate(app, scope, path)
    _write(loc, bytes(data))


def append_text(scope: str, path: str, text: str, encoding: str = "utf-8") -> None:
    """Append `text` to a file (created with its parent folders if missing)."""
    app = require("fs")
    loc = _locate(app, scope, path)
    _write(loc, text.encode(encoding), append=True)


def read_json(scope: str, path: str) -> Any:
    """The parsed JSON content of a UTF-8 file; ValueError naming the file if it is not valid JSON."""
    app = require("fs")
    loc = _locate(app, scope, path)
    with _os_errors(loc), open(loc.target, encoding="utf-8") as fh:
        text = fh.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"fs: {loc.display} is not valid JSON: {exc}") from None


def write_json(scope: str, path: str, data: Any, indent: int | None = 2) -> None:
    """Write `data` as UTF-8 JSON, atomically (a temporary file in the same folder, then os.replace)."""
    app = require("fs")
    loc = _locate(app, scope, path)
    payload = (json.dumps(data, indent=indent, ensure_ascii=False) + "\n").encode("utf-8")
    with _os_errors(loc):
        if loc.target.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), loc.display)
        loc.target.parent.mkdir(parents=True, exist_ok=True)
        tmp = loc.target.parent / f".{loc.target.name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, loc.target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def exists(scope: str, path: str) -> bool:
    """True if the path is an existing file or folder."""
    app = require("fs")
    return _locate(app, scope, path).target.exists()


def is_file(scope: str, path: str) -> bool:
    """True if the path is an existing file."""
    app = require("fs")
    return _locate(app, scope, path).target.is_file()


def is_dir(scope: str, path: str) -> bool:
    """True if the path is an existing folder."""
    app = require("fs")
    return _locate(app, scope, path).target.is_dir()


def delete(scope: str, path: str) -> None:
    """Delete a file (a symlink is removed itself, not its target); folders need rmdir."""
    app = require("fs")
    loc = _locate(app, scope, path)
    _refuse_root(loc, path, "deleted")
    with _os_errors(loc):
        if not loc.leaf.is_symlink() and loc.leaf.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a folder (use fs.rmdir)", loc.display)
        os.unlink(loc.leaf)


def mkdir(scope: str, path: str) -> None:
    """Create a folder and any missing parents; nothing happens if it already exists."""
    app = require("fs")
    loc = _locate(app, scope, path)
    with _os_errors(loc):
        loc.target.mkdir(parents=True, exist_ok=True)


def rmdir(scope: str, path: str, recursive: bool = False) -> None:
    """Remove a folder: empty only, unless `recursive`; never the scope root."""
    app = require("fs")
    loc = _locate(app, scope, path)
    _refuse_root(loc, path, "removed")
    with _os_errors(loc):
        if loc.leaf.is_symlink() or not loc.leaf.is_dir():
            if not loc.leaf.exists() and not loc.leaf.is_symlink():
                raise _not_found(loc)
            raise NotADirectoryError(errno.ENOTDIR, "not a folder (use fs.delete)", loc.display)
        if recursive:
            shutil.rmtree(loc.leaf)
        else:
            os.rmdir(loc.leaf)


def listdir(scope: str, path: str = "/") -> list[str]:
    """The sorted names in a folder, leaving out entries that resolve outside the scope."""
    app = require("fs")
    loc = _locate(app, scope, path)
    with _os_errors(loc):
        names = os.listdir(loc.target)
    return sorted(n for n in names if _allowed(loc, Path(os.path.realpath(loc.target / n))))


def walk(scope: str, path: str = "/", max_depth: int | None = None) -> list[str]:
    """Sorted scope-relative POSIX paths of the files under a folder.

    `max_depth` limits how many folder levels below `path` are entered (0: only its own files; None:
    no limit). Symlinked folders are not entered; symlinked files are listed only if they resolve
    inside the scope.
    """
    app = require("fs")
    loc = _locate(app, scope, path)
    if max_depth is not None and max_depth < 0:
        raise ValueError("fs.walk: max_depth must be >= 0 or None")
    found: list[str] = []

    def visit(folder: Path, rel: str, depth: int) -> None:
        with _os_errors(loc), os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            child = Path(entry.path)
            if not _allowed(loc, Path(os.path.realpath(child))):
                continue
            child_rel = _child_rel(rel, entry.name)
            if entry.is_symlink():
                if entry.is_file():
                    found.append(child_rel)
            elif entry.is_dir(follow_symlinks=False):
                if max_depth is None or depth < max_depth:
                    visit(child, child_rel, depth + 1)
            elif entry.is_file(follow_symlinks=False):
                found.append(child_rel)

    if not loc.target.exists():
        raise _not_found(loc)
    if not loc.target.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), loc.display)
    visit(loc.target, loc.rel, 0)
    return sorted(found)


def copy(scope: str, src: str, dst: str) -> None:
    """Copy a file's content to `dst` (replaced if it exists; parent folders are created)."""
    app = require("fs")
    source = _locate(app, scope, src)
    dest = _locate(app, scope, dst)
    with _os_errors(source, dest):
        if not source.target.exists():
            raise _not_found(source)
        if source.target.is_dir():
            raise IsADirectoryError(errno.EISDIR, "copy works on files only", source.display)
        if dest.target.exists() and os.path.samefile(source.target, dest.target):
            raise ValueError(f"fs.copy: {source.display} and {dest.display} are the same file")
        dest.target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.target, dest.target)


def move(scope: str, src: str, dst: str) -> None:
    """Move or rename a file, folder or symlink to the new path `dst` (an existing file is replaced)."""
    app = require("fs")
    source = _locate(app, scope, src)
    dest = _locate(app, scope, dst)
    _refuse_root(source, src, "moved")
    if dest.is_root:
        raise FsAccessDenied(dest.scope, dst, "the scope root itself cannot be replaced")
    with _os_errors(source, dest):
        if not source.leaf.exists() and not source.leaf.is_symlink():
            raise _not_found(source)
        if dest.leaf.is_dir() and not dest.leaf.is_symlink():
            raise IsADirectoryError(errno.EISDIR, "the destination is an existing folder", dest.display)
        dest.leaf.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source.leaf, dest.leaf)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            shutil.move(source.leaf, dest.leaf)


def stat(scope: str, path: str) -> dict[str, Any]:
    """Size (bytes), mtime (epoch seconds), is_file, is_dir and is_symlink of a path."""
    app = require("fs")
    loc = _locate(app, scope, path)
    with _os_errors(loc):
        st = os.stat(loc.target)
        is_link = loc.leaf.is_symlink()
    return {
        "size": st.st_size,
        "mtime": st.st_mtime,
        "is_file": loc.target.is_file(),
        "is_dir": loc.target.is_dir(),
        "is_symlink": is_link,
    }


def resolve(scope: str, path: str) -> Path:
    """The checked real path of `path` in `scope`, for Gingee modules that stream files themselves (zip).

    The same grant and confinement as every other function here (FsAccessDenied for a path leaving the
    scope or, in WEB, reaching box/); the path need not exist. It is a server path: never show it to a
    user, and act on it at once. Not in `__all__`: server scripts use the functions above instead.
    """
    app = require("fs")
    return _locate(app, scope, path).target
