"""The lifecycle commands of `gingee`: pack, install, upgrade, backups, rollback, remove (and grant's audit
line), called through `gingee_kernel.cli.main` as the console script does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gingee_kernel.cli import main
from gingee_kernel.engine.permissions import read_grants

from .builders import make_app, make_project, make_zip, manifest_for, snapshot, staging_leftovers

HELLO = "def handle(g):\n    return 'hi'\n"
PMFT = {"permissions": {"mandatory": ["db"], "optional": ["cache"]}}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def gin(tmp_path: Path, version: str, files: dict[str, Any] | None = None, name: str = "shop") -> Path:
    """`gingee pack` app `name` at `version` (written under tmp_path/src/<version>); returns the .gin."""
    app = make_app(tmp_path / "src" / version, name, version, {"box/hello.py": HELLO, **(files or {})})
    out = tmp_path / f"{name}-{version}.gin"
    assert main(["pack", str(app), "-o", str(out)]) == 0
    return out


def audit(project: Path) -> list[dict[str, Any]]:
    path = project / "logs" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def test_pack_writes_a_package_and_reports_it(tmp_path: Path, capsys, monkeypatch) -> None:
    app = make_app(tmp_path / "src", "shop", "1.2.0", {"box/hello.py": HELLO, "box/pmft.json": PMFT})
    monkeypatch.chdir(tmp_path)
    assert main(["pack", str(app)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "shop-1.2.0.gin").is_file()  # the default name, in the current folder
    assert "packed shop 1.2.0 (3 files) to" in out
    assert "permissions asked for: cache, db" in out
    assert "content sha256 " in out


def test_pack_include_data_flag(tmp_path: Path, capsys) -> None:
    app = make_app(tmp_path / "src", "shop", "1.0.0", {"box/data/a.json": {"a": 1}})
    assert main(["pack", str(app), "-o", str(tmp_path / "plain.gin")]) == 0
    assert "(1 files)" in capsys.readouterr().out
    assert main(["pack", str(app), "-o", str(tmp_path / "data.gin"), "--include-data"]) == 0
    assert "(2 files)" in capsys.readouterr().out


def test_pack_refuses_an_app_without_version(tmp_path: Path, capsys) -> None:
    app = make_app(tmp_path / "src", "shop", None)
    assert main(["pack", str(app), "-o", str(tmp_path / "x.gin")]) == 2
    assert "/version" in capsys.readouterr().err
    assert not (tmp_path / "x.gin").exists()


def test_install_dry_run_prints_the_plan_and_changes_nothing(project: Path, tmp_path: Path, capsys) -> None:
    package = gin(tmp_path, "1.0.0", {"box/pmft.json": PMFT})
    capsys.readouterr()
    assert main(["install", str(project), str(package), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "plan: install 'shop' (1.0.0)"
    assert "box/app.json" in out and "added" in out
    assert "NOT granted" in out and "cache, db" in out
    assert "done." not in out
    assert not (project / "web" / "shop").exists()
    assert audit(project) == []


def test_install_grant_declared(project: Path, tmp_path: Path, capsys) -> None:
    package = gin(tmp_path, "1.0.0", {"box/pmft.json": PMFT})
    assert main(["install", str(project), str(package), "--grant-declared"]) == 0
    out = capsys.readouterr().out
    assert "install 'shop' (1.0.0)" in out and "granted: cache, db" in out and "done." in out
    assert (project / "web/shop/box/hello.py").read_text() == HELLO
    assert read_grants(project / "settings/permissions.json") == {"shop": {"cache", "db"}}


def test_install_without_grants_says_what_is_not_granted(project: Path, tmp_path: Path, capsys) -> None:
    assert main(["install", str(project), str(gin(tmp_path, "1.0.0", {"box/pmft.json": PMFT}))]) == 0
    out = capsys.readouterr().out
    assert "NOT granted (grant with --grant-declared or `gingee grant`): cache, db" in out
    assert "granted: nothing" in out
    assert read_grants(project / "settings/permissions.json") == {}


def test_upgrade_backups_rollback_remove(project: Path, tmp_path: Path, capsys) -> None:
    v1, v2, v3 = (gin(tmp_path, v, {f"box/v{v[0]}.py": f"V = {v[0]}\n"}) for v in ("1.0.0", "2.0.0", "3.0.0"))
    assert main(["install", str(project), str(v1)]) == 0
    (project / "web/shop/box/data").mkdir()
    (project / "web/shop/box/data/orders.json").write_text("[1]")
    capsys.readouterr()

    assert main(["upgrade", str(project), str(v2)]) == 0
    out = capsys.readouterr().out
    assert "upgrade 'shop' (1.0.0 -> 2.0.0)" in out
    assert "added" in out and "box/v2.py" in out and "deleted" in out and "box/v1.py" in out
    assert "preserved" in out and "box/data/orders.json" in out
    assert "backup: backups/shop/shop-1.0.0-" in out
    assert main(["upgrade", str(project), str(v3)]) == 0
    capsys.readouterr()

    assert main(["backups", str(project), "shop"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [row.split()[0] for row in rows] == ["2.0.0", "1.0.0"]
    assert all("backups/shop/shop-" in row for row in rows)

    assert main(["rollback", str(project), "shop", "--to", "1.0.0", "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("plan: rollback 'shop' (3.0.0 -> 1.0.0)")
    assert (project / "web/shop/box/v3.py").is_file()

    assert main(["rollback", str(project), "shop", "--to", "1.0.0"]) == 0
    assert "rollback 'shop' (3.0.0 -> 1.0.0)" in capsys.readouterr().out
    box = project / "web/shop/box"
    assert sorted(p.name for p in box.iterdir()) == ["app.json", "data", "hello.py", "v1.py"]
    assert (box / "data/orders.json").read_text() == "[1]"

    assert main(["remove", str(project), "shop"]) == 0
    assert "remove 'shop' (1.0.0)" in capsys.readouterr().out
    assert not (project / "web" / "shop").exists()
    assert staging_leftovers(project) == []
    assert [e["action"] for e in audit(project)] == ["install", "upgrade", "upgrade", "rollback", "remove"]
    assert all(e["who"] == "cli" and e["app"] == "shop" and e["result"] == "ok" for e in audit(project))


def test_upgrade_not_newer_exits_2_unless_forced(project: Path, tmp_path: Path, capsys) -> None:
    package = gin(tmp_path, "1.0.0")
    assert main(["install", str(project), str(package)]) == 0
    capsys.readouterr()
    assert main(["upgrade", str(project), str(package)]) == 2
    assert "1.0.0 is not newer" in capsys.readouterr().err
    assert not (project / "backups").exists()
    assert main(["upgrade", str(project), str(package), "--force"]) == 0
    assert "upgrade 'shop' (1.0.0 -> 1.0.0)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"this is not a zip", "is not a .gin package"),
        (make_zip({"../evil.py": b"x"}, manifest_for({"../evil.py": b"x"})), "zip-slip"),
        (make_zip({"box/app.json": b'{"version": "2.0.0"}'}, None), "has no .gingee-package.json"),
    ],
    ids=["not-a-zip", "zip-slip", "no-manifest"],
)
def test_a_refused_package_exits_2_with_the_reason(
    project: Path, tmp_path: Path, capsys, data: bytes, reason: str
) -> None:
    assert main(["install", str(project), str(gin(tmp_path, "1.0.0"))]) == 0
    before = snapshot(project / "web")
    bad = tmp_path / "bad.gin"
    bad.write_bytes(data)
    capsys.readouterr()
    for command in ("install", "upgrade"):
        assert main([command, str(project), str(bad)]) == 2
        captured = capsys.readouterr()
        assert captured.err.startswith("gingee: ") and reason in captured.err
        assert captured.out == ""
    assert snapshot(project / "web") == before
    assert not (project / "backups").exists()


def test_a_missing_package_file_exits_2(project: Path, tmp_path: Path, capsys) -> None:
    assert main(["install", str(project), str(tmp_path / "nowhere.gin")]) == 2
    assert "cannot read" in capsys.readouterr().err
    (tmp_path / "folder.gin").mkdir()
    assert main(["install", str(project), str(tmp_path / "folder.gin")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_rollback_and_remove_of_an_unknown_app_exit_2(project: Path, capsys) -> None:
    assert main(["rollback", str(project), "ghost"]) == 2
    assert "has no backup" in capsys.readouterr().err
    assert main(["remove", str(project), "ghost"]) == 2
    assert "'ghost' is not installed" in capsys.readouterr().err
    assert main(["backups", str(project), "ghost"]) == 0
    assert "app 'ghost' has no backups" in capsys.readouterr().out


def test_a_failed_load_exits_2_and_keeps_the_old_version(project: Path, tmp_path: Path, capsys) -> None:
    assert main(["install", str(project), str(gin(tmp_path, "1.0.0"))]) == 0
    before = snapshot(project / "web" / "shop")
    broken = gin(
        tmp_path,
        "2.0.0",
        {
            "box/app.json": {"version": "2.0.0", "startup_scripts": ["boot.py"]},
            "box/boot.py": 'def handle(g):\n    raise RuntimeError("boom")\n',
        },
    )
    capsys.readouterr()
    assert main(["upgrade", str(project), str(broken)]) == 2
    err = capsys.readouterr().err
    assert "boom" in err and "version 1.0.0 is still serving" in err
    assert snapshot(project / "web" / "shop") == before


def test_grant_appends_to_the_audit_log(project: Path, tmp_path: Path, capsys) -> None:
    assert main(["install", str(project), str(gin(tmp_path, "1.0.0", {"box/pmft.json": PMFT}))]) == 0
    assert main(["grant", str(project), "shop", "db"]) == 0
    assert main(["grant", str(project), "shop", "db", "--revoke"]) == 0
    entries = audit(project)
    assert [(e["who"], e["action"], e["app"]) for e in entries] == [
        ("cli", "install", "shop"),
        ("cli", "grant", "shop"),
        ("cli", "revoke", "shop"),
    ]
    assert entries[1]["permissions"] == ["db"] and entries[1]["result"] == "ok"
    assert read_grants(project / "settings/permissions.json") == {"shop": set()}
