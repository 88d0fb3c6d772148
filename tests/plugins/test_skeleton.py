"""`gingee plugins new` and the plugin authors' test helper `throwaway_app`: the skeleton's own tests pass,
it builds into a wheel with the `gingee.modules` entry point, and the helper binds a module as the
loader does (config checked, data_dir in the box, the real gate, close() on exit)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gingee_kernel import plugins
from gingee_kernel.cli import main
from gingee_kernel.errors import ManifestError, PermissionDenied
from gingee_kernel.plugin_host.skeleton import names, new_plugin
from gingee_kernel.plugin_host.testing import throwaway_app

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "plugins" / "gingee-hello"


@pytest.fixture
def skeleton(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["plugins", "new", "gingee-weather", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    target = tmp_path / "gingee-weather"
    assert f"wrote {target}/" in out
    assert "next steps" in out and "plugin:weather" in out
    return target


def test_new_writes_the_files(skeleton: Path) -> None:
    files = {str(p.relative_to(skeleton)) for p in skeleton.rglob("*") if p.is_file()}
    assert {
        "pyproject.toml",
        "README.md",
        "gingee_weather/__init__.py",
        "tests/test_gingee_weather.py",
    } <= files
    pyproject = (skeleton / "pyproject.toml").read_text()
    assert '[project.entry-points."gingee.modules"]\nweather = "gingee_weather:Module"' in pyproject
    assert 'version = "0.1.0"' in pyproject
    assert "\ndependencies = []\n" in pyproject and "# Empty on purpose" in pyproject  # gingee is the host
    code = (skeleton / "gingee_weather" / "__init__.py").read_text()
    assert 'permission = "weather"' in code and "context.config" in code and "context.count" in code
    readme = (skeleton / "README.md").read_text()
    for needed in ('"allow"', "app.json", "plugin:weather", "gingee plugins list", "python -m build"):
        assert needed in readme
    assert "twine upload" in readme


def test_generated_tests_pass(skeleton: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(skeleton)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(skeleton / "tests")],
        cwd=skeleton,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


def test_skeleton_builds_a_plugin_wheel(skeleton: Path, tmp_path: Path) -> None:
    out = tmp_path / "wheels"
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        [*command, str(skeleton), "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = out.glob("gingee_weather-0.1.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        entry_points = archive.read("gingee_weather-0.1.0.dist-info/entry_points.txt").decode()
        listed = archive.namelist()
    assert "[gingee.modules]" in entry_points
    assert "weather = gingee_weather:Module" in entry_points
    assert "gingee_weather/__init__.py" in listed
    assert not any(name.startswith("tests/") for name in listed)


def test_names() -> None:
    assert names("gingee-weather") == names("Gingee_Weather")
    n = names("gingee-weather")
    assert (n.distribution, n.module, n.package) == ("gingee-weather", "weather", "gingee_weather")
    n = names("acme-geo-ip")
    assert (n.distribution, n.module, n.package) == ("acme-geo-ip", "acme_geo_ip", "acme_geo_ip")


@pytest.mark.parametrize("bad", ["", "bad name", "-gingee", "gingee-", "gingee-2x", "gingee-class", "ü"])
def test_bad_name_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError):
        new_plugin(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "gingee-weather").mkdir()
    (tmp_path / "gingee-weather" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already exists"):
        new_plugin("gingee-weather", tmp_path)
    assert main(["plugins", "new", "gingee-weather", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "gingee-weather").iterdir()] == ["keep.txt"]


# --- throwaway_app on the example plugin ---------------------------------------------------------------


@pytest.fixture
def hello(monkeypatch: pytest.MonkeyPatch) -> type:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.delitem(sys.modules, "gingee_hello", raising=False)
    import gingee_hello

    return gingee_hello.Module


def test_throwaway_app_binds_the_module(hello: type) -> None:
    with throwaway_app(hello, {"greeting": "Hej"}) as t:
        assert t.module.greet("Ada") == "Hej, Ada!"
        assert t.call(lambda: plugins.hello.greet("Ada")) == "Hej, Ada!"
        assert t.module.context.app == "plugin-test" and t.module.context.plugin == "hello"
        assert t.runtime.grants == frozenset({"plugin:hello"})
        assert t.data_dir == t.runtime.box / "data" / "plugins" / "hello"
        assert t.data_dir.is_relative_to(t.runtime.box)
        t.call(lambda: plugins.hello.remember("a note"))
        assert (t.data_dir / "notes.txt").read_text() == "a note\n"
        assert t.call(lambda: plugins.hello.notes()) == ["a note"]
        folder = t.runtime.root
    assert not folder.exists()


def test_throwaway_app_checks_config_as_the_loader_does(hello: type) -> None:
    with pytest.raises(ManifestError) as caught, throwaway_app(hello, {"colour": "red"}):
        pass
    assert caught.value.pointer.startswith("/plugins/hello/config")
    with pytest.raises(ManifestError) as caught, throwaway_app(hello, {"greeting": 3}):
        pass
    assert caught.value.pointer == "/plugins/hello/config/greeting"


def test_throwaway_app_without_the_grant(hello: type) -> None:
    with throwaway_app(hello, grant=False) as t:
        with pytest.raises(PermissionDenied, match="plugin:hello"):
            t.call(lambda: plugins.hello.greet("Ada"))
        assert t.module.greet("Ada") == "Hello, Ada!"  # the instance itself is not gated


def test_throwaway_app_name_and_app(hello: type) -> None:
    with throwaway_app(hello, app="shop", name="hi") as t:
        assert t.call(lambda: plugins.hi.greet("Ada")) == "Hello, Ada!"
        assert t.module.context.app == "shop" and t.module.context.plugin == "hi"
        assert t.data_dir.parts[-3:] == ("data", "plugins", "hi")


def test_throwaway_app_closes_sync_and_async(hello: type) -> None:
    calls: list[str] = []

    class Sync(hello):  # type: ignore[misc, valid-type]
        def close(self) -> None:
            calls.append("sync")

    class Async(hello):  # type: ignore[misc, valid-type]
        async def close(self) -> None:
            calls.append("async")

        async def agreet(self, name: str) -> str:
            return self.greet(name)

    with throwaway_app(Sync):
        assert calls == []
    assert calls == ["sync"]
    with throwaway_app(Async) as t:
        assert t.call(lambda: plugins.hello.agreet("Ada")) == "Hello, Ada!"
    assert calls == ["sync", "async"]
    with pytest.raises(RuntimeError, match="boom"), throwaway_app(Sync):
        raise RuntimeError("boom")
    assert calls == ["sync", "async", "sync"]
