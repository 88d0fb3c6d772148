"""`.gin` packages and the lifecycle operations on disk: pack, refusing bad packages before anything
changes, upgrade / rollback semantics, backups, permissions and the audit log."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import struct
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gingee_kernel.engine.permissions import read_grants
from gingee_kernel.errors import GingeeError, ManifestError
from gingee_kernel.lifecycle import package as package_module
from gingee_kernel.lifecycle.operations import Conflict, LifecycleError, LoadFailed, NotInstalled
from gingee_kernel.lifecycle.package import Package, PackageError, pack
from gingee_kernel.lifecycle.switch import STAGING

from .builders import lifecycle, make_app, make_project, make_zip, manifest_for, snapshot, staging_leftovers

HELLO = "def handle(g):\n    return 'hi'\n"
PMFT = {"permissions": {"mandatory": ["db"], "optional": ["cache"]}}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """Where the tests write app folders to pack (one subfolder per version)."""
    return tmp_path / "src"


def packed(src: Path, version: str | None, files: dict[str, Any] | None = None, name: str = "shop") -> Path:
    """Write app `name` at `version` with `files` under `src/<version>/` and pack it; returns the .gin."""
    app = make_app(src / str(version), name, version, files)
    return pack(app, src / f"{name}-{version}.gin")


def opened(path: Path) -> Package:
    return Package.open(path)


def audit_lines(project: Path) -> list[dict[str, Any]]:
    path = project / "logs" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def backup_files(project: Path) -> list[Path]:
    return sorted((project / "backups").rglob("*.gin")) if (project / "backups").exists() else []


# -- pack ------------------------------------------------------------------------------------------------


def test_pack_holds_the_app_but_not_its_data_or_caches(src: Path) -> None:
    files = {
        "box/hello.py": HELLO,
        "box/static/site.css": "body {}",
        "box/data/orders.json": {"orders": [1]},
        "box/__pycache__/hello.cpython-311.pyc": b"\0cache",
        "box/lib/__pycache__/util.cpython-311.pyc": b"\0cache",
        "box/lib/util.py": "X = 1\n",
    }
    with opened(packed(src, "1.0.0", files)) as package:
        assert sorted(package.files) == [
            "box/app.json",
            "box/hello.py",
            "box/lib/util.py",
            "box/static/site.css",
        ]
        assert package.manifest["includes_data"] is False
        assert package.read("box/hello.py") == HELLO.encode()


def test_pack_include_data_adds_box_data(src: Path) -> None:
    app = make_app(src, "shop", "1.0.0", {"box/data/orders.json": {"orders": [1]}})
    with opened(pack(app, src / "with-data.gin", include_data=True)) as package:
        assert "box/data/orders.json" in package.files
        assert package.manifest["includes_data"] is True
        assert json.loads(package.read("box/data/orders.json")) == {"orders": [1]}


def test_pack_honours_gpkg_include_and_exclude(src: Path) -> None:
    files = {
        "box/.gpkg": {"include": ["box/app.json", "box/**/*.py", "box/static"], "exclude": ["**/secret*"]},
        "box/hello.py": HELLO,
        "box/lib/util.py": "X = 1\n",
        "box/lib/secret_keys.py": "KEY = 'x'\n",
        "box/static/a.css": "a {}",
        "box/static/secret.txt": "hush",
        "box/notes.md": "not included",
    }
    with opened(packed(src, "1.0.0", files)) as package:
        assert sorted(package.files) == [
            "box/app.json",
            "box/hello.py",
            "box/lib/util.py",
            "box/static/a.css",
        ]


def test_pack_refuses_a_symlink_and_names_it(src: Path, tmp_path: Path) -> None:
    app = make_app(src, "shop", "1.0.0", {"box/hello.py": HELLO})
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink(tmp_path / "outside.txt", app / "box" / "linked.txt")
    with pytest.raises(PackageError, match=r"shop/box/linked\.txt is a symlink"):
        pack(app, src / "shop.gin")
    assert not (src / "shop.gin").exists()
    assert [p.name for p in src.iterdir() if p.name.endswith(".tmp")] == []


def test_pack_accepts_a_symlink_that_gpkg_excludes(src: Path, tmp_path: Path) -> None:
    """The refusal's message says "or exclude it in box/.gpkg"; doing so must work."""
    app = make_app(src, "shop", "1.0.0", {"box/.gpkg": {"exclude": ["box/linked.txt"]}})
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink(tmp_path / "outside.txt", app / "box" / "linked.txt")
    with opened(pack(app, src / "shop.gin")) as package:
        assert "box/linked.txt" not in package.files


