"""fs: BOX/WEB scopes, round trips, permission gating and every kind of escape attempt.

An absolute path such as "/etc/passwd" is NOT an escape: a leading "/" means the scope root, so it is
looked up as <scope root>/etc/passwd and raises FileNotFoundError (or reads the app's own file of that
name). Those cases are tested apart from the FsAccessDenied list below.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.context import app_context
from gingee_kernel.errors import GingeeError, NoAppContext, PermissionDenied
from gingee_kernel.modules import fs
from gingee_kernel.modules.fs import BOX, WEB, FsAccessDenied
from tests.fixtures.apps import MakeApp

OUTSIDE = "TOP SECRET OUTSIDE"
SIBLING = "SIBLING APP SECRET"
BOX2 = "BOX2 SECRET"
PRIVATE = "PRIVATE BOX CONTENT"
SECRETS = (OUTSIDE, SIBLING, BOX2)


def _symlink(link: Path, target: Path | str) -> None:
    try:
        link.symlink_to(target)
    except (OSError, NotImplementedError):
        pytest.skip("symlinks are not available here")


@pytest.fixture
def layout(tmp_path: Path, make_app: MakeApp) -> Iterator[AppRuntime]:
    """App `demo` (granted fs) with symlinks pointing out of its scopes, and a sibling app `demo2`."""
    app = make_app("demo", grants={"fs"})
    make_app("demo2")
    web, box = tmp_path / "web" / "demo", tmp_path / "web" / "demo" / "box"
    (tmp_path / "secret.txt").write_text(OUTSIDE)
    (tmp_path / "web" / "demo2" / "index.html").write_text(SIBLING)
    (tmp_path / "web" / "demo2" / "box" / "secret.txt").write_text(SIBLING)
    (web / "box2").mkdir()
    (web / "box2" / "secret.txt").write_text(BOX2)
    (web / "index.html").write_text("<h1>public</h1>")
    (web / "css").mkdir()
    (web / "css" / "site.css").write_text("body{}")
    (box / "private.txt").write_text(PRIVATE)
    (box / "data").mkdir()
    (box / "data" / "a.json").write_text('{"a": 1}')

    _symlink(box / "out", tmp_path / "secret.txt")
    _symlink(box / "outdir", tmp_path)
    _symlink(box / "rel", "../../../secret.txt")
    _symlink(box / "sib", tmp_path / "web" / "demo2" / "box" / "secret.txt")
    _symlink(box / "box2link", web / "box2" / "secret.txt")
    _symlink(box / "box2dir", web / "box2")
    _symlink(box / "dangling", tmp_path / "created-outside.txt")
    _symlink(box / "inside", "data/a.json")
    _symlink(web / "tobox", box)
    _symlink(web / "tobox_file", box / "private.txt")
    _symlink(web / "sib", tmp_path / "web" / "demo2")
    _symlink(web / "up", tmp_path)
    _symlink(web / "public_link", "css/site.css")
    with app_context(app):
        yield app


# ---------------------------------------------------------------- round trips


def test_text_round_trip_and_append(layout: AppRuntime) -> None:
    fs.write_text(BOX, "notes/today.txt", "line 1\r\n")
    fs.append_text(BOX, "/notes/today.txt", "line 2\n")
    assert fs.read_text(BOX, "notes/today.txt") == "line 1\r\nline 2\n"
    assert (layout.box / "notes" / "today.txt").read_bytes() == b"line 1\r\nline 2\n"
    fs.append_text(BOX, "new/log.txt", "first")
    assert fs.read_text(BOX, "new/log.txt") == "first"
    fs.write_text(BOX, "latin.txt", "é", encoding="latin-1")
    assert fs.read_bytes(BOX, "latin.txt") == b"\xe9"
    assert fs.read_text(BOX, "latin.txt", encoding="latin-1") == "é"


def test_bytes_round_trip(layout: AppRuntime) -> None:
    data = bytes(range(256))
    fs.write_bytes(BOX, "bin/blob.dat", data)
    assert fs.read_bytes(BOX, "bin/blob.dat") == data
    fs.write_bytes(BOX, "bin/blob.dat", b"short")
    assert fs.read_bytes(BOX, "bin/blob.dat") == b"short"


def test_json_round_trip(layout: AppRuntime) -> None:
    data = {"name": "Zoë", "items": [1, 2.5, None, True], "nested": {"k": "v"}}
    fs.write_json(BOX, "data/out.json", data)
    assert fs.read_json(BOX, "data/out.json") == data
    text = (layout.box / "data" / "out.json").read_text("utf-8")
    assert text == json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    fs.write_json(BOX, "data/compact.json", [1, 2], indent=None)
    assert fs.read_text(BOX, "data/compact.json") == "[1, 2]\n"
    assert fs.read_json(BOX, "data/a.json") == {"a": 1}


def test_write_json_is_atomic(layout: AppRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    fs.write_json(BOX, "data/state.json", {"v": 1})

    def boom(src: Any, dst: Any) -> None:
        raise OSError(5, "Input/output error", str(dst))

    monkeypatch.setattr(fs.os, "replace", boom)
    with pytest.raises(OSError) as info:
        fs.write_json(BOX, "data/state.json", {"v": 2})
    assert "box:/data/state.json" in str(info.value)
    assert str(layout.root) not in str(info.value)
    monkeypatch.undo()
    assert fs.read_json(BOX, "data/state.json") == {"v": 1}
    assert sorted(p.name for p in (layout.box / "data").iterdir()) == ["a.json", "state.json"]


def test_read_json_rejects_invalid_json_naming_the_file(layout: AppRuntime) -> None:
    fs.write_text(BOX, "bad.json", "{nope")
    with pytest.raises(ValueError, match=r"box:/bad\.json is not valid JSON"):
        fs.read_json(BOX, "bad.json")


def test_exists_is_file_is_dir(layout: AppRuntime) -> None:
    assert fs.exists(BOX, "private.txt") and fs.is_file(BOX, "private.txt")
    assert not fs.is_dir(BOX, "private.txt")
    assert fs.exists(BOX, "data") and fs.is_dir(BOX, "data") and not fs.is_file(BOX, "data")
    assert fs.is_dir(BOX, "/") and fs.is_dir(WEB, "/")
    assert not fs.exists(BOX, "missing.txt")
    assert not fs.is_file(BOX, "missing.txt") and not fs.is_dir(BOX, "missing")
    assert fs.is_file(WEB, "index.html") and fs.is_file(WEB, "public_link")
    assert fs.is_file(BOX, "inside")


def test_delete(layout: AppRuntime) -> None:
    fs.write_text(BOX, "tmp.txt", "x")
    fs.delete(BOX, "tmp.txt")
    assert not fs.exists(BOX, "tmp.txt")
    with pytest.raises(FileNotFoundError, match=r"box:/tmp\.txt"):
        fs.delete(BOX, "tmp.txt")
    with pytest.raises(IsADirectoryError, match=r"box:/data"):
        fs.delete(BOX, "data")
    fs.delete(BOX, "inside")  # a symlink is removed itself, its target stays
    assert not (layout.box / "inside").is_symlink()
    assert fs.read_json(BOX, "data/a.json") == {"a": 1}


def test_mkdir_and_rmdir(layout: AppRuntime) -> None:
    fs.mkdir(BOX, "a/b/c")
    fs.mkdir(BOX, "a/b/c")  # already there: nothing happens
    assert fs.is_dir(BOX, "a/b/c")
    with pytest.raises(OSError, match=r"box:/a"):
        fs.rmdir(BOX, "a")  # not empty
    fs.rmdir(BOX, "a/b/c")
    assert not fs.exists(BOX, "a/b/c")
    fs.write_text(BOX, "a/b/file.txt", "x")
    fs.rmdir(BOX, "a", recursive=True)
    assert not fs.exists(BOX, "a")
    with pytest.raises(FileNotFoundError, match=r"box:/a"):
        fs.rmdir(BOX, "a")
    with pytest.raises(NotADirectoryError, match=r"box:/private\.txt"):
        fs.rmdir(BOX, "private.txt")
    fs.write_text(BOX, "f.txt", "x")
    with pytest.raises(FileExistsError):
        fs.mkdir(BOX, "f.txt")


def test_listdir(layout: AppRuntime) -> None:
    fs.write_text(BOX, "data/z.txt", "z")
    fs.write_text(BOX, "data/b.txt", "b")
    assert fs.listdir(BOX, "data") == ["a.json", "b.txt", "z.txt"]
    assert fs.listdir(BOX, "/data/") == ["a.json", "b.txt", "z.txt"]
    with pytest.raises(FileNotFoundError, match=r"box:/nope"):
        fs.listdir(BOX, "nope")
    with pytest.raises(NotADirectoryError, match=r"box:/private\.txt"):
        fs.listdir(BOX, "private.txt")


def test_walk(layout: AppRuntime) -> None:
    fs.write_text(BOX, "data/deep/er/x.txt", "x")
    assert fs.walk(BOX, "data") == ["data/a.json", "data/deep/er/x.txt"]
    assert fs.walk(BOX, "data", max_depth=0) == ["data/a.json"]
    assert fs.walk(BOX, "data", max_depth=1) == ["data/a.json"]
    assert fs.walk(BOX, "data", max_depth=2) == ["data/a.json", "data/deep/er/x.txt"]
    assert fs.walk(WEB, "/css") == ["css/site.css"]
    with pytest.raises(ValueError):
        fs.walk(BOX, "/", max_depth=-1)
    with pytest.raises(FileNotFoundError, match=r"box:/nope"):
        fs.walk(BOX, "nope")
    with pytest.raises(NotADirectoryError):
        fs.walk(BOX, "private.txt")


def test_copy(layout: AppRuntime) -> None:
    fs.copy(BOX, "private.txt", "backup/private.txt")
    assert fs.read_text(BOX, "backup/private.txt") == PRIVATE
    fs.write_text(WEB, "copy-target.txt", "old")
    fs.copy(WEB, "index.html", "copy-target.txt")
    assert fs.read_text(WEB, "copy-target.txt") == "<h1>public</h1>"
    with pytest.raises(FileNotFoundError, match=r"box:/missing\.txt"):
        fs.copy(BOX, "missing.txt", "x.txt")
    with pytest.raises(IsADirectoryError):
        fs.copy(BOX, "data", "data2")
    with pytest.raises(ValueError, match="same file"):
        fs.copy(BOX, "private.txt", "/private.txt")


def test_move(layout: AppRuntime) -> None:
    fs.write_text(BOX, "a.txt", "A")
    fs.move(BOX, "a.txt", "moved/b.txt")
    assert not fs.exists(BOX, "a.txt")
    assert fs.read_text(BOX, "moved/b.txt") == "A"
    fs.write_text(BOX, "c.txt", "C")
    fs.move(BOX, "c.txt", "moved/b.txt")  # replaces an existing file
    assert fs.read_text(BOX, "moved/b.txt") == "C"
    fs.move(BOX, "moved", "renamed")  # folders too
    assert fs.listdir(BOX, "renamed") == ["b.txt"]
    with pytest.raises(IsADirectoryError, match=r"box:/data"):
        fs.move(BOX, "renamed/b.txt", "data")
    with pytest.raises(FileNotFoundError, match=r"box:/nope"):
        fs.move(BOX, "nope", "x")


def test_stat(layout: AppRuntime) -> None:
    fs.write_bytes(BOX, "s.bin", b"12345")
    info = fs.stat(BOX, "s.bin")
    assert info["size"] == 5 and info["is_file"] and not info["is_dir"] and not info["is_symlink"]
    assert abs(info["mtime"] - os.stat(layout.box / "s.bin").st_mtime) < 1e-6
    assert fs.stat(BOX, "data")["is_dir"]
    link = fs.stat(BOX, "inside")
    assert link["is_symlink"] and link["is_file"] and link["size"] == len('{"a": 1}')
    assert set(info) == {"size", "mtime", "is_file", "is_dir", "is_symlink"}


def test_web_scope_reads_and_writes_public_files(layout: AppRuntime) -> None:
    assert fs.read_text(WEB, "/index.html") == "<h1>public</h1>"
    fs.write_text(WEB, "assets/app.js", "console.log(1)")
    assert (layout.root / "assets" / "app.js").read_text() == "console.log(1)"
    assert fs.read_text(WEB, "public_link") == "body{}"


def test_scope_accepts_constants_case_insensitively_and_rejects_others(layout: AppRuntime) -> None:
    assert fs.read_text("BOX", "private.txt") == PRIVATE
    with pytest.raises(ValueError, match=r"fs\.BOX or fs\.WEB"):
        fs.read_text("root", "private.txt")


def test_missing_file_message_is_scope_relative(layout: AppRuntime) -> None:
    for reader in (fs.read_text, fs.read_bytes, fs.read_json, fs.stat):
        with pytest.raises(FileNotFoundError) as info:
            reader(BOX, "no/such.txt")
        assert "box:/no/such.txt" in str(info.value)
        assert str(layout.root) not in str(info.value)
    with pytest.raises(FileNotFoundError) as info:
        fs.read_text(WEB, "nope.html")
    assert info.value.filename == "web:/nope.html"
    assert str(layout.root) not in str(info.value)


# ---------------------------------------------------------------- gating


CALLS: list[tuple[str, Callable[[], Any]]] = [
    ("read_text", lambda: fs.read_text(BOX, "private.txt")),
    ("read_bytes", lambda: fs.read_bytes(BOX, "private.txt")),
    ("write_text", lambda: fs.write_text(BOX, "w.txt", "x")),
    ("write_bytes", lambda: fs.write_bytes(BOX, "w.txt", b"x")),
    ("append_text", lambda: fs.append_text(BOX, "w.txt", "x")),
    ("read_json", lambda: fs.read_json(BOX, "app.json")),
    ("write_json", lambda: fs.write_json(BOX, "w.json", {})),
    ("exists", lambda: fs.exists(BOX, "private.txt")),
    ("is_file", lambda: fs.is_file(BOX, "private.txt")),
    ("is_dir", lambda: fs.is_dir(BOX, "/")),
    ("delete", lambda: fs.delete(BOX, "app.json")),
    ("mkdir", lambda: fs.mkdir(BOX, "d")),
    ("rmdir", lambda: fs.rmdir(BOX, "d")),
    ("listdir", lambda: fs.listdir(BOX)),
    ("walk", lambda: fs.walk(BOX)),
    ("copy", lambda: fs.copy(BOX, "app.json", "c.json")),
    ("move", lambda: fs.move(BOX, "app.json", "m.json")),
    ("stat", lambda: fs.stat(BOX, "app.json")),
]


def test_calls_cover_every_public_function() -> None:
    public = {name for name in fs.__all__ if name not in {"BOX", "WEB", "FsAccessDenied"}}
    assert {name for name, _ in CALLS} == public


@pytest.mark.parametrize(("name", "call"), CALLS, ids=[name for name, _ in CALLS])
def test_every_function_needs_the_fs_grant(make_app: MakeApp, name: str, call: Callable[[], Any]) -> None:
    app = make_app("nofs", grants={"db"})
    before = sorted(p.name for p in app.box.iterdir())
    with app_context(app), pytest.raises(PermissionDenied, match="'fs' permission"):
        call()
    assert sorted(p.name for p in app.box.iterdir()) == before


@pytest.mark.parametrize(("name", "call"), CALLS, ids=[name for name, _ in CALLS])
def test_every_function_needs_an_app_context(name: str, call: Callable[[], Any]) -> None:
    with pytest.raises(NoAppContext):
        call()


def test_fs_access_denied_is_a_gingee_permission_error() -> None:
    err = FsAccessDenied(BOX, "../x")
    assert isinstance(err, GingeeError) and isinstance(err, PermissionError)
    assert "'../x'" in str(err) and "BOX" in str(err)


# ---------------------------------------------------------------- escapes

ESCAPES: list[tuple[str, str]] = [
    (BOX, ".."),
    (BOX, "../index.html"),
    (BOX, "../../../secret.txt"),
    (BOX, "../../etc/passwd"),
    (BOX, "data/../../index.html"),
    (BOX, "..\\..\\..\\secret.txt"),
    (BOX, "/../../../secret.txt"),
    (BOX, "../box2/secret.txt"),  # sibling-prefix folder box2 next to box
    (BOX, "../../demo2/box/secret.txt"),  # sibling-prefix app demo2 next to demo
    (BOX, "out"),  # symlink to a file outside
    (BOX, "outdir/secret.txt"),  # symlinked folder outside
    (BOX, "rel"),  # relative symlink climbing out
    (BOX, "sib"),  # symlink into web/demo2/box
    (BOX, "box2link"),  # symlink into web/demo/box2
    (BOX, "box2dir/secret.txt"),
    (BOX, "dangling"),  # dangling symlink to a file that would be created outside
    (BOX, "private.txt\x00.png"),
    (BOX, "\x00"),
    (WEB, "box"),
    (WEB, "box/private.txt"),
    (WEB, "/box/app.json"),
    (WEB, "./box/private.txt"),
    (WEB, "BOX/private.txt"),
    (WEB, "css/../box/private.txt"),
    (WEB, "tobox/private.txt"),  # public symlink to the box folder
    (WEB, "tobox"),
    (WEB, "tobox_file"),  # public symlink to a box file
    (WEB, "sib/index.html"),  # symlink to the sibling app demo2
    (WEB, "../demo2/index.html"),
    (WEB, "up/secret.txt"),
    (WEB, "index.html\x00"),
]
ESCAPE_IDS = [f"{scope}:{path!r}" for scope, path in ESCAPES]

OPERATIONS: list[tuple[str, Callable[[str, str], Any]]] = [
    ("read_text", fs.read_text),
    ("read_bytes", fs.read_bytes),
    ("read_json", fs.read_json),
    ("exists", fs.exists),
    ("is_file", fs.is_file),
    ("stat", fs.stat),
    ("listdir", fs.listdir),
    ("walk", fs.walk),
    ("write_text", lambda s, p: fs.write_text(s, p, "PWNED")),
    ("append_text", lambda s, p: fs.append_text(s, p, "PWNED")),
    ("write_json", lambda s, p: fs.write_json(s, p, "PWNED")),
    ("mkdir", fs.mkdir),
    ("delete", fs.delete),
    ("rmdir", lambda s, p: fs.rmdir(s, p, recursive=True)),
    ("copy_from", lambda s, p: fs.copy(s, p, "stolen.txt")),
    ("copy_to", lambda s, p: fs.copy(s, "private.txt" if s == BOX else "index.html", p)),
    ("move_from", lambda s, p: fs.move(s, p, "stolen.txt")),
    ("move_to", lambda s, p: fs.move(s, "private.txt" if s == BOX else "index.html", p)),
]


def _snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under root (symlinks by target, not followed), to prove nothing changed."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_file():
                out[rel] = p.read_bytes()
            else:
                out[rel] = "dir"
    return out


@pytest.mark.parametrize(("op_name", "op"), OPERATIONS, ids=[name for name, _ in OPERATIONS])
@pytest.mark.parametrize(("scope", "path"), ESCAPES, ids=ESCAPE_IDS)
def test_escape_attempts_are_denied(
    layout: AppRuntime, tmp_path: Path, scope: str, path: str, op_name: str, op: Callable[[str, str], Any]
) -> None:
    before = _snapshot(tmp_path)
    with pytest.raises(FsAccessDenied) as info:
        result = op(scope, path)
        pytest.fail(f"{op_name}({scope}, {path!r}) returned {result!r}")
    message = str(info.value)
    assert str(tmp_path) not in message
    assert scope.upper() in message and repr(path) in message
    assert not any(secret in message for secret in (*SECRETS, PRIVATE))
    assert _snapshot(tmp_path) == before
    assert not (tmp_path / "created-outside.txt").exists()


def test_absolute_paths_are_relative_to_the_scope_root(layout: AppRuntime, tmp_path: Path) -> None:
    for path in ("/etc/passwd", "//etc/passwd", str(tmp_path / "secret.txt")):
        for scope in (BOX, WEB):
            with pytest.raises(FileNotFoundError) as info:
                fs.read_text(scope, path)
            assert f"{scope}:/{path.lstrip('/')}" in str(info.value)
            assert OUTSIDE not in str(info.value)
            assert not fs.exists(scope, path)
    fs.write_text(BOX, "/etc/passwd", "app's own file")
    assert (layout.box / "etc" / "passwd").read_text() == "app's own file"
    assert fs.read_text(BOX, "/etc/passwd") == "app's own file"


def test_web_scope_is_the_app_root_and_box_is_the_box(layout: AppRuntime) -> None:
    assert fs.read_text(WEB, "index.html") == "<h1>public</h1>"
    assert fs.read_text(BOX, "private.txt") == PRIVATE
    assert not fs.exists(BOX, "index.html")
    assert fs.read_text(WEB, "box2/secret.txt") == BOX2  # box2 is public, only box/ is private


@pytest.mark.parametrize("root", ["/", "", ".", "//", "./.", "\\"])
@pytest.mark.parametrize("scope", [BOX, WEB])
def test_the_scope_root_cannot_be_removed_or_moved(layout: AppRuntime, scope: str, root: str) -> None:
    before = _snapshot(layout.root)
    with pytest.raises(FsAccessDenied, match="scope root"):
        fs.rmdir(scope, root)
    with pytest.raises(FsAccessDenied, match="scope root"):
        fs.rmdir(scope, root, recursive=True)
    with pytest.raises(FsAccessDenied, match="scope root"):
        fs.delete(scope, root)
    with pytest.raises(FsAccessDenied, match="scope root"):
        fs.move(scope, root, "elsewhere")
    with pytest.raises(FsAccessDenied, match="scope root"):
        fs.move(scope, "index.html" if scope == WEB else "private.txt", root)
    assert _snapshot(layout.root) == before


def test_listdir_never_lists_outside(layout: AppRuntime) -> None:
    assert fs.listdir(BOX) == ["app.json", "data", "inside", "private.txt"]
    assert fs.listdir(BOX, "/") == fs.listdir(BOX, "")
    assert fs.listdir(WEB) == ["box2", "css", "index.html", "public_link"]


def test_walk_never_lists_outside(layout: AppRuntime) -> None:
    assert fs.walk(BOX) == ["app.json", "data/a.json", "inside", "private.txt"]
    assert fs.walk(WEB) == ["box2/secret.txt", "css/site.css", "index.html", "public_link"]
    assert fs.walk(WEB, max_depth=0) == ["index.html", "public_link"]
