"""Community plugins end to end, with real packaging: wheels built from examples/plugins/gingee-hello (and
variants of it), installed into throwaway virtualenvs that see gingee through --system-site-packages, and
projects served by `<venv>/bin/python -m gingee_kernel serve` in a subprocess."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.jupyter import free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "plugins" / "gingee-hello"
GREET_LINE = 'return f"{self.greeting}, {name}!"'

# --- the plugin distributions -------------------------------------------------------------------------

BROKEN = '''"""A plugin that fails to import."""

raise RuntimeError("gingee-hello-broken refuses to import")
'''

SNOOP = '''"""A plugin that reports what its instance can see: it should be its own app's context only."""

from gingee_kernel.plugin_host.api import Module as BaseModule


class Module(BaseModule):
    permission = "snoop"
    config_schema = {"type": "object", "properties": {"tag": {"type": "string"}}}

    def whoami(self):
        ctx = self.context
        return {"app": ctx.app, "plugin": ctx.plugin, "config": ctx.config, "data_dir": str(ctx.data_dir)}

    def others(self):
        """Try to get at other apps through what the engine handed over: the context's attributes."""
        found = {}
        for name in dir(self.context):
            value = getattr(self.context, name, None)
            for attr in ("shared", "apps", "project", "server_config", "grants", "state"):
                if hasattr(value, attr):
                    found[f"{name}.{attr}"] = repr(type(getattr(value, attr)))
        return found
'''


HOOKS = '''"""A plugin with a startup hook and a queue job."""
from gingee_kernel.plugin_host.api import Module as BaseModule


class Module(BaseModule):
    permission = "hooked"

    def startup(self):
        self.context.data_dir.mkdir(parents=True, exist_ok=True)
        (self.context.data_dir / "started.txt").write_text(self.context.app)

    def jobs(self):
        async def double(g):
            (self.context.data_dir / "doubled.txt").write_text(str(g.job.payload * 2))

        return {"double": double}