def test_pack_refuses_an_app_json_without_version(src: Path) -> None:
    app = make_app(src, "shop", None)
    with pytest.raises(ManifestError) as caught:
        pack(app, src / "shop.gin")
    assert caught.value.pointer == "/version"
    assert "/version" in str(caught.value) and "shop/box/app.json" in str(caught.value)


def test_same_files_give_the_same_hash_and_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Packing is reproducible: file order, timestamps and modes of the source do not leak into the
    package. The manifest's `created` is the packing time unless SOURCE_DATE_EPOCH pins it, as here."""
    files = {"box/hello.py": HELLO, "box/static/a.css": "a {}", "box/pmft.json": PMFT}
    first = make_app(tmp_path / "one", "shop", "1.0.0", files)
    second = make_app(tmp_path / "two", "shop", "1.0.0", dict(reversed(list(files.items()))))
    os.utime(second / "box" / "hello.py", (1_000_000_000, 1_000_000_000))
    (second / "box" / "hello.py").chmod(0o755)
    a, b = pack(first, tmp_path / "a.gin"), pack(second, tmp_path / "b.gin")
    with opened(a) as one, opened(b) as two:
        assert one.sha256 == two.sha256
        assert len(one.sha256) == 64
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1893553445")
    c, d = pack(first, tmp_path / "c.gin"), pack(second, tmp_path / "d.gin")
    assert c.read_bytes() == d.read_bytes()
    with opened(c) as pinned:
        assert pinned.manifest["created"] == "2030-01-02T03:04:05+00:00"
    (second / "box" / "static" / "a.css").write_text("b {}")
    with opened(c) as before, opened(pack(second, tmp_path / "e.gin")) as after:
        assert before.sha256 != after.sha256


def test_manifest_lists_the_permissions_pmft_declares(src: Path) -> None:
    pmft = {"permissions": {"mandatory": ["queue", "db"], "optional": ["mail"]}}
    with opened(packed(src, "1.0.0", {"box/pmft.json": pmft})) as package:
        assert package.manifest["permissions"] == {"mandatory": ["db", "queue"], "optional": ["mail"]}
        assert package.declared == {"db", "queue", "mail"}
        assert package.name == "shop" and package.version == "1.0.0"


# -- bad packages are refused before anything changes ------------------------------------------------------

APP_JSON = b'{"version": "2.0.0"}'


def _ok(name: str, extra: dict[str, bytes] | None = None) -> dict[str, bytes]:
    return {"box/app.json": APP_JSON, "box/hello.py": HELLO.encode(), **(extra or {})}


def _zip_with(name: str, entries: dict[str, bytes], listed: dict[str, bytes] | None = None) -> bytes:
    """`entries` in a zip whose manifest describes `listed` (default: the entries themselves)."""
    return make_zip(entries, manifest_for(entries if listed is None else listed, name, "2.0.0"))


def _lying_header(name: str) -> bytes:
    """An entry of 50,000 bytes whose local and central headers (and the manifest) claim 10 bytes."""
    real = b"A" * 50_000
    entries = _ok(name, {"box/big.txt": real})
    data = bytearray(_zip_with(name, entries, {**entries, "box/big.txt": real[:10]}))
    for signature, size_at, name_len_at, name_at in (
        (b"PK\x03\x04", 22, 26, 30),
        (b"PK\x01\x02", 24, 28, 46),
    ):
        pos = data.find(signature)
        while pos != -1:
            length = struct.unpack_from("<H", data, pos + name_len_at)[0]
            if data[pos + name_at : pos + name_at + length] == b"box/big.txt":
                struct.pack_into("<I", data, pos + size_at, 10)
            pos = data.find(signature, pos + 4)
    return bytes(data)


