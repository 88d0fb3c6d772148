"""What only the local driver has to defend: its folder on disk. A symlink planted in a store's folder
(by hand, by a script with fs rights, by an unpacked archive) must not lead a key outside the store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gingee_kernel import storage
from gingee_kernel.engine.context import app_context
from tests.fixtures.apps import MakeApp


@pytest.fixture
def app(make_app: MakeApp) -> Any:
    return make_app("shop", config={"storage": [{"name": "files", "driver": "local"}]}, grants={"storage"})


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("the other app's secret")
    return folder


def objects_of(app: Any) -> Path:
    return Path(app.box) / "data" / "storage" / "files" / "objects"


async def test_a_symlinked_folder_leading_out_is_refused(app: Any, outside: Path) -> None:
    with app_context(app):
        files = storage.store("files")
        await files.put("kept.txt", "mine")
        os.symlink(outside, objects_of(app) / "escape")
        for call in (files.get, files.stat, files.exists, files.delete, files.url):
            with pytest.raises(storage.InvalidKey, match="resolves outside store 'files'"):
                await call("escape/secret.txt")
        with pytest.raises(storage.InvalidKey, match="resolves outside"):
            await files.put("escape/planted.txt", "written through the link")
        with pytest.raises(storage.InvalidKey, match="resolves outside"):
            await files.list("escape/")
        # The whole store's listing neither follows the link nor breaks on it.
        assert [item.key for item in (await files.list()).items] == ["kept.txt"]
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "the other app's secret"


async def test_a_symlinked_file_leading_out_is_neither_read_nor_listed(app: Any, outside: Path) -> None:
    with app_context(app):
        files = storage.store("files")
        await files.put("kept.txt", "mine")
        os.symlink(outside / "secret.txt", objects_of(app) / "linked.txt")
        with pytest.raises(storage.InvalidKey, match="resolves outside"):
            await files.get("linked.txt")
        with pytest.raises(storage.InvalidKey, match="resolves outside"):
            await files.put("linked.txt", "overwrite the target")
        assert [item.key for item in (await files.list()).items] == ["kept.txt"]
    assert (outside / "secret.txt").read_text() == "the other app's secret"


async def test_a_symlink_inside_the_store_still_works(app: Any) -> None:
    # Confinement is by real path, not a ban on links: one that stays inside the store is followed.
    with app_context(app):
        files = storage.store("files")
        await files.put("v2/report.txt", "second edition")
        os.symlink(objects_of(app) / "v2", objects_of(app) / "latest")
        assert await files.get("latest/report.txt") == b"second edition"