'''

ENQUEUE = """from gingee_kernel import queue

async def handle(g):
    job = await queue.add("hooked-double", 21, job_id="d1")
    g.response.send({"id": job.id})
"""


def _variant(
    root: Path, name: str, version: str, package: str = "gingee_hello", entry: str = "hello", code: str = ""
) -> Path:
    """A copy of the example distribution with another name / version / package / entry point / code."""
    target = root / f"{name}-{version}"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pyproject = target / "pyproject.toml"
    text = pyproject.read_text()
    text = text.replace('name = "gingee-hello"', f'name = "{name}"').replace(
        'version = "1.0.0"', f'version = "{version}"'
    )
    text = text.replace('hello = "gingee_hello:Module"', f'{entry} = "{package}:Module"')
    text = text.replace('packages = ["gingee_hello"]', f'packages = ["{package}"]')
    pyproject.write_text(text)
    if package != "gingee_hello":
        (target / "gingee_hello").rename(target / package)
    if code:
        (target / package / "__init__.py").write_text(code)
    return target


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every wheel the tests install, built once per session (in parallel)."""
    src = tmp_path_factory.mktemp("plugin-src")
    out = tmp_path_factory.mktemp("plugin-wheels")
    clash = (EXAMPLE / "gingee_hello" / "__init__.py").read_text()
    assert GREET_LINE in clash
    clash = clash.replace(GREET_LINE, 'return f"clash: {self.greeting}, {name}!"')
    sources = {
        "hello": _variant(src, "gingee-hello", "1.0.0"),
        "hello-1.1": _variant(src, "gingee-hello", "1.1.0"),
        "hello-rc": _variant(src, "gingee-hello", "2.0.0rc1"),
        "clash": _variant(src, "gingee-hello-clash", "1.0.0", "gingee_hello_clash", code=clash),
        "broken": _variant(src, "gingee-hello-broken", "1.0.0", "gingee_hello_broken", code=BROKEN),
        "snoop": _variant(src, "gingee-hello-snoop", "1.0.0", "gingee_hello_snoop", "snoop", SNOOP),
        "hooks": _variant(src, "gingee-hello-hooks", "1.0.0", "gingee_hello_hooks", "hooked", HOOKS),
    }
    built: dict[str, Path] = {}
    procs = {}
    for key, path in sources.items():
        dest = out / key
        command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        procs[key] = (dest, subprocess.Popen([*command, str(path), "-w", str(dest)], stderr=subprocess.PIPE))
    for key, (dest, proc) in procs.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        (built[key],) = dest.glob("*.whl")
    return built


# --- virtualenvs --------------------------------------------------------------------------------------


@dataclass
class Venv:
    root: Path

    @property
    def python(self) -> str:
        return str(self.root / "bin" / "python")

    @property
    def site(self) -> Path:
        (site,) = self.root.glob("lib/python*/site-packages")
        return site

    def run(self, code: str) -> Any:
        """Run `code` in the venv's interpreter; it prints one JSON value, returned here."""
        done = subprocess.run([self.python, "-c", code], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def record_hash(self, dist: str) -> tuple[str, list[str]]:
        code = (
            "import json, importlib.metadata as m\n"
            "from gingee_kernel.plugin_host.discovery import record_hash\n"
            f"print(json.dumps(record_hash(m.distribution({dist!r}))))"
        )
        pin, altered = self.run(code)
        return pin, altered


def make_venv(root: Path, *wheel_files: Path) -> Venv:
    """A virtualenv over the system site (gingee and its deps come from there) with `wheel_files` in it.
    Without pip of its own: the system pip (seen through the system site) installs into the venv."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(root)], check=True
    )
    venv = Venv(root)
    subprocess.run(
        [venv.python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", *map(str, wheel_files)],
        check=True,
        timeout=120,
    )
    return venv


@pytest.fixture(scope="session")
def venvs(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]) -> Callable[..., Venv]:
    """`venvs("hello", "clash")`: a venv with those wheels, made once per session per combination."""
    made: dict[tuple[str, ...], Venv] = {}

    def get(*keys: str) -> Venv:
        if keys not in made:
            root = tmp_path_factory.mktemp("venv-" + "-".join(keys))
            made[keys] = make_venv(root, *(wheels[k] for k in keys))
        return made[keys]

    return get


# --- projects and servers -----------------------------------------------------------------------------

GREET = """from gingee_kernel import plugins
from gingee_kernel.errors import PermissionDenied


async def handle(g):
    try:
        hello = plugins.hello
    except PermissionDenied as exc:
        g.response.send({"denied": str(exc), "type": type(exc).__name__}, status=403)
        return
    g.response.send({"message": hello.greet(g.request.query.get("name") or "world")})
"""

RAW = """from gingee_kernel import plugins


async def handle(g):
    g.response.send({"message": plugins.hello.greet("raw")})
"""

NOTES = """from gingee_kernel import plugins


async def handle(g):
    plugins.hello.remember(g.request.query["note"])
    g.response.send({"notes": plugins.hello.notes(), "dir": str(plugins.hello.context.data_dir)})
"""

SNOOP_ROUTE = """from gingee_kernel import plugins


async def handle(g):
    g.response.send({"me": plugins.snoop.whoami(), "others": plugins.snoop.others()})
"""

PING = """async def handle(g):
    g.response.send({"pong": g.app.name})
"""


def write_project(
    root: Path,
    allow: dict[str, Any] | None,
    apps: dict[str, Any],
    grants: dict[str, list[str]],
    isolation: dict[str, Any] | None = None,
) -> Path:
    """A project: gingee.json with `plugins.allow` (None: no plugins section), one app per `apps` entry
    (its app.json `plugins` section, or None for a plain app; every app has greet/raw/notes/snoop/ping
    routes), and the grants file."""
    root.mkdir(parents=True)
    config: dict[str, Any] = {"server": {"host": "127.0.0.1"}}
    if allow is not None:
        config["plugins"] = {"allow": allow}
    if isolation is not None:
        config["isolation"] = isolation
    (root / "gingee.json").write_text(json.dumps(config))
    for name, section in apps.items():
        box = root / "web" / name / "box"
        box.mkdir(parents=True)
        manifest: dict[str, Any] = {"name": name, "version": "1.0.0"}
        if section is not None:
            manifest["plugins"] = section
        (box / "app.json").write_text(json.dumps(manifest))
        for route, code in {
            "greet": GREET,
            "raw": RAW,
            "notes": NOTES,
            "snoop": SNOOP_ROUTE,
            "ping": PING,
        }.items():
            (box / f"{route}.py").write_text(code)
    (root / "settings").mkdir()
    grants_file = {app: {"granted": granted} for app, granted in grants.items()}
    (root / "settings" / "permissions.json").write_text(json.dumps(grants_file))
    return root


@dataclass
class Served:
    base: str
    proc: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, timeout=10)

    def post(self, path: str) -> httpx.Response:
        return httpx.post(self.base + path, timeout=30)

    def apps(self) -> dict[str, dict[str, Any]]:
        reply = self.get("/_gingee/api/apps")
        assert reply.status_code == 200, reply.text
        body = reply.json()
        listed = body["apps"] if isinstance(body, dict) else body
        return {app["name"]: app for app in listed}

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def serve(venv: Venv, project: Path) -> Iterator[Served]:
    """`<venv>/bin/python -m gingee_kernel serve PROJECT` on a free port, until the block ends."""
    port = free_port()
    log = project.with_suffix(".log")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                venv.python,
                "-m",
                "gingee_kernel",
                "serve",
                str(project),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=project,
        )
    served = Served(f"http://127.0.0.1:{port}", proc, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"gingee serve exited {proc.returncode}:\n{served.output()}"
            try:
                if served.get("/_gingee/api/apps").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"gingee serve did not answer:\n{served.output()}"
            time.sleep(0.05)
        yield served
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def failed(served: Served, app: str) -> str:
    """The load error of `app`, which must have failed to load."""
    status = served.apps()[app]
    assert status["status"] == "failed", status
    return str(status["error"])


# --- the tests ----------------------------------------------------------------------------------------


def test_venv_sees_its_plugin_first_and_gingee_from_the_system(venvs: Callable[..., Venv]) -> None:
    venv = venvs("hello")
    seen = venv.run(
        "import json, sys, gingee_kernel, gingee_hello\n"
        "seen = {'path': sys.path, 'gingee': gingee_kernel.__file__, 'plugin': gingee_hello.__file__}\n"
        "print(json.dumps(seen))"
    )
    path = [str(Path(p).resolve()) for p in seen["path"] if p]
    system_site = next(p for p in path if p.endswith("site-packages") and not p.startswith(str(venv.root)))
    assert path.index(str(venv.site.resolve())) < path.index(system_site)
    assert Path(seen["plugin"]).resolve().is_relative_to(venv.site.resolve())
    assert not Path(seen["gingee"]).resolve().is_relative_to(venv.root.resolve())
    assert sorted(p.name for p in venv.site.iterdir() if p.name.endswith(".dist-info")) == [
        "gingee_hello-1.0.0.dist-info"
    ]


@pytest.fixture(scope="module")
def main_server(tmp_path_factory: pytest.TempPathFactory, venvs: Callable[..., Venv]) -> Iterator[Served]:
    """gingee-hello 1.0.0 allowed (pinned to its RECORD hash, computed in the venv) and five apps."""
    venv = venvs("hello")
    pin, altered = venv.record_hash("gingee-hello")
    assert altered == []
    allow = {"gingee-hello": {"version": ">=1,<2", "sha256": pin}}
    apps = {
        "a": {"gingee-hello": {"version": ">=1.0,<2", "config": {"greeting": "Howdy"}}},
        "b": None,
        "nogrant": {"gingee-hello": ">=1.0,<2"},
        "narrow": {"gingee-hello": ">=1.1,<2"},
        "badconf": {"gingee-hello": {"version": ">=1.0,<2", "config": {"colour": "red"}}},
        "iso": {"gingee-hello": {"version": ">=1.0,<2", "config": {"greeting": "Hej"}}},
    }
    grants = {name: ["plugin:hello"] for name in ("a", "narrow", "badconf", "iso")}
    isolation = {"mode": "process", "apps": ["iso"]}  # its plugin code runs in its worker process
    project = write_project(tmp_path_factory.mktemp("main") / "project", allow, apps, grants, isolation)
    with serve(venv, project) as served:
        yield served


def test_allowed_plugin_answers_with_the_configured_greeting(main_server: Served) -> None:
    assert main_server.apps()["a"]["status"] == "serving"
    assert main_server.get("/a/greet?name=Ada").json() == {"message": "Howdy, Ada!"}
    assert main_server.get("/b/ping").json() == {"pong": "b"}


def test_an_isolated_apps_plugin_runs_in_its_worker(main_server: Served) -> None:
    """The master loads no plugin of an isolated app: the greeting comes from the worker's instance."""
    assert main_server.get("/iso/greet?name=Ada").json() == {"message": "Hej, Ada!"}
    assert "app 'iso' loaded, isolated in a worker process" in main_server.output()


def test_plugin_events_show_on_metrics(main_server: Served) -> None:
    main_server.get("/a/greet?name=Ada")
    text = main_server.get("/metrics").text
    lines = [line for line in text.splitlines() if line.startswith("gingee_plugin_events_total{")]
    greeted = [line for line in lines if 'plugin="hello"' in line and 'event="greeted"' in line]
    used = [line for line in lines if 'plugin="hello"' in line and 'event="used"' in line]
    assert greeted and 'app="a"' in greeted[0] and float(greeted[0].rsplit(" ", 1)[1]) >= 1
    assert used and 'app="a"' in used[0]


def test_plugin_keeps_its_file_in_the_apps_own_box(main_server: Served) -> None:
    first = main_server.get("/a/notes?note=one").json()
    second = main_server.get("/a/notes?note=two").json()
    assert second["notes"][-2:] == ["one", "two"] and first["dir"] == second["dir"]
    data_dir = Path(second["dir"])
    project = main_server.log.with_suffix("")
    assert data_dir == (project / "web" / "a" / "box" / "data" / "plugins" / "hello").resolve()
    assert (data_dir / "notes.txt").read_text().splitlines()[-2:] == ["one", "two"]


def test_plugin_without_the_grant_is_denied(main_server: Served) -> None:
    assert main_server.apps()["nogrant"]["status"] == "serving"
    caught = main_server.get("/nogrant/greet")
    assert caught.status_code == 403
    assert caught.json()["type"] == "PermissionDenied" and "'plugin:hello'" in caught.json()["denied"]
    raw = main_server.get("/nogrant/raw")
    assert raw.status_code == 500 and raw.headers["content-type"].startswith("application/json")
    assert "Traceback" not in raw.text and "greet" not in raw.text
    deadline = time.monotonic() + 5
    while "PermissionDenied" not in main_server.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "PermissionDenied" in main_server.output()


def test_version_outside_the_apps_range_is_refused(main_server: Served) -> None:
    error = failed(main_server, "narrow")
    assert "/plugins/gingee-hello" in error and "'>=1.1,<2' does not" in error and "1.0.0" in error
    assert main_server.get("/narrow/greet").status_code == 503  # a failed app answers 503


def test_config_outside_the_plugins_schema_is_refused(main_server: Served) -> None:
    assert "/plugins/gingee-hello/config" in failed(main_server, "badconf")


def test_not_allow_listed_plugin_fails_its_app_only(tmp_path: Path, venvs: Callable[..., Venv]) -> None:
    apps = {"a": {"gingee-hello": {"version": ">=1.0,<2", "config": {"greeting": "Howdy"}}}, "b": None}
    project = write_project(tmp_path / "project", None, apps, {"a": ["plugin:hello"]})
    with serve(venvs("hello"), project) as served:
        error = failed(served, "a")
        assert "plugins.allow" in error and "gingee-hello" in error
        assert served.get("/b/ping").json() == {"pong": "b"}
        assert served.get("/a/greet").status_code == 503


def test_version_outside_the_operators_range_is_refused(tmp_path: Path, venvs: Callable[..., Venv]) -> None:
    allow = {"gingee-hello": {"version": "<1.1"}}
    apps = {"a": {"gingee-hello": ">=1.0,<2"}, "b": None}
    project = write_project(tmp_path / "project", allow, apps, {"a": ["plugin:hello"]})
    with serve(venvs("hello-1.1"), project) as served:
        error = failed(served, "a")
        assert "gingee.json" in error and "/plugins/allow/gingee-hello/version" in error
        assert "'<1.1' does not" in error and "1.1.0" in error
        assert served.get("/b/ping").json() == {"pong": "b"}


def test_prerelease_loads_only_when_the_operator_allows_prereleases(
    tmp_path: Path, venvs: Callable[..., Venv]
) -> None:
    venv = venvs("hello-rc")
    apps = {"a": {"gingee-hello": ">=1.0,<3"}, "b": None}
    allow: dict[str, Any] = {"gingee-hello": {"version": ">=1,<3"}}
    refused = write_project(tmp_path / "refused", allow, apps, {"a": ["plugin:hello"]})
    with serve(venv, refused) as served:
        error = failed(served, "a")
        assert "2.0.0rc1" in error and '"prereleases": true' in error
    allow["gingee-hello"]["prereleases"] = True
    allowed = write_project(tmp_path / "allowed", allow, apps, {"a": ["plugin:hello"]})
    with serve(venv, allowed) as served:
        assert served.get("/a/greet?name=Ada").json() == {"message": "Hello, Ada!"}


def _rewrite_record(site: Path, dist_info: str, rel: str) -> None:
    """Make RECORD agree with the file `rel` as it is now (what someone covering their tracks would do)."""
    record = site / dist_info / "RECORD"
    digest = hashlib.sha256((site / rel).read_bytes()).digest()
    value = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    size = (site / rel).stat().st_size
    lines = [
        f"{rel},sha256={value},{size}" if line.split(",", 1)[0] == rel else line
        for line in record.read_text().splitlines()
    ]
    record.write_text("\n".join(lines) + "\n")


def test_sha256_pin_and_record_integrity(tmp_path: Path, wheels: dict[str, Path]) -> None:
    venv = make_venv(tmp_path / "venv", wheels["hello"])  # its own venv: this test edits it
    pin, altered = venv.record_hash("gingee-hello")
    assert altered == [] and len(pin) == 64
    allow = {"gingee-hello": {"version": ">=1,<2", "sha256": pin}}
    project = write_project(
        tmp_path / "project", allow, {"a": {"gingee-hello": ">=1,<2"}, "b": None}, {"a": ["plugin:hello"]}
    )
    rel = "gingee_hello/__init__.py"
    with serve(venv, project) as served:
        assert served.get("/a/greet?name=Ada").json() == {"message": "Hello, Ada!"}

        source = venv.site / rel
        source.write_text(source.read_text().replace(GREET_LINE, 'return f"Tampered, {name}!"'))
        assert venv.record_hash("gingee-hello")[1] == [rel]
        assert served.post("/_gingee/api/apps/a/reload").status_code < 500
        error = failed(served, "a")
        assert "differ from its RECORD" in error and rel in error

        _rewrite_record(venv.site, "gingee_hello-1.0.0.dist-info", rel)
        new_pin, altered = venv.record_hash("gingee-hello")
        assert altered == [] and new_pin != pin
        served.post("/_gingee/api/apps/a/reload")
        error = failed(served, "a")
        assert "/plugins/allow/gingee-hello/sha256" in error and new_pin in error
        assert served.get("/b/ping").json() == {"pong": "b"}


def test_entry_point_name_clash_loads_the_named_distribution(
    tmp_path: Path, venvs: Callable[..., Venv]
) -> None:
    venv = venvs("hello", "clash")
    allow = {"gingee-hello": {"version": ">=1,<2"}, "gingee-hello-clash": {"version": ">=1,<2"}}
    apps = {
        "a": {"gingee-hello": ">=1,<2"},
        "c": {"gingee-hello-clash": ">=1,<2"},
        "both": {"gingee-hello": ">=1,<2", "gingee-hello-clash": ">=1,<2"},
    }
    grants = {name: ["plugin:hello"] for name in apps}
    project = write_project(tmp_path / "project", allow, apps, grants)
    with serve(venv, project) as served:
        assert served.get("/a/greet?name=Ada").json() == {"message": "Hello, Ada!"}
        assert served.get("/c/greet?name=Ada").json() == {"message": "clash: Hello, Ada!"}
        error = failed(served, "both")
        assert "distinct module names" in error and "'hello'" in error


def test_plugin_failing_at_import_fails_its_app_only(tmp_path: Path, venvs: Callable[..., Venv]) -> None:
    allow = {"gingee-hello-broken": {"version": ">=1,<2"}}
    apps = {"a": {"gingee-hello-broken": ">=1,<2"}, "b": None}
    project = write_project(tmp_path / "project", allow, apps, {"a": ["plugin:hello"]})
    with serve(venvs("broken"), project) as served:
        error = failed(served, "a")
        assert "gingee-hello-broken failed to import gingee_hello_broken:Module" in error
        assert "RuntimeError: gingee-hello-broken refuses to import" in error
        assert served.get("/b/ping").json() == {"pong": "b"}


REACH = """
import asyncio, gc, json, sys, types
from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.project import Project

SKIP = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.CodeType,
        types.FrameType, types.MethodType)


def reachable(start):
    seen, todo, found = set(), [start], []
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, SKIP):
            continue
        seen.add(id(obj))
        found.append(obj)
        todo.extend(gc.get_referents(obj))
    return found


async def main():
    project = Project(sys.argv[1])
    await project.load()
    report = {"errors": project.errors}
    for name, app in project.apps.items():
        bound = app.state["plugins"]["snoop"]
        seen = reachable(bound.instance)
        ctx = bound.instance.context
        report[name] = {
            "app": ctx.app, "config": ctx.config, "data_dir": str(ctx.data_dir), "box": str(app.box),
            "walked": any(o is ctx for o in seen) and any(o is ctx.config for o in seen),
            "runtimes": sorted(o.name for o in seen if isinstance(o, AppRuntime)),
            "shared": any(o is project.shared or o is app.shared for o in seen),
            "state": any(o is a.state for a in project.apps.values() for o in seen),
        }
    await project.close()
    print(json.dumps(report))

asyncio.run(main())
"""


def test_plugin_instance_sees_only_its_own_apps_context(tmp_path: Path, venvs: Callable[..., Venv]) -> None:
    venv = venvs("snoop")
    allow = {"gingee-hello-snoop": {"version": ">=1,<2"}}
    apps = {
        "a": {"gingee-hello-snoop": {"version": ">=1", "config": {"tag": "for a"}}},
        "b": {"gingee-hello-snoop": {"version": ">=1", "config": {"tag": "for b"}}},
    }
    project = write_project(tmp_path / "project", allow, apps, {n: ["plugin:snoop"] for n in apps})
    with serve(venv, project) as served:
        for name in apps:
            body = served.get(f"/{name}/snoop").json()
            box = (project / "web" / name / "box").resolve()
            assert body["me"] == {
                "app": name,
                "plugin": "snoop",
                "config": {"tag": f"for {name}"},
                "data_dir": str(box / "data" / "plugins" / "snoop"),
            }
            assert body["others"] == {}
    script = tmp_path / "reach.py"
    script.write_text(REACH)
    done = subprocess.run(
        [venv.python, str(script), str(project)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["errors"] == {}
    for name in apps:
        seen = report[name]
        assert seen["app"] == name and seen["config"] == {"tag": f"for {name}"}
        assert Path(seen["data_dir"]).is_relative_to(seen["box"])
        assert seen["walked"] is True  # the walk did go through the instance's context
        assert seen["runtimes"] == [] and seen["shared"] is False and seen["state"] is False


def test_a_plugin_registers_its_startup_hook_and_queue_jobs(
    tmp_path: Path, venvs: Callable[..., Venv]
) -> None:
    """startup() runs as the app when it loads; jobs() become the app's queue jobs `<module>-<name>`."""
    project = write_project(
        tmp_path / "p",
        {"gingee-hello-hooks": {"version": ">=1"}},
        {"a": {"gingee-hello-hooks": ">=1"}},
        {"a": ["plugin:hooked", "queue"]},
    )
    (project / "web" / "a" / "box" / "enqueue.py").write_text(ENQUEUE)
    data = project / "web" / "a" / "box" / "data" / "plugins" / "hooked"
    with serve(venvs("hooks"), project) as served:
        assert served.apps()["a"]["status"] == "serving"
        assert (data / "started.txt").read_text() == "a"
        assert served.get("/a/enqueue").json() == {"id": "d1"}
        deadline = time.monotonic() + 10
        while served.get("/_gingee/api/queue/a/jobs/d1").json().get("status") != "done":
            assert time.monotonic() < deadline, served.get("/_gingee/api/queue/a/jobs/d1").text
            time.sleep(0.05)
        assert (data / "doubled.txt").read_text() == "42"


NOTEBOOK_PLUGIN = """
import json
import gingee_kernel as gk
from gingee_kernel.notebook.export import export_app

app = gk.App("nb", version="1.0.0")
app.use_plugin("gingee-hello", ">=1,<2", greeting="Hej")


@app.route("/greet")
def greet(g):
    from gingee_kernel import plugins

    return {"message": plugins.hello.greet("Ada")}


reply = app.request("GET", "/greet")
folder = export_app(app, "web")
print(json.dumps({
    "status": reply.status,
    "body": reply.json(),
    "app_json": json.loads((folder / "box/app.json").read_text()),
    "pmft": json.loads((folder / "box/pmft.json").read_text()),
}))
app.stop()
"""


def test_a_notebook_uses_a_plugin_and_exports_it(tmp_path: Path, venvs: Callable[..., Venv]) -> None:
    """app.use_plugin in a notebook (here a script in the venv, as a kernel runs it): the allowed plugin
    serves the live app's route, and the export names it in app.json and its grant in pmft.json."""
    (tmp_path / "gingee.json").write_text(
        json.dumps({"plugins": {"allow": {"gingee-hello": {"version": ">=1"}}}})
    )
    script = tmp_path / "notebook.py"
    script.write_text(NOTEBOOK_PLUGIN)
    done = subprocess.run(
        [venvs("hello").python, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["status"], result["body"]) == (200, {"message": "Hej, Ada!"})
    assert result["app_json"]["plugins"] == {
        "gingee-hello": {"version": ">=1,<2", "config": {"greeting": "Hej"}}
    }
    assert "plugin:hello" in result["pmft"]["permissions"]["mandatory"]


def test_a_reload_runs_the_plugins_current_code(tmp_path: Path, wheels: dict[str, Path]) -> None:
    """An app reload (the apps API here; SIGHUP and --dev reload the same way) imports the plugin afresh:
    a new build of it (here edited in place, RECORD kept in step, no pin) serves without a restart."""
    venv = make_venv(tmp_path / "venv", wheels["hello"])
    allow = {"gingee-hello": {"version": ">=1,<2"}}
    project = write_project(
        tmp_path / "project", allow, {"a": {"gingee-hello": ">=1"}}, {"a": ["plugin:hello"]}
    )
    rel = "gingee_hello/__init__.py"
    with serve(venv, project) as served:
        assert served.get("/a/greet?name=Ada").json() == {"message": "Hello, Ada!"}
        source = venv.site / rel
        source.write_text(source.read_text().replace(GREET_LINE, 'return f"Version two, {name}!"'))
        _rewrite_record(venv.site, "gingee_hello-1.0.0.dist-info", rel)
        assert served.get("/a/greet?name=Ada").json() == {"message": "Hello, Ada!"}  # loaded code until...
        assert served.post("/_gingee/api/apps/a/reload").status_code == 200
        assert served.get("/a/greet?name=Ada").json() == {"message": "Version two, Ada!"}