def _altered_same_size(name: str) -> bytes:
    entries = _ok(name)
    return _zip_with(name, {**entries, "box/hello.py": HELLO.replace("hi", "ho").encode()}, entries)


def _manifest_smaller_than_entry(name: str) -> bytes:
    entries = _ok(name, {"box/big.txt": b"B" * 3000})
    return _zip_with(name, entries, {**entries, "box/big.txt": b"B" * 30})


def _manifest_doc(app: str, **changes: Any) -> bytes:
    """A correct package for `app` whose manifest then gets `changes`."""
    entries = _ok(app)
    return make_zip(entries, {**manifest_for(entries, app, "2.0.0"), **changes})


def _version_mismatch(name: str) -> bytes:
    entries = _ok(name)
    return make_zip(entries, manifest_for(entries, name, "3.0.0"))


BAD_PACKAGES: dict[str, tuple[Callable[[str], bytes], str]] = {
    "dot-dot": (lambda n: _zip_with(n, _ok(n, {"box/../../evil.py": b"x"})), "zip-slip"),
    "absolute": (lambda n: _zip_with(n, _ok(n, {"/etc/x": b"x"})), "absolute path"),
    "drive": (lambda n: _zip_with(n, _ok(n, {"C:/evil.py": b"x"})), "absolute path"),
    "backslash": (lambda n: _zip_with(n, _ok(n, {"box\\evil.py": b"x"})), "backslash"),
    "symlink-entry": (
        lambda n: make_zip(_ok(n), manifest_for(_ok(n), n, "2.0.0"), symlinks={"box/link": "/etc/passwd"}),
        "is a symlink",
    ),
    "bomb-by-size": (lambda n: _zip_with(n, _ok(n, {"box/zeros.bin": bytes(1_000_000)})), "unpacks to more"),
    "bomb-by-count": (
        lambda n: _zip_with(n, _ok(n, {f"box/f{i}.txt": b"x" for i in range(10)})),
        "lifecycle.max_files",
    ),
    "manifest-size-smaller": (_manifest_smaller_than_entry, "/files/box~1big.txt/size"),
    "lying-header": (_lying_header, "box/big.txt"),
    "altered-content": (_altered_same_size, "box/hello.py does not match"),
    "bad-name": (lambda n: _manifest_doc(n, name="../evil"), "/name"),
    "name-with-space": (lambda n: _manifest_doc(n, name="my app"), "/name"),
    "broken-json": (lambda n: make_zip(_ok(n), b'{"format": 1, "name": '), "valid JSON"),
    "no-manifest": (lambda n: make_zip(_ok(n), None), "has no .gingee-package.json"),
    "listed-not-present": (
        lambda n: _zip_with(n, _ok(n), _ok(n, {"box/ghost.py": b"x"})),
        "missing: box/ghost.py",
    ),
    "present-not-listed": (lambda n: _zip_with(n, _ok(n, {"box/stowaway.py": b"x"}), _ok(n)), "not listed"),
    "wrong-content-hash": (lambda n: _manifest_doc(n, sha256="0" * 64), "/sha256"),
    "app-json-version-differs": (_version_mismatch, "/version"),
    "not-a-zip": (lambda n: b"#!/bin/sh\nrm -rf /\n" * 20, "is not a .gin package"),
}

LIMITS = {"lifecycle": {"max_unpacked_size": "64KB", "max_files": 5}}


@pytest.fixture
def installed(tmp_path: Path, src: Path) -> Path:
    """A project (small package limits) with app `shop` 1.0.0 installed and a file in its box/data."""
    project = make_project(tmp_path / "limited", LIMITS)

    asyncio.run(lifecycle(project).install(packed(src, "1.0.0", {"box/hello.py": HELLO})))
    (project / "web/shop/box/data").mkdir()
    (project / "web/shop/box/data/orders.json").write_text('{"orders": [1, 2]}')
    return project


def _assert_untouched(project: Path, before: dict[str, bytes], audit_before: int) -> None:
    assert snapshot(project / "web" / "shop") == before
    assert sorted(p.name for p in (project / "web").iterdir()) == sorted(["shop", STAGING])
    assert staging_leftovers(project) == []
    assert backup_files(project) == []
    assert len(audit_lines(project)) == audit_before


