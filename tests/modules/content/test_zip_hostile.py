"""zip: hostile archives, built here with zipfile (and patched bytes where zipfile will not write the lie).
Every refusal must leave the destination exactly as it was: no file, no half archive, no staging folder."""

from __future__ import annotations

import io
import stat
import struct
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.context import app_context
from gingee_kernel.modules import zip as zipmod
from gingee_kernel.modules.content import offload
from gingee_kernel.modules.content.errors import ContentError, ContentTooLarge
from gingee_kernel.modules.content.offload import ContentTimeout
from tests.fixtures.apps import MakeApp

LOCAL, CENTRAL, END = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"


def build(entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as out:
        for name, data in entries:
            out.writestr(name, data)
    return buffer.getvalue()


def patch_headers(data: bytes, local: dict[int, bytes], central: dict[int, bytes]) -> bytes:
    """`data` with bytes replaced at offsets of every local and central header (one-entry archives)."""
    out = bytearray(data)
    for signature, changes in ((LOCAL, local), (CENTRAL, central)):
        start = out.find(signature)
        while start >= 0:
            for offset, value in changes.items():
                out[start + offset : start + offset + len(value)] = value
            start = out.find(signature, start + 4)
    return bytes(out)


def snapshot(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.fixture
def app(make_app: MakeApp) -> Iterator[AppRuntime]:
    app = make_app("demo", grants={"zip", "fs"})
    (app.box / "site").mkdir()
    (app.box / "site" / "keep.txt").write_text("keep")
    with app_context(app):
        yield app


async def refused(app: AppRuntime, data: bytes, dst: str = "site", scope: str = "box") -> ContentError:
    """Unzip `data` and return the error, after checking nothing changed under the app."""
    before = snapshot(app.root)
    with pytest.raises(ContentError) as info:
        await zipmod.unzip_bytes(data, scope, dst, overwrite=True)
    assert snapshot(app.root) == before
    assert str(app.root) not in str(info.value)
    return info.value


# --- names ------------------------------------------------------------------------------------------------

SLIPS = [
    "../evil.txt",
    "a/../../evil.txt",
    "a/b/../../../evil.txt",
    "/etc/evil.txt",
    "//server/share/evil.txt",
    "C:\\evil.txt",
    "C:/evil.txt",
    "c:evil.txt",
    "..\\evil.txt",
    "dir\\evil.txt",
    "..",
    ".",
]


@pytest.mark.parametrize("name", SLIPS)
async def test_zip_slip_names_are_refused_before_anything_is_written(app: AppRuntime, name: str) -> None:
    # a harmless entry first: validation must refuse the archive before writing it
    error = await refused(app, build([("first.txt", b"fine"), (name, b"evil")]))
    assert error.code == "UNSAFE_ENTRY" and error.status_code == 422
    assert repr(name) in str(error)
    assert not (app.root.parent / "evil.txt").exists()


async def test_a_nul_in_a_name_is_refused(app: AppRuntime) -> None:
    data = build([("okX.txt", b"x")]).replace(b"okX.txt", b"ok\x00.txt")
    assert (await refused(app, data)).code == "UNSAFE_ENTRY"


async def test_entries_reaching_box_from_web_are_refused(app: AppRuntime) -> None:
    for name in ("box/app.json", "BOX/evil.txt", "Box/"):
        error = await refused(app, build([(name, b"{}")]), dst="/", scope="web")
        assert error.code == "UNSAFE_ENTRY" and "box" in str(error)
    assert (app.box / "app.json").read_text().startswith("{")


async def test_an_existing_symlink_in_the_destination_cannot_lead_out(
    app: AppRuntime, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    try:
        (app.box / "site" / "escape").symlink_to(outside)
        (app.box / "site" / "sideways").symlink_to(app.box)
    except (OSError, NotImplementedError):
        pytest.skip("symlinks are not available here")
    assert (await refused(app, build([("escape/x.txt", b"x")]))).code == "UNSAFE_ENTRY"
    error = await refused(app, build([("sideways/app.json", b"{}")]))
    assert "outside the destination" in str(error)
    assert list(outside.iterdir()) == []


# --- entry kinds ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [stat.S_IFLNK, stat.S_IFCHR, stat.S_IFIFO], ids=["link", "device", "fifo"])
async def test_links_and_special_files_are_refused(app: AppRuntime, kind: int) -> None:
    info = zipfile.ZipInfo("passwd")
    info.create_system = 3
    info.external_attr = (kind | 0o777) << 16
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        out.writestr(info, "/etc/passwd")
    error = await refused(app, buffer.getvalue())
    assert error.code == "UNSAFE_ENTRY" and "'passwd'" in str(error)


async def test_encrypted_entries_are_refused_clearly(app: AppRuntime) -> None:
    data = patch_headers(build([("secret.txt", b"x" * 100)]), {6: b"\x01\x00"}, {8: b"\x01\x00"})
    error = await refused(app, data)
    assert error.code == "ENCRYPTED_ENTRY" and "password" in str(error)


async def test_an_unsupported_compression_method_is_an_invalid_archive(app: AppRuntime) -> None:
    data = patch_headers(build([("a.txt", b"a" * 100)]), {8: b"\x09\x00"}, {10: b"\x09\x00"})  # deflate64
    error = await refused(app, data)
    assert error.code == "INVALID_ARCHIVE" and "method 9" in str(error)


async def test_duplicate_and_file_folder_clashes_are_refused(app: AppRuntime) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate it writes
        twice = build([("a.txt", b"1"), ("a.txt", b"2")])
    assert "twice" in str(await refused(app, twice))
    assert "is a file" in str(await refused(app, build([("a", b"file"), ("a/b.txt", b"inside")])))
    assert (await refused(app, build([("a/b.txt", b"inside"), ("a", b"file")]))).code == "UNSAFE_ENTRY"


# --- broken archives --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"not a zip at all", build([("a.txt", b"a" * 5000)])[:-30], b"PK\x05\x06" + b"\xff" * 18],
    ids=["empty", "garbage", "truncated", "bad-end-record"],
)
async def test_broken_archives_are_invalid(app: AppRuntime, data: bytes) -> None:
    assert (await refused(app, data)).code == "INVALID_ARCHIVE"


async def test_a_header_that_lies_about_its_size_fails_and_leaves_nothing(app: AppRuntime) -> None:
    # the second entry says 1000 bytes but holds 5 MB: zipfile stops at the declared size, the CRC of
    # what was read does not match, and the first entry (already extracted to staging) must vanish too
    good = ("good.txt", b"g" * 200_000)
    data = build([good, ("liar.bin", b"\x00" * 5_000_000)])
    liar = data.find(b"liar.bin")
    local = data.rfind(LOCAL, 0, liar)
    central = data.rfind(CENTRAL, 0, data.find(b"liar.bin", liar + 1))
    size = struct.pack("<I", 1000)
    patched = bytearray(data)
    patched[local + 22 : local + 26] = size
    patched[central + 24 : central + 28] = size
    error = await refused(app, bytes(patched))
    assert error.code == "INVALID_ARCHIVE" and "'liar.bin'" in str(error)
    assert not (app.box / "site" / "good.txt").exists()


# --- bombs and limits -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A real zip bomb: 1 GiB of zeros through zipfile's streaming writer, about 5 MB on disk."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out,
        out.open("zeros.bin", "w", force_zip64=True) as entry,
    ):
        block = bytes(1 << 20)
        for _ in range(1024):
            entry.write(block)
    return buffer.getvalue()


async def test_a_gigabyte_of_zeros_is_refused_without_writing(app: AppRuntime, bomb: bytes) -> None:
    assert len(bomb) < 8 * 10**6
    error = await refused(app, bomb)
    assert isinstance(error, ContentTooLarge) and error.code == "ARCHIVE_TOO_LARGE"
    assert error.status_code == 413


async def test_the_ratio_limit_catches_a_bomb_under_the_size_limit(app: AppRuntime) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        out.writestr("small.txt", b"fine")
        out.writestr("zeros.bin", bytes(20 * 1024 * 1024))  # 20 MB in about 20 KB: a ratio near 1000
    error = await refused(app, buffer.getvalue())
    assert isinstance(error, ContentTooLarge) and "zip.max_ratio" in str(error)


async def test_small_highly_compressible_files_are_fine(app: AppRuntime) -> None:
    data = build([("blank.txt", b" " * 500_000), ("zeros.bin", bytes(100_000))])
    assert await zipmod.unzip_bytes(data, "box", "site") == ["site/blank.txt", "site/zeros.bin"]


async def test_the_unpacked_size_limit(make_app: MakeApp) -> None:
    app = make_app("tight", grants={"zip", "fs"}, config={"zip": {"max_unpacked_size": "100kb"}})
    data = build([("a.bin", b"a" * 60_000), ("b.bin", b"b" * 60_000)])
    with app_context(app), pytest.raises(ContentTooLarge, match=r"zip\.max_unpacked_size"):
        await zipmod.unzip_bytes(data, "box", "out")
    assert not (app.box / "out").exists()


async def test_too_many_entries_even_if_the_end_record_lies(make_app: MakeApp) -> None:
    app = make_app("few", grants={"zip", "fs"}, config={"zip": {"max_entries": 5}})
    data = build([(f"f{i}.txt", b"x") for i in range(20)])
    end = data.rfind(END)
    lying = data[: end + 8] + struct.pack("<HH", 1, 1) + data[end + 12 :]  # "1 entry" in the end record
    with app_context(app):
        for archive in (data, lying):
            with pytest.raises(ContentTooLarge, match=r"zip\.max_entries"):
                await zipmod.unzip_bytes(archive, "box", "out")
        assert len(await zipmod.unzip_bytes(build([(f"f{i}", b"x") for i in range(5)]), "box", "ok")) == 5
    assert not (app.box / "out").exists()


async def test_running_out_of_time_mid_extraction_leaves_nothing(
    app: AppRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}

    def check(self: offload.Budget) -> None:
        calls["n"] += 1
        if calls["n"] > 8:
            raise ContentTimeout("zip")

    monkeypatch.setattr(offload.Budget, "check", check)
    data = build([(f"dir/f{i}.txt", b"x" * 1000) for i in range(4)])
    before = snapshot(app.root)
    with pytest.raises(ContentTimeout):
        await zipmod.unzip_bytes(data, "box", "new/place")
    assert calls["n"] > 8 and snapshot(app.root) == before  # new/ was created for the archive, and removed


async def test_a_zip64_archive_of_seventy_thousand_entries_is_refused_by_count(app: AppRuntime) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for i in range(70_000):  # past 65535 entries: zipfile writes the zip64 end records
            out.writestr(f"f{i}", b"")
    data = buffer.getvalue()
    assert b"PK\x06\x06" in data
    error = await refused(app, data)
    assert isinstance(error, ContentTooLarge) and "10000" in str(error)
