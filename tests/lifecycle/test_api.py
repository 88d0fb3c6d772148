"""The operator apps API (`/_gingee/api/apps`, `/_gingee/api/audit`) of a real `gingee serve` subprocess:
list, install, upgrade (also under load), load failures, rollback, reload, removal, the audit log, the
access rule (admin token, loopback, cross-site refusal, size limit), and the deploy client and CLI."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gingee_kernel.lifecycle.client import DeployError, deploy
from gingee_kernel.lifecycle.package import MANIFEST, content_hash, pack
from tests.fixtures.jupyter import free_port

TOKEN = "s3cret-admin-token-for-tests"
TOKEN_WHO = "token:" + hashlib.sha256(TOKEN.encode()).hexdigest()[:12]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TOKEN_CONFIG = {"admin": {"token": "env:GINGEE_TEST_ADMIN_TOKEN"}}
TOKEN_ENV = {"GINGEE_TEST_ADMIN_TOKEN": TOKEN}


def hello(version: str, *, sleep: float = 0.0) -> str:
    """box/hello.py answering `{"version": version}` (after `sleep` seconds, in an async handler)."""
    wait = f"    await asyncio.sleep({sleep})\n" if sleep else ""
    return (
        f"import asyncio\n\n\nasync def handle(g):\n{wait}    g.response.send({{'version': {version!r}}})\n"
    )


def write(root: Path, files: dict[str, Any]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content if isinstance(content, str) else json.dumps(content))


def app_files(
    name: str, version: str, extra: dict[str, Any] | None = None, **app_json: Any
) -> dict[str, Any]:
    """An app's files (relative to its folder): app.json at `version`, box/hello.py answering it."""
    return {
        "box/app.json": {"name": name, "version": version, **app_json},
        "box/hello.py": hello(version),
        **(extra or {}),
    }


def app_dir(
    tmp_path: Path, name: str, version: str, files: dict[str, Any] | None = None, **app_json: Any
) -> Path:
    """A fresh app folder `<somewhere>/<name>` (for pack and deploy)."""
    root = tmp_path / "src" / uuid.uuid4().hex[:8] / name
    write(root, app_files(name, version, files, **app_json))
    return root


def package(
    tmp_path: Path, name: str, version: str, files: dict[str, Any] | None = None, **app_json: Any
) -> bytes:
    """The bytes of a .gin package of app `name` at `version` (built with lifecycle.package.pack)."""
    folder = app_dir(tmp_path, name, version, files, **app_json)
    return pack(folder, folder.parent / f"{name}.gin").read_bytes()