@pytest.mark.parametrize("case", sorted(BAD_PACKAGES))
@pytest.mark.parametrize("operation", ["install", "upgrade"])
async def test_a_bad_package_is_refused_before_anything_changes(
    installed: Path, case: str, operation: str
) -> None:
    build, reason = BAD_PACKAGES[case]
    data = build("fresh" if operation == "install" else "shop")
    before, audit_before = snapshot(installed / "web" / "shop"), len(audit_lines(installed))
    ops = lifecycle(installed)
    with pytest.raises((PackageError, ManifestError)) as caught:
        if operation == "install":
            await ops.install(data, grant_declared=True)
        else:
            await ops.upgrade(data, grant_declared=True)
    assert reason in str(caught.value)
    _assert_untouched(installed, before, audit_before)
    assert read_grants(installed / "settings/permissions.json") == {}


def test_package_open_refuses_a_lying_header_without_crashing() -> None:
    """zipfile itself stops at the header's size and then finds the CRC wrong; that must come out as a
    PackageError (which the CLI and API report), not a raw BadZipFile."""
    with Package.open(_lying_header("shop")) as package, pytest.raises(PackageError, match="damaged"):
        package.verify()


async def test_an_oversized_package_file_is_refused(installed: Path, tmp_path: Path) -> None:
    (installed / "gingee.json").write_text(json.dumps({"lifecycle": {"max_package_size": "1KB"}}))
    data = _zip_with("fresh", _ok("fresh", {"box/noise.bin": os.urandom(4096)}))
    with pytest.raises(PackageError, match="max_package_size"):
        await lifecycle(installed).install(data)
    assert not (installed / "web" / "fresh").exists()


async def test_upgrade_refuses_a_version_that_is_not_newer_unless_forced(installed: Path, src: Path) -> None:
    before = snapshot(installed / "web" / "shop")
    ops = lifecycle(installed)
    for version in ("1.0.0", "0.9.0"):
        with pytest.raises(Conflict, match="is not newer"):
            await ops.upgrade(packed(src, version, {"box/hello.py": HELLO}))
        assert snapshot(installed / "web" / "shop") == before
    assert backup_files(installed) == []
    plan = await ops.upgrade(packed(src, "0.9.0", {"box/hello.py": HELLO}), force=True)
    assert (plan.from_version, plan.to_version) == ("1.0.0", "0.9.0")
    assert ops.installed_version("shop") == "0.9.0"


@pytest.mark.parametrize(
    ("gup", "reason"),
    [("{not json", "valid JSON"), ({"keep": ["x"]}, "box/.gup"), ({"preserve": ["../x"]}, "'..'")],
)
async def test_upgrade_refuses_a_package_with_a_bad_gup(
    installed: Path, src: Path, gup: Any, reason: str
) -> None:
    before = snapshot(installed / "web" / "shop")
    with pytest.raises(ManifestError) as caught:
        await lifecycle(installed).upgrade(packed(src, "2.0.0", {"box/.gup": gup}))
    assert reason in str(caught.value)
    _assert_untouched(installed, before, 1)


async def test_upgrade_refuses_a_version_it_cannot_compare(installed: Path, src: Path) -> None:
    with pytest.raises(Conflict, match="not PEP 440"):
        await lifecycle(installed).upgrade(packed(src, "banana", {"box/hello.py": HELLO}))
    assert lifecycle(installed).installed_version("shop") == "1.0.0"


async def test_upgrade_refuses_a_package_for_another_app(installed: Path, src: Path) -> None:
    make_app(installed / "web", "other", "1.0.0")
    before = snapshot(installed / "web")
    with pytest.raises(PackageError, match="for app 'shop', not 'other'"):
        await lifecycle(installed).upgrade(packed(src, "2.0.0", {"box/hello.py": HELLO}), app="other")
    assert snapshot(installed / "web") == before
    assert backup_files(installed) == []


async def test_install_refuses_an_app_that_exists(installed: Path, src: Path) -> None:
    before = snapshot(installed / "web" / "shop")
    with pytest.raises(Conflict, match="already installed"):
        await lifecycle(installed).install(packed(src, "2.0.0", {"box/extra.py": HELLO}))
    _assert_untouched(installed, before, 1)


