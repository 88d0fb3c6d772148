"""zip: packing confined folders (round trips, WEB without box/, symlinks, limits, files and storage
objects), existing files on unpack, the grants every call needs, and fs.resolve that zip builds on."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.context import app_context
from gingee_kernel.errors import PermissionDenied
from gingee_kernel.modules import fs
from gingee_kernel.modules import zip as zipmod
from gingee_kernel.modules.content.errors import ContentError, ContentTooLarge
from tests.fixtures.apps import MakeApp

ALL = {"zip", "fs", "storage"}
TREE = {
    "docs/readme.txt": b"read me\n",
    "docs/data/numbers.bin": bytes(range(256)) * 40,
    "docs/data/deep/er/leaf.json": b'{"leaf": true}',
    "docs/caf\u00e9 notes.txt": "unicode name \u2713".encode(),
}


def build(app: AppRuntime, files: dict[str, bytes] = TREE) -> None:
    for rel, data in files.items():
        path = app.box / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (app.box / "docs" / "empty").mkdir(exist_ok=True)


def listing(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {info.filename: archive.read(info) for info in archive.infolist()}


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def symlink(link: Path, target: Path | str) -> None:
    try:
        link.symlink_to(target)
    except (OSError, NotImplementedError):
        pytest.skip("symlinks are not available here")


@pytest.fixture
def app(make_app: MakeApp) -> AppRuntime:
    app = make_app("demo", grants=ALL)
    build(app)
    return app


# --- packing ------------------------------------------------------------------------------------------


async def test_pack_then_unzip_round_trip(app: AppRuntime) -> None:
    with app_context(app):
        data = await zipmod.pack("box", "docs")
        assert data.content_type == "application/zip"
        entries = listing(data)
        assert list(entries) == sorted(entries)  # deterministic order
        assert entries == {
            "caf\u00e9 notes.txt": TREE["docs/caf\u00e9 notes.txt"],
            "data/": b"",
            "data/deep/": b"",
            "data/deep/er/": b"",
            "data/deep/er/leaf.json": TREE["docs/data/deep/er/leaf.json"],
            "data/numbers.bin": TREE["docs/data/numbers.bin"],
            "empty/": b"",
            "readme.txt": TREE["docs/readme.txt"],
        }
        written = await zipmod.unzip_bytes(data, "box", "copy")
    assert written == sorted(f"copy/{rel.removeprefix('docs/')}" for rel in TREE)
    assert tree(app.box / "copy") == tree(app.box / "docs")
    assert (app.box / "copy" / "empty").is_dir()


async def test_include_root_folder_puts_entries_under_the_folder_name(app: AppRuntime) -> None:
    with app_context(app):
        names = list(listing(await zipmod.pack("box", "/docs/data/", include_root_folder=True)))
        whole_box = list(listing(await zipmod.pack("box", "/", include_root_folder=True)))
    assert names == ["data/", "data/deep/", "data/deep/er/", "data/deep/er/leaf.json", "data/numbers.bin"]
    assert whole_box[0] == "box/" and "box/docs/readme.txt" in whole_box


async def test_keep_times_false_gives_the_same_bytes_for_the_same_files(app: AppRuntime) -> None:
    with app_context(app):
        first = await zipmod.pack("box", "docs", keep_times=False)
        os.utime(app.box / "docs" / "readme.txt", (1_000_000_000, 1_000_000_000))
        second = await zipmod.pack("box", "docs", keep_times=False)
        kept = await zipmod.pack("box", "docs")
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    with zipfile.ZipFile(io.BytesIO(kept)) as archive:
        assert archive.getinfo("readme.txt").date_time[0] == 2001


async def test_web_pack_never_includes_box(app: AppRuntime) -> None:
    (app.root / "index.html").write_text("<h1>hi</h1>")
    (app.root / "css").mkdir()
    (app.root / "css" / "site.css").write_text("body{}")
    (app.root / "css" / "box").mkdir()  # a folder called box below the root is just a folder
    (app.root / "css" / "box" / "ok.txt").write_text("public")
    with app_context(app):
        names = list(listing(await zipmod.pack("web", "/")))
    assert names == ["css/", "css/box/", "css/box/ok.txt", "css/site.css", "index.html"]


async def test_symlinks_are_followed_inside_the_scope_and_refused_out_of_it(
    app: AppRuntime, tmp_path: Path
) -> None:
    (tmp_path / "secret.txt").write_text("TOP SECRET")
    (app.box / "shared").mkdir()
    (app.box / "shared" / "logo.txt").write_text("logo")
    symlink(app.box / "docs" / "logo.txt", app.box / "shared" / "logo.txt")
    symlink(app.box / "docs" / "shared", "../shared")
    with app_context(app):
        entries = listing(await zipmod.pack("box", "docs"))
        assert entries["logo.txt"] == b"logo" and entries["shared/logo.txt"] == b"logo"
        symlink(app.box / "docs" / "leak.txt", tmp_path / "secret.txt")
        with pytest.raises(ContentError) as info:
            await zipmod.pack("box", "docs")
    assert info.value.code == "UNSAFE_ENTRY" and "'leak.txt'" in str(info.value)
    assert str(tmp_path) not in str(info.value) and info.value.status_code == 422


async def test_web_symlink_into_box_and_symlink_loops_are_refused(app: AppRuntime) -> None:
    (app.root / "site").mkdir()
    symlink(app.root / "site" / "private", app.box)
    with app_context(app), pytest.raises(ContentError, match="'private'") as info:
        await zipmod.pack("web", "site")
    assert info.value.code == "UNSAFE_ENTRY"
    symlink(app.box / "docs" / "data" / "again", app.box / "docs")
    with app_context(app), pytest.raises(ContentError, match="loop"):
        await zipmod.pack("box", "docs")


async def test_pack_to_file_leaves_itself_out_and_replaces_the_old_archive(app: AppRuntime) -> None:
    with app_context(app):
        size = await zipmod.pack_to_file("box", "docs", "box", "docs/backup.zip")
        assert size == (app.box / "docs" / "backup.zip").stat().st_size
        (app.box / "docs" / "later.txt").write_text("later")
        await zipmod.pack_to_file("box", "docs", "box", "docs/backup.zip")
        await zipmod.pack_to_file("box", "docs", "web", "downloads/docs.zip", include_root_folder=True)
    with zipfile.ZipFile(app.box / "docs" / "backup.zip") as archive:
        names = archive.namelist()
    assert "later.txt" in names and "backup.zip" not in names
    assert [p.name for p in (app.box / "docs").iterdir() if p.name.startswith(".")] == []
    with zipfile.ZipFile(app.root / "downloads" / "docs.zip") as archive:
        assert archive.read("docs/readme.txt") == TREE["docs/readme.txt"]


async def test_missing_or_file_sources_name_the_scope_path_only(app: AppRuntime) -> None:
    with app_context(app):
        with pytest.raises(FileNotFoundError) as missing:
            await zipmod.pack("box", "nope")
        with pytest.raises(NotADirectoryError):
            await zipmod.pack("box", "docs/readme.txt")
        with pytest.raises(IsADirectoryError):
            await zipmod.pack_to_file("box", "docs", "box", "docs/data")
        with pytest.raises(fs.FsAccessDenied):
            await zipmod.pack("box", "../")
    assert "box:/nope" in str(missing.value) and str(app.box) not in str(missing.value)


async def test_pack_limits_entries_and_output_size(make_app: MakeApp) -> None:
    few = make_app("few", grants=ALL, config={"zip": {"max_entries": 3}})
    build(few)
    with app_context(few), pytest.raises(ContentTooLarge) as info:
        await zipmod.pack("box", "docs")
    assert info.value.code == "ARCHIVE_TOO_LARGE" and info.value.status_code == 413
    assert "zip.max_entries" in str(info.value)

    small = make_app("small", grants=ALL, config={"zip": {"max_output_size": "4kb"}})
    build(small, {"docs/noise.bin": os.urandom(64 * 1024)})
    (small.box / "old.zip").write_bytes(b"the old archive")
    with app_context(small):
        with pytest.raises(ContentTooLarge, match="max_output_size"):
            await zipmod.pack("box", "docs")
        with pytest.raises(ContentTooLarge):
            await zipmod.pack_to_file("box", "docs", "box", "old.zip")
    assert (small.box / "old.zip").read_bytes() == b"the old archive"
    assert sorted(p.name for p in small.box.iterdir()) == ["app.json", "docs", "old.zip"]


# --- storage objects --------------------------------------------------------------------------------------


async def test_pack_to_object_then_unzip_object(app: AppRuntime) -> None:
    from gingee_kernel.modules import storage

    with app_context(app):
        info = await zipmod.pack_to_object("box", "docs", "backups/docs.zip")
        assert info.content_type == "application/zip" and info.size > 0
        stored = await storage.get("backups/docs.zip")
        assert listing(stored)["readme.txt"] == TREE["docs/readme.txt"]
        written = await zipmod.unzip_object("backups/docs.zip", "web", "restored")
    assert "restored/readme.txt" in written
    assert tree(app.root / "restored") == tree(app.box / "docs")
    await app.close()


async def test_unzip_object_over_the_unpacked_limit_is_refused_before_reading(make_app: MakeApp) -> None:
    from gingee_kernel.modules import storage

    app = make_app("tight", grants=ALL, config={"zip": {"max_unpacked_size": "1kb"}})
    with app_context(app):
        await storage.put("big.zip", os.urandom(4096))
        with pytest.raises(ContentTooLarge, match="max_unpacked_size"):
            await zipmod.unzip_object("big.zip", "box", "out")
    assert not (app.box / "out").exists()
    await app.close()


# --- existing files ---------------------------------------------------------------------------------------


def archive(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in entries.items():
            out.writestr(name, data)
    return buffer.getvalue()


async def test_existing_files_are_refused_unless_overwrite(app: AppRuntime) -> None:
    (app.box / "site").mkdir()
    (app.box / "site" / "index.html").write_text("old")
    (app.box / "site" / "keep.txt").write_text("keep")
    data = archive({"new.txt": b"new", "index.html": b"fresh"})
    with app_context(app):
        with pytest.raises(ContentError) as info:
            await zipmod.unzip_bytes(data, "box", "site")
        assert info.value.code == "ENTRY_EXISTS" and "'index.html'" in str(info.value)
        assert "overwrite=True" in str(info.value)
        assert not (app.box / "site" / "new.txt").exists()
        assert await zipmod.unzip_bytes(data, "box", "site", overwrite=True) == [
            "site/index.html",
            "site/new.txt",
        ]
    assert tree(app.box / "site") == {"index.html": b"fresh", "keep.txt": b"keep", "new.txt": b"new"}


async def test_two_unzips_into_one_folder_cannot_both_write_the_same_file(app: AppRuntime) -> None:
    import asyncio

    first = archive({f"part{i}.bin": os.urandom(50_000) for i in range(40)} | {"same.txt": b"first"})
    second = archive({f"other{i}.bin": os.urandom(50_000) for i in range(40)} | {"same.txt": b"second"})
    with app_context(app):
        results = await asyncio.gather(
            zipmod.unzip_bytes(first, "box", "shared"),
            zipmod.unzip_bytes(second, "box", "shared"),
            return_exceptions=True,
        )
    refused = [r for r in results if isinstance(r, ContentError)]
    assert len(refused) == 1 and refused[0].code == "ENTRY_EXISTS"  # the one that came second
    kept = b"first" if isinstance(results[1], ContentError) else b"second"
    assert (app.box / "shared" / "same.txt").read_bytes() == kept


async def test_a_file_never_replaces_a_folder_nor_the_other_way(app: AppRuntime) -> None:
    (app.box / "site" / "img").mkdir(parents=True)
    (app.box / "site" / "notes").write_text("a file")
    with app_context(app):
        for entries in ({"img": b"file where a folder is"}, {"notes/inside.txt": b"x"}, {"notes/": b""}):
            with pytest.raises(ContentError) as info:
                await zipmod.unzip_bytes(archive(entries), "box", "site", overwrite=True)
            assert info.value.code == "ENTRY_EXISTS"
    assert (app.box / "site" / "img").is_dir() and (app.box / "site" / "notes").read_text() == "a file"


async def test_a_root_folder_entry_is_the_destination_itself(app: AppRuntime) -> None:
    with app_context(app):
        assert await zipmod.unzip_bytes(archive({"./": b"", "./a.txt": b"a"}), "box", "dot") == ["dot/a.txt"]


async def test_the_destination_must_be_a_folder(app: AppRuntime) -> None:
    with app_context(app), pytest.raises(NotADirectoryError, match=r"box:/docs/readme\.txt"):
        await zipmod.unzip_bytes(archive({"a": b"a"}), "box", "docs/readme.txt")


# --- grants -----------------------------------------------------------------------------------------------


CALLS = {
    "pack": lambda: zipmod.pack("box", "docs"),
    "pack_to_file": lambda: zipmod.pack_to_file("box", "docs", "box", "out.zip"),
    "pack_to_object": lambda: zipmod.pack_to_object("box", "docs", "out.zip"),
    "unzip": lambda: zipmod.unzip("box", "in.zip", "box", "out"),
    "unzip_bytes": lambda: zipmod.unzip_bytes(archive({"a.txt": b"a"}), "box", "out"),
    "unzip_object": lambda: zipmod.unzip_object("in.zip", "box", "out"),
}


def test_calls_cover_every_public_function() -> None:
    assert set(CALLS) == set(zipmod.__all__)


@pytest.mark.parametrize(
    ("grants", "missing"),
    [({"fs", "storage"}, "zip"), ({"zip", "storage"}, "fs")],
    ids=["without-zip", "without-fs"],
)
@pytest.mark.parametrize("name", sorted(CALLS))
async def test_every_call_needs_its_grants(
    make_app: MakeApp, grants: set[str], missing: str, name: str
) -> None:
    app = make_app("gated", grants=grants)
    build(app)
    (app.box / "in.zip").write_bytes(archive({"a.txt": b"a"}))
    before = tree(app.root)
    with app_context(app), pytest.raises(PermissionDenied, match=f"'{missing}' permission"):
        await CALLS[name]()
    assert tree(app.root) == before and not (app.box / "out").exists()


@pytest.mark.parametrize("name", ["pack_to_object", "unzip_object"])
async def test_storage_calls_need_the_storage_grant(make_app: MakeApp, name: str) -> None:
    app = make_app("nostore", grants={"zip", "fs"})
    build(app)
    with app_context(app), pytest.raises(PermissionDenied, match="'storage' permission"):
        await CALLS[name]()
    assert not (app.box / "data").exists() and not (app.box / "out").exists()


# --- fs.resolve -------------------------------------------------------------------------------------------


def test_fs_resolve_is_the_checked_real_path(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app("res", grants={"fs"})
    (app.box / "data").mkdir()
    symlink(app.box / "link", app.box / "data")
    symlink(app.box / "out", tmp_path)
    with app_context(app):
        assert fs.resolve("box", "link/new.txt") == app.box / "data" / "new.txt"
        assert fs.resolve("BOX", "/") == app.box
        assert fs.resolve("web", "pages/a.html") == app.root / "pages" / "a.html"
        bad: list[tuple[str, str]] = [
            ("box", "../x"),
            ("box", "out/x"),
            ("web", "box/app.json"),
            ("web", "BOX"),
        ]
        for scope, path in bad:
            with pytest.raises(fs.FsAccessDenied):
                fs.resolve(scope, path)
    with app_context(make_app("nofs", grants={"zip"})), pytest.raises(PermissionDenied, match="'fs'"):
        fs.resolve("box", "x")