def hostile_zip(entries: dict[str, bytes], name: str, version: str) -> bytes:
    """A zip with `entries` and a manifest that lists them correctly (so only the entries are wrong)."""
    files = {
        rel: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()} for rel, data in entries.items()
    }
    document = {
        "format": 1,
        "name": name,
        "version": version,
        "permissions": {"mandatory": [], "optional": []},
        "files": files,
        "sha256": content_hash(files),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(MANIFEST, json.dumps(document))
        for rel, data in entries.items():
            archive.writestr(rel, data)
    return out.getvalue()


def project_with(
    tmp_path: Path, config: dict[str, Any] | None = None, apps: dict[str, Any] | None = None
) -> Path:
    """A project folder: gingee.json (`config`), and `apps` ({name: files relative to the app folder})."""
    project = tmp_path / "project"
    (project / "web").mkdir(parents=True)
    (project / "gingee.json").write_text(json.dumps(config or {}))
    for name, files in (apps or {}).items():
        write(project / "web" / name, files)
    return project


@dataclass
class Gingee:
    """A `gingee serve PROJECT --host 127.0.0.1 --port P` subprocess."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    project: Path

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def api(self, path: str = "") -> str:
        return self.url(f"/_gingee/api{path}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)


@pytest.fixture
def gingee(tmp_path: Path) -> Iterator[Callable[..., Gingee]]:
    """Factory: `gingee(project, env={...})` starts `gingee serve` on a free port, waits until it answers."""
    started: list[Gingee] = []

    def start(project: Path, env: dict[str, str] | None = None) -> Gingee:
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        environ = {k: v for k, v in os.environ.items() if k not in ("GINGEE_ADMIN_TOKEN",)}
        command = ["serve", str(project), "--port", str(port), "--host", "127.0.0.1"]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gingee_kernel", *command],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**environ, **(env or {})},
                cwd=tmp_path,
            )
        server = Gingee(proc, port, log, project)
        started.append(server)
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"gingee serve exited early:\n{server.output()}")
            try:
                httpx.get(server.api("/apps"), timeout=5)
                return server
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"gingee serve never answered:\n{server.output()}") from None
                time.sleep(0.1)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60, follow_redirects=False) as client:
        yield client


def status_of(http: httpx.Client, server: Gingee, name: str, headers: dict[str, str] | None = None) -> Any:
    reply = http.get(server.api(f"/apps/{name}"), headers=headers)
    return reply.json() if reply.status_code == 200 else reply.status_code


def served(http: httpx.Client, server: Gingee, name: str = "shop") -> Any:
    """What the app's /hello route answers: its version, or the HTTP status when it is not 200."""
    reply = http.get(server.url(f"/{name}/hello"))
    return reply.json()["version"] if reply.status_code == 200 else reply.status_code


def audit(http: httpx.Client, server: Gingee, app: str, headers: dict[str, str] | None = None) -> list[Any]:
    reply = http.get(server.api("/audit"), params={"app": app}, headers=headers)
    assert reply.status_code == 200, reply.text
    return reply.json()["entries"]


BROKEN_BOOT = "def handle(g):\n    raise RuntimeError('no database today')\n"


# -- listing ----------------------------------------------------------------------------------------


def test_the_list_names_every_app_with_version_status_grants_and_load_errors(tmp_path, gingee, http) -> None:
    project = project_with(
        tmp_path,
        apps={
            "shop": app_files("shop", "1.0.0", {"box/pmft.json": {"permissions": {"mandatory": ["cache"]}}}),
            "broken": app_files("broken", "0.1.0", {"box/boot.py": BROKEN_BOOT}, startup_scripts=["boot.py"]),
        },
    )
    write(project, {"settings/permissions.json": {"shop": {"granted": ["cache"]}}})
    server = gingee(project)

    reply = http.get(server.api("/apps"))
    assert reply.status_code == 200, reply.text
    apps = {app["name"]: app for app in reply.json()["apps"]}
    assert sorted(apps) == ["broken", "shop"]
    assert apps["shop"]["version"] == "1.0.0"
    assert apps["shop"]["status"] == "serving"
    assert apps["shop"]["grants"] == ["cache"]
    assert apps["shop"]["error"] is None
    assert apps["broken"]["status"] == "failed"
    assert "no database today" in apps["broken"]["error"]

    assert status_of(http, server, "shop") == apps["shop"]
    assert status_of(http, server, "nope") == 404
    assert served(http, server) == "1.0.0"


# -- install ----------------------------------------------------------------------------------------


def test_install_raw_and_multipart_with_dry_run_and_grant_declared(tmp_path, gingee, http) -> None:
    server = gingee(project_with(tmp_path))
    shop = package(tmp_path, "shop", "1.0.0")

    dry = http.post(server.api("/apps"), params={"dry_run": "1"}, content=shop)
    assert dry.status_code == 200, dry.text
    plan = dry.json()["plan"]
    assert plan["app"] == "shop" and plan["to_version"] == "1.0.0" and plan["dry_run"] is True
    assert "box/hello.py" in plan["added"]
    assert dry.json()["text"]
    assert http.get(server.api("/apps")).json()["apps"] == []  # nothing changed
    assert not (server.project / "web" / "shop").exists()
    assert served(http, server) == 404

    raw = http.post(server.api("/apps"), content=shop, headers={"Content-Type": "application/zip"})
    assert raw.status_code == 201, raw.text
    assert raw.json()["plan"]["action"] == "install"
    assert served(http, server) == "1.0.0"
    assert status_of(http, server, "shop")["status"] == "serving"

    again = http.post(server.api("/apps"), content=shop)
    assert again.status_code == 409
    assert "already installed" in again.json()["reason"]

    pmft = {"box/pmft.json": {"permissions": {"mandatory": ["cache"], "optional": ["db"]}}}
    blog = package(tmp_path, "blog", "0.1.0", pmft)
    multipart = http.post(
        server.api("/apps"),
        params={"grant_declared": "1"},
        files={"package": ("blog.gin", blog, "application/octet-stream")},
    )
    assert multipart.status_code == 201, multipart.text
    assert multipart.json()["plan"]["permissions"]["granted"] == ["cache", "db"]
    state = status_of(http, server, "blog")
    assert state["status"] == "serving" and state["grants"] == ["cache", "db"]
    assert json.loads((server.project / "settings/permissions.json").read_text())["blog"] == {
        "granted": ["cache", "db"]
    }
    assert served(http, server, "blog") == "0.1.0"

    # without grant_declared, nothing is granted
    news = package(tmp_path, "news", "1.0.0", pmft)
    plain = http.post(server.api("/apps"), files={"package": ("news.gin", news)})
    assert plain.status_code == 201, plain.text
    assert status_of(http, server, "news")["grants"] == []
    assert plain.json()["plan"]["permissions"]["not_granted"] == ["cache", "db"]


def test_install_of_an_app_that_does_not_load_is_refused_and_leaves_nothing(tmp_path, gingee, http) -> None:
    server = gingee(project_with(tmp_path))
    bad = package(tmp_path, "shop", "1.0.0", {"box/boot.py": BROKEN_BOOT}, startup_scripts=["boot.py"])
    reply = http.post(server.api("/apps"), content=bad)
    assert reply.status_code == 422, reply.text
    assert "no database today" in reply.json()["reason"]
    assert not (server.project / "web" / "shop").exists()
    assert http.get(server.api("/apps")).json()["apps"] == []
    assert served(http, server) == 404


# -- upgrade ----------------------------------------------------------------------------------------


def test_upgrade_serves_the_new_version_keeps_data_and_refuses_bad_packages(tmp_path, gingee, http) -> None:
    project = project_with(tmp_path, apps={"shop": app_files("shop", "1.0.0", {"box/data/orders.txt": "42"})})
    server = gingee(project)
    assert served(http, server) == "1.0.0"

    reply = http.put(server.api("/apps/shop"), content=package(tmp_path, "shop", "2.0.0"))
    assert reply.status_code == 200, reply.text
    plan = reply.json()["plan"]
    assert (plan["from_version"], plan["to_version"]) == ("1.0.0", "2.0.0")
    assert served(http, server) == "2.0.0"
    assert (project / "web/shop/box/data/orders.txt").read_text() == "42"
    assert status_of(http, server, "shop")["version"] == "2.0.0"

    older = http.put(server.api("/apps/shop"), content=package(tmp_path, "shop", "1.5.0"))
    assert older.status_code == 409
    assert "not newer" in older.json()["reason"]

    other = http.put(server.api("/apps/shop"), content=package(tmp_path, "blog", "9.0.0"))
    assert other.status_code in (400, 409)
    assert "'blog'" in other.json()["reason"] and "'shop'" in other.json()["reason"]
    assert not (project / "web/blog").exists()

    slip = hostile_zip(
        {"box/app.json": json.dumps({"name": "shop", "version": "3.0.0"}).encode(), "../../escape.py": b"x"},
        "shop",
        "3.0.0",
    )
    bad = http.put(server.api("/apps/shop"), content=slip)
    assert bad.status_code == 400
    assert bad.json()["error"] == "BAD_PACKAGE" and "escape.py" in bad.json()["reason"]
    assert not list(tmp_path.rglob("escape.py"))

    assert served(http, server) == "2.0.0"
    assert (project / "web/shop/box/data/orders.txt").read_text() == "42"
    everything = http.get(server.api("/audit")).json()["entries"]
    assert [e["action"] for e in everything if e["result"] == "refused"] == ["PUT apps/shop"] * 3


def test_upgrade_under_load_answers_every_request_with_the_old_or_the_new_version(
    tmp_path, gingee, http
) -> None:
    v1 = app_files("shop", "1.0.0", {"box/hello.py": hello("1.0.0", sleep=0.05)})
    server = gingee(project_with(tmp_path, apps={"shop": v1}))
    v2 = package(tmp_path, "shop", "2.0.0")

    stop = threading.Event()
    results: list[tuple[float, int, str]] = []  # (started, status, body)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def hammer() -> None:
        with httpx.Client(timeout=60) as client:  # keep-alive: one connection per worker
            while not stop.is_set():
                started = time.monotonic()
                try:
                    reply = client.get(server.url("/shop/hello"))
                except httpx.HTTPError as exc:
                    with lock:
                        errors.append(exc)
                    continue
                with lock:
                    results.append((started, reply.status_code, reply.text))

    def count() -> int:
        with lock:
            return len(results)

    def wait_for_count(target: int) -> None:
        for _ in range(3000):
            if count() >= target or errors:
                return
            time.sleep(0.01)

    workers = [threading.Thread(target=hammer, daemon=True) for _ in range(6)]
    for worker in workers:
        worker.start()
    try:
        wait_for_count(30)
        reply = http.put(server.api("/apps/shop"), content=v2)
        done = time.monotonic()
        wait_for_count(count() + 60)
    finally:
        stop.set()
        for worker in workers:
            worker.join(60)

    assert reply.status_code == 200, reply.text
    assert errors == []
    answers = {'{"version":"1.0.0"}', '{"version":"2.0.0"}'}  # whole bodies, byte for byte
    assert {(status, body) for _, status, body in results} <= {(200, body) for body in answers}
    versions = [json.loads(body)["version"] for _, _, body in results]
    assert "1.0.0" in versions and "2.0.0" in versions
    after = [json.loads(body)["version"] for started, _, body in results if started > done]
    assert after and set(after) == {"2.0.0"}
    assert served(http, server) == "2.0.0"


def test_a_new_version_that_fails_to_load_is_refused_and_the_old_keeps_serving(
    tmp_path, gingee, http
) -> None:
    server = gingee(project_with(tmp_path, apps={"shop": app_files("shop", "1.0.0")}))
    bad = package(tmp_path, "shop", "2.0.0", {"box/boot.py": BROKEN_BOOT}, startup_scripts=["boot.py"])

    reply = http.put(server.api("/apps/shop"), content=bad)
    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert body["error"] == "LOAD_FAILED"
    assert "box/boot.py" in body["reason"] and "no database today" in body["reason"]
    assert "1.0.0" in body["reason"]  # says which version still serves

    assert served(http, server) == "1.0.0"
    state = status_of(http, server, "shop")
    assert (state["status"], state["version"], state["error"]) == ("serving", "1.0.0", None)
    last = audit(http, server, "shop")[-1]
    assert (last["action"], last["result"], last["to_version"]) == ("upgrade", "error", "2.0.0")
    assert "no database today" in last["error"]


# -- rollback, backups, reload, remove, audit ---------------------------------------------------------


def test_rollback_backups_reload_remove_and_the_audit_log(tmp_path, gingee, http) -> None:
    server = gingee(project_with(tmp_path))
    project = server.project
    assert http.post(server.api("/apps"), content=package(tmp_path, "shop", "1.0.0")).status_code == 201
    assert http.put(server.api("/apps/shop"), content=package(tmp_path, "shop", "2.0.0")).status_code == 200
    assert served(http, server) == "2.0.0"

    backups = http.get(server.api("/apps/shop/backups"))
    assert backups.status_code == 200
    assert [b["version"] for b in backups.json()["backups"]] == ["1.0.0"]
    assert (project / backups.json()["backups"][0]["file"]).is_file()

    dry = http.post(server.api("/apps/shop/rollback"), params={"dry_run": "1"})
    assert dry.status_code == 200 and dry.json()["plan"]["to_version"] == "1.0.0"
    assert served(http, server) == "2.0.0"

    rollback = http.post(server.api("/apps/shop/rollback"))
    assert rollback.status_code == 200, rollback.text
    assert rollback.json()["plan"]["action"] == "rollback"
    assert served(http, server) == "1.0.0"
    assert status_of(http, server, "shop")["version"] == "1.0.0"
    after = [b["version"] for b in http.get(server.api("/apps/shop/backups")).json()["backups"]]
    assert after == ["2.0.0", "1.0.0"]  # newest first: the version rolled back from was backed up

    (project / "web/shop/box/hello.py").write_text(hello("1.0.0-edited"))
    reload = http.post(server.api("/apps/shop/reload"))
    assert reload.status_code == 200, reload.text
    assert reload.json()["status"] == "serving"
    assert served(http, server) == "1.0.0-edited"
    assert http.post(server.api("/apps/nope/reload")).status_code == 404

    dry_remove = http.delete(server.api("/apps/shop"), params={"dry_run": "1"})
    assert dry_remove.status_code == 200
    assert served(http, server) == "1.0.0-edited"

    remove = http.delete(server.api("/apps/shop"))
    assert remove.status_code == 200, remove.text
    assert served(http, server) == 404
    assert status_of(http, server, "shop") == 404
    assert not (project / "web/shop").exists()
    assert len(http.get(server.api("/apps/shop/backups")).json()["backups"]) == 3  # removal backs up first
    assert http.delete(server.api("/apps/shop")).status_code == 404

    entries = audit(http, server, "shop")
    assert [(e["action"], e["result"]) for e in entries] == [
        ("install", "ok"),
        ("upgrade", "ok"),
        ("rollback", "ok"),
        ("reload", "ok"),
        ("remove", "ok"),
    ]
    assert {e["who"] for e in entries} == {"loopback:127.0.0.1"}
    assert (entries[1]["from_version"], entries[1]["to_version"]) == ("1.0.0", "2.0.0")
    assert entries[1]["backup"].startswith("backups/shop/")
    limited = http.get(server.api("/audit"), params={"app": "shop", "limit": "2"}).json()["entries"]
    assert [e["action"] for e in limited] == ["reload", "remove"]
    bad = http.get(server.api("/audit"), params={"limit": "lots"})
    assert (bad.status_code, bad.json()["error"]) == (400, "BAD_LIMIT")


# -- access -------------------------------------------------------------------------------------------


def test_the_admin_token_is_required_when_configured_and_names_the_caller(tmp_path, gingee, http) -> None:
    server = gingee(project_with(tmp_path, TOKEN_CONFIG, {"shop": app_files("shop", "1.0.0")}), TOKEN_ENV)

    assert http.get(server.api("/apps")).status_code == 403  # loopback is not enough once a token is set
    wrong = http.get(server.api("/apps"), headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 403
    assert wrong.json()["error"] == "ACCESS_DENIED"
    assert http.get(server.api("/audit"), headers={"Authorization": TOKEN}).status_code == 403  # no scheme
    assert http.get(server.api("/apps"), headers=AUTH).status_code == 200

    v2 = package(tmp_path, "shop", "2.0.0")
    assert http.put(server.api("/apps/shop"), content=v2).status_code == 403
    assert served(http, server) == "1.0.0"
    upgraded = http.put(server.api("/apps/shop"), content=v2, headers=AUTH)
    assert upgraded.status_code == 200, upgraded.text
    assert served(http, server) == "2.0.0"
    assert audit(http, server, "shop", AUTH)[-1]["who"] == TOKEN_WHO


def test_cross_site_browser_requests_are_refused_even_with_the_token(tmp_path, gingee, http) -> None:
    server = gingee(project_with(tmp_path, TOKEN_CONFIG, {"shop": app_files("shop", "1.0.0")}), TOKEN_ENV)
    evil = ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"})
    v2 = package(tmp_path, "shop", "2.0.0")
    blog = package(tmp_path, "blog", "1.0.0")

    for marks in evil:
        headers = {**AUTH, **marks}
        assert http.post(server.api("/apps"), content=blog, headers=headers).status_code == 403
        assert http.put(server.api("/apps/shop"), content=v2, headers=headers).status_code == 403
        assert http.post(server.api("/apps/shop/rollback"), headers=headers).status_code == 403
        assert http.post(server.api("/apps/shop/reload"), headers=headers).status_code == 403
        refused = http.delete(server.api("/apps/shop"), headers=headers)
        assert refused.status_code == 403
        assert "cross-site" in refused.json()["reason"]
    assert served(http, server) == "1.0.0"
    assert served(http, server, "blog") == 404
    assert [a["name"] for a in http.get(server.api("/apps"), headers=AUTH).json()["apps"]] == ["shop"]
    entries = audit(http, server, "shop", AUTH)  # each attempt is on record, as denied, and nothing else
    assert entries and {(e["result"], e["reason"]) for e in entries} == {
        ("denied", "cross-site browser requests may not change anything here")
    }

    # reading is not state-changing; and the server's own origin is not cross-site
    assert http.get(server.api("/apps"), headers={**AUTH, "Sec-Fetch-Site": "cross-site"}).status_code == 200
    own = {**AUTH, "Origin": f"http://127.0.0.1:{server.port}", "Sec-Fetch-Site": "same-origin"}
    assert http.post(server.api("/apps/shop/reload"), headers=own).status_code == 200


def test_a_package_over_max_package_size_is_refused_with_413(tmp_path, gingee, http) -> None:
    config = {"lifecycle": {"max_package_size": "64KB"}}
    server = gingee(project_with(tmp_path, config, {"shop": app_files("shop", "1.0.0")}))
    big = package(tmp_path, "blog", "1.0.0", {"box/static/noise.bin": os.urandom(100_000)})
    assert len(big) > 64 * 1024

    for send in (
        lambda: http.post(server.api("/apps"), content=big),
        lambda: http.post(server.api("/apps"), files={"package": ("blog.gin", big)}),
        lambda: http.put(server.api("/apps/shop"), content=big.replace(b"blog", b"shop")),
        # chunked, with no Content-Length
        lambda: http.post(server.api("/apps"), content=iter([big] * 5)),
    ):
        reply = send()
        assert reply.status_code == 413, reply.text
        assert "max_package_size" in reply.json()["reason"]
    assert served(http, server, "blog") == 404
    assert served(http, server) == "1.0.0"
    small = package(tmp_path, "blog", "1.0.0")
    assert http.post(server.api("/apps"), content=small).status_code == 201


# -- the deploy client ---------------------------------------------------------------------------------


def test_deploy_installs_then_upgrades_dry_runs_and_reports_refusals(tmp_path, gingee, http) -> None:
    server = gingee(project_with(tmp_path, TOKEN_CONFIG), TOKEN_ENV)
    url = server.url("")

    first = deploy(app_dir(tmp_path, "shop", "1.0.0"), url, token=TOKEN)
    assert (first["action"], first["status"]) == ("install", 201)
    assert served(http, server) == "1.0.0"

    seen: list[tuple[int, int]] = []
    second = deploy(
        app_dir(tmp_path, "shop", "1.1.0"), url, token=TOKEN, progress=lambda a, b: seen.append((a, b))
    )
    assert (second["action"], second["status"]) == ("upgrade", 200)
    assert second["plan"]["from_version"] == "1.0.0" and second["plan"]["to_version"] == "1.1.0"
    assert seen and seen[-1][0] == seen[-1][1]
    assert served(http, server) == "1.1.0"

    dry = deploy(app_dir(tmp_path, "shop", "2.0.0"), url, token=TOKEN, dry_run=True)
    assert dry["action"] == "upgrade" and dry["plan"]["dry_run"] is True
    assert served(http, server) == "1.1.0"
    assert status_of(http, server, "shop", AUTH)["version"] == "1.1.0"

    # a .gin file works as well as a folder
    gin = tmp_path / "shop-1.2.0.gin"
    gin.write_bytes(package(tmp_path, "shop", "1.2.0"))
    assert deploy(gin, url, token=TOKEN)["action"] == "upgrade"
    assert served(http, server) == "1.2.0"

    with pytest.raises(DeployError) as refused:
        deploy(app_dir(tmp_path, "shop", "1.2.0"), url, token=TOKEN)
    assert refused.value.status == 409
    assert "not newer" in str(refused.value)

    with pytest.raises(DeployError) as denied:
        deploy(app_dir(tmp_path, "shop", "3.0.0"), url, token="wrong")
    assert denied.value.status == 403
    assert "Authorization: Bearer" in str(denied.value)

    broken = app_dir(tmp_path, "shop", "4.0.0", {"box/boot.py": BROKEN_BOOT}, startup_scripts=["boot.py"])
    with pytest.raises(DeployError) as failed:
        deploy(broken, url, token=TOKEN)
    assert failed.value.status == 422 and "no database today" in str(failed.value)
    assert served(http, server) == "1.2.0"

    whos = {e["who"] for e in audit(http, server, "shop", AUTH) if e["result"] == "ok"}
    assert whos == {TOKEN_WHO}


def test_the_deploy_command(tmp_path, gingee, http) -> None:
    server = gingee(project_with(tmp_path, TOKEN_CONFIG, {"shop": app_files("shop", "1.0.0")}), TOKEN_ENV)
    source = app_dir(tmp_path, "shop", "2.0.0")
    command = [sys.executable, "-m", "gingee_kernel", "deploy", str(source), "--server", server.url("")]
    env = {**os.environ, "GINGEE_ADMIN_TOKEN": TOKEN}

    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2.0.0" in run.stdout
    assert served(http, server) == "2.0.0"

    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode != 0
    assert "not newer" in again.stdout + again.stderr