async def test_upgrade_refuses_an_app_that_is_not_installed(installed: Path, src: Path) -> None:
    with pytest.raises(NotInstalled, match="'newapp' is not installed"):
        await lifecycle(installed).upgrade(packed(src, "1.0.0", name="newapp"))
    assert not (installed / "web" / "newapp").exists()
    assert backup_files(installed) == []


async def test_a_full_disk_midway_changes_nothing(installed: Path, src: Path, monkeypatch) -> None:
    """A real full disk cannot be made here without privileges (a small tmpfs or loop mount needs root),
    so the write fails by injection: os.fsync raises ENOSPC for the second file written into the staged
    app folder, as a full disk would when the data reaches it."""
    package = packed(src, "2.0.0", {"box/hello.py": HELLO, "box/more.py": HELLO, "box/z.py": "Z = 1\n"})
    before = snapshot(installed / "web" / "shop")
    real_fsync = os.fsync
    staged: list[str] = []

    def fsync(fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        if f"/{STAGING}/" in path and "/new/shop/" in path:
            staged.append(path)
            if len(staged) > 1:
                raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(package_module.os, "fsync", fsync)
    with pytest.raises(LifecycleError) as caught:
        await lifecycle(installed).upgrade(package)
    assert len(staged) == 2  # the failure came midway, after one file was written
    assert "No space left on device" in str(caught.value)
    assert "nothing was changed" in str(caught.value)
    assert snapshot(installed / "web" / "shop") == before
    assert staging_leftovers(installed) == []
    assert lifecycle(installed).installed_version("shop") == "1.0.0"


# -- upgrade, backups, rollback ----------------------------------------------------------------------------

V1 = {
    "box/hello.py": HELLO,
    "box/old.py": "OLD = 1\n",
    "box/settings.local.json": {"colour": "blue"},
    "box/.gup": {"preserve": ["box/settings.local.json"]},
}
V2 = {
    "box/hello.py": HELLO,
    "box/new.py": "NEW = 1\n",
    "box/settings.local.json": {"colour": "packaged default"},
    "box/.gup": {"preserve": ["box/settings.local.json"]},
}


async def _install_v1(project: Path, src: Path) -> None:
    await lifecycle(project).install(packed(src, "1.0.0", V1))
    (project / "web/shop/box/data").mkdir()
    (project / "web/shop/box/data/orders.json").write_text('{"orders": [1, 2]}')


async def test_upgrade_plan_lists_each_file_and_dry_run_changes_nothing(project: Path, src: Path) -> None:
    await _install_v1(project, src)
    before = snapshot(project / "web" / "shop")
    plan = await lifecycle(project).upgrade(packed(src, "2.0.0", V2), dry_run=True)
    assert plan.dry_run and (plan.from_version, plan.to_version) == ("1.0.0", "2.0.0")
    assert plan.added == ["box/new.py"]
    assert plan.overwritten == ["box/app.json"]
    assert plan.unchanged == ["box/.gup", "box/hello.py"]
    assert plan.preserved == ["box/data/orders.json", "box/settings.local.json"]
    assert plan.deleted == ["box/old.py"]
    assert plan.backup is None
    assert snapshot(project / "web" / "shop") == before
    assert backup_files(project) == [] and len(audit_lines(project)) == 1


async def test_upgrade_keeps_data_and_preserved_files_and_deletes_the_rest(project: Path, src: Path) -> None:
    await _install_v1(project, src)
    plan = await lifecycle(project).upgrade(packed(src, "2.0.0", V2))
    live = project / "web/shop/box"
    assert json.loads((live / "app.json").read_text()) == {"version": "2.0.0"}
    assert (live / "new.py").read_text() == "NEW = 1\n"
    assert not (live / "old.py").exists()
    assert json.loads((live / "settings.local.json").read_text()) == {"colour": "blue"}  # installed wins
    assert (live / "data/orders.json").read_text() == '{"orders": [1, 2]}'
    assert plan.added == ["box/new.py"] and plan.deleted == ["box/old.py"]
    assert plan.backup is not None and (project / plan.backup).is_file()
    assert plan.backup.startswith("backups/shop/shop-1.0.0-")
    assert staging_leftovers(project) == []


async def test_a_backup_holds_the_previous_version_with_its_data(project: Path, src: Path) -> None:
    await _install_v1(project, src)
    before = snapshot(project / "web" / "shop")
    plan = await lifecycle(project).upgrade(packed(src, "2.0.0", V2))
    with Package.open(project / plan.backup) as backup:
        assert backup.version == "1.0.0"
        assert {rel: backup.read(rel) for rel in backup.files} == before


async def test_upgrade_with_a_package_holding_data_keeps_the_installed_data(project: Path, src: Path) -> None:
    """box/data/ of the installed app replaces the package's whole; the plan must not claim otherwise."""
    await _install_v1(project, src)
    app = make_app(src / "with-data", "shop", "2.0.0", {**V2, "box/data/seed.json": {"seed": True}})
    plan = await lifecycle(project).upgrade(pack(app, src / "with-data.gin", include_data=True), dry_run=True)
    assert "box/data/seed.json" not in plan.added
    await lifecycle(project).upgrade(pack(app, src / "with-data.gin", include_data=True))
    data = project / "web/shop/box/data"
    assert sorted(p.name for p in data.iterdir()) == ["orders.json"]
    assert (data / "orders.json").read_text() == '{"orders": [1, 2]}'


async def test_backups_are_listed_newest_first_and_old_ones_dropped(tmp_path: Path, src: Path) -> None:
    """keep_backups keeps the newest by time, not by name: "10.0.0" sorts before "9.0.0" as text."""
    project = make_project(tmp_path / "p", {"lifecycle": {"keep_backups": 2}})
    ops = lifecycle(project)
    await ops.install(packed(src, "8.0.0"))
    for version in ("9.0.0", "10.0.0", "11.0.0"):
        await ops.upgrade(packed(src, version))
    listed = ops.backups("shop")
    assert [b["version"] for b in listed] == ["10.0.0", "9.0.0"]
    assert len(backup_files(project)) == 2
    assert all(b["file"].startswith("backups/shop/") and (project / b["file"]).is_file() for b in listed)
    assert all(len(b["sha256"]) == 64 and b["size"] > 0 for b in listed)


async def test_backups_lists_an_unreadable_backup_with_its_error(project: Path, src: Path) -> None:
    await _install_v1(project, src)
    await lifecycle(project).upgrade(packed(src, "2.0.0", V2))
    (project / "backups/shop/shop-0.1-20000101T000000000000Z.gin").write_bytes(b"not a zip")
    listed = lifecycle(project).backups("shop")
    assert [b.get("version") for b in listed] == ["1.0.0", None]
    assert "not a .gin package" in listed[1]["error"]


async def test_backups_refuses_a_name_that_is_not_an_app(project: Path) -> None:
    with pytest.raises(LifecycleError, match="not an app name"):
        lifecycle(project).backups("../etc")


async def test_rollback_restores_the_previous_files_and_keeps_current_data(project: Path, src: Path) -> None:
    await _install_v1(project, src)
    v1 = snapshot(project / "web" / "shop")
    await lifecycle(project).upgrade(packed(src, "2.0.0", V2))
    (project / "web/shop/box/data/orders.json").write_text('{"orders": [1, 2, 3]}')
    plan = await lifecycle(project).rollback("shop")
    assert (plan.action, plan.from_version, plan.to_version) == ("rollback", "2.0.0", "1.0.0")
    after = snapshot(project / "web" / "shop")
    assert after.pop("box/data/orders.json") == b'{"orders": [1, 2, 3]}'
    assert after == {rel: data for rel, data in v1.items() if rel != "box/data/orders.json"}
    assert plan.backup is not None and plan.backup.startswith("backups/shop/shop-2.0.0-")
    assert [b["version"] for b in lifecycle(project).backups("shop")] == ["2.0.0", "1.0.0"]


async def test_rollback_to_a_named_version(project: Path, src: Path) -> None:
    ops = lifecycle(project)
    await ops.install(packed(src, "1.0.0", {"box/one.py": "V = 1\n"}))
    await ops.upgrade(packed(src, "2.0.0", {"box/two.py": "V = 2\n"}))
    await ops.upgrade(packed(src, "3.0.0", {"box/three.py": "V = 3\n"}))
    plan = await ops.rollback("shop", to="1.0.0")
    assert plan.to_version == "1.0.0" and ops.installed_version("shop") == "1.0.0"
    assert sorted(p.name for p in (project / "web/shop/box").iterdir()) == ["app.json", "one.py"]
    with pytest.raises(NotInstalled, match=r"no backup of version 7\.0\.0"):
        await ops.rollback("shop", to="7.0.0")


async def test_rollback_to_a_backup_of_an_app_without_version(project: Path, src: Path) -> None:
    """An app placed by hand without a version is backed up as version "0"; rolling back to it works."""
    make_app(project / "web", "shop", None, {"box/hello.py": HELLO})
    before = snapshot(project / "web" / "shop")
    ops = lifecycle(project)
    await ops.upgrade(packed(src, "1.0.0", {"box/hello.py": HELLO}))
    assert [b["version"] for b in ops.backups("shop")] == ["0"]
    await ops.rollback("shop")
    assert snapshot(project / "web" / "shop") == before


async def test_rollback_without_a_backup_is_refused(project: Path, src: Path) -> None:
    await lifecycle(project).install(packed(src, "1.0.0"))
    with pytest.raises(NotInstalled, match="has no backup"):
        await lifecycle(project).rollback("shop")


BOOM = {
    "box/app.json": {"version": "2.0.0", "startup_scripts": ["boot.py"]},
    "box/boot.py": ('def handle(g):\n    raise RuntimeError("boom")\n'),
}


async def test_a_new_version_that_fails_to_load_puts_the_old_one_back(project: Path, src: Path) -> None:
    await _install_v1(project, src)
    before = snapshot(project / "web" / "shop")
    with pytest.raises(LoadFailed) as caught:
        await lifecycle(project).upgrade(packed(src, "2.0.0", {**V2, **BOOM}), grant_declared=True)
    assert "boom" in str(caught.value) and "version 1.0.0 is still serving" in str(caught.value)
    assert caught.value.plan.to_version == "2.0.0"
    assert snapshot(project / "web" / "shop") == before
    assert staging_leftovers(project) == []
    assert lifecycle(project).installed_version("shop") == "1.0.0"
    last = audit_lines(project)[-1]
    assert (last["action"], last["result"]) == ("upgrade", "error") and "boom" in last["error"]


async def test_a_fresh_install_that_fails_to_load_leaves_nothing(project: Path, src: Path) -> None:
    with pytest.raises(LoadFailed, match=r"boom.*nothing was installed"):
        await lifecycle(project).install(
            packed(src, "2.0.0", {**BOOM, "box/pmft.json": PMFT}), grant_declared=True
        )
    assert not (project / "web" / "shop").exists()
    assert staging_leftovers(project) == []
    assert read_grants(project / "settings/permissions.json").get("shop", set()) == set()


async def test_remove_backs_up_deletes_and_revokes(project: Path, src: Path) -> None:
    ops = lifecycle(project)
    await ops.install(packed(src, "1.0.0", {"box/pmft.json": PMFT}), grant_declared=True)
    plan = await ops.remove("shop")
    assert not (project / "web" / "shop").exists()
    assert sorted(plan.deleted) == ["box/app.json", "box/pmft.json"]
    assert [b["version"] for b in ops.backups("shop")] == ["1.0.0"]
    assert read_grants(project / "settings/permissions.json").get("shop", set()) == set()
    with pytest.raises(NotInstalled):
        await ops.remove("shop")


# -- permissions --------------------------------------------------------------------------------------------


async def test_install_grants_nothing_unless_asked(project: Path, src: Path) -> None:
    plan = await lifecycle(project).install(packed(src, "1.0.0", {"box/pmft.json": PMFT}))
    assert plan.permissions["declared"] == ["cache", "db"]
    assert plan.permissions["not_granted"] == ["cache", "db"]
    assert plan.permissions["granted"] == []
    assert "shop" not in read_grants(project / "settings/permissions.json")


async def test_install_grant_declared_writes_the_grants_file(project: Path, src: Path) -> None:
    plan = await lifecycle(project).install(
        packed(src, "1.0.0", {"box/pmft.json": PMFT}), grant_declared=True
    )
    assert plan.permissions["granted"] == ["cache", "db"] and plan.permissions["not_granted"] == []
    assert read_grants(project / "settings/permissions.json") == {"shop": {"cache", "db"}}


async def test_grants_go_to_the_configured_permissions_file(tmp_path: Path, src: Path) -> None:
    project = make_project(tmp_path / "p", {"permissions_file": "conf/grants.json"})
    await lifecycle(project).install(packed(src, "1.0.0", {"box/pmft.json": PMFT}), grant_declared=True)
    assert read_grants(project / "conf/grants.json") == {"shop": {"cache", "db"}}
    assert not (project / "settings/permissions.json").exists()


@pytest.mark.parametrize(
    ("old", "new", "newly", "no_longer"),
    [
        ({"mandatory": ["db"]}, {"mandatory": ["db"], "optional": ["mail"]}, ["mail"], []),
        ({"mandatory": ["db", "cache"]}, {"mandatory": ["db"]}, [], ["cache"]),
        (None, {"mandatory": ["db"]}, ["db"], []),
    ],
)
async def test_upgrade_plan_shows_what_is_newly_asked_for(
    project: Path, src: Path, old: Any, new: Any, newly: list[str], no_longer: list[str]
) -> None:
    first = {"box/pmft.json": {"permissions": old}} if old else {}
    await lifecycle(project).install(packed(src, "1.0.0", first), grant_declared=True)
    plan = await lifecycle(project).upgrade(packed(src, "2.0.0", {"box/pmft.json": {"permissions": new}}))
    assert plan.permissions["newly_declared"] == newly
    assert plan.permissions["no_longer_declared"] == no_longer
    assert plan.permissions["not_granted"] == newly  # an upgrade grants nothing new by itself
    assert "NOT granted" in plan.text() if newly else "NOT granted" not in plan.text()


# -- audit --------------------------------------------------------------------------------------------------


async def test_every_operation_appends_one_audit_line(project: Path, src: Path) -> None:
    ops = lifecycle(project)
    await ops.install(packed(src, "1.0.0", {"box/pmft.json": PMFT}), grant_declared=True)
    await ops.upgrade(packed(src, "2.0.0", {"box/pmft.json": PMFT}))
    await ops.rollback("shop")
    await ops.install(packed(src, "1.0.0", name="dry"), dry_run=True)
    await ops.remove("shop")
    lines = audit_lines(project)
    assert [(e["who"], e["action"], e["app"], e["result"]) for e in lines] == [
        ("cli", "install", "shop", "ok"),
        ("cli", "upgrade", "shop", "ok"),
        ("cli", "rollback", "shop", "ok"),
        ("cli", "remove", "shop", "ok"),
    ]
    assert "from_version" not in lines[0] and lines[0]["to_version"] == "1.0.0"
    assert lines[0]["granted"] == ["cache", "db"]
    assert (lines[1]["from_version"], lines[1]["to_version"]) == ("1.0.0", "2.0.0")
    assert (lines[2]["from_version"], lines[2]["to_version"]) == ("2.0.0", "1.0.0")
    assert lines[3]["from_version"] == "1.0.0" and lines[3]["backup"].startswith("backups/shop/")
    assert all(datetime.fromisoformat(e["time"]).tzinfo is not None for e in lines)


def test_a_refused_operation_is_not_an_audited_change(project: Path) -> None:

    with pytest.raises(GingeeError):
        asyncio.run(lifecycle(project).install(b"not a zip"))
    assert audit_lines(project) == []


def test_package_bytes_round_trip(src: Path) -> None:
    """A package read from bytes (as the API receives it) is the same package as from its path."""
    path = packed(src, "1.0.0", {"box/hello.py": HELLO})
    with Package.open(path.read_bytes()) as from_bytes, Package.open(path) as from_path:
        assert from_bytes.sha256 == from_path.sha256 and from_bytes.files == from_path.files
