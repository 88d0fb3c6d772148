"""An isolated app tries to get out; each attempt must fail for the attacker (issue: isolated processes).

The attacker is an ordinary app script. In the server's process (the control case) it finds the other
app's secret, which is what shows these tests can fail; isolated, it must not."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx

from tests.fixtures.servers import write_files

from .conftest import app_files

VICTIM_SECRET = "victim-token-4f1c9a7e2b"
FILE_SECRET = "victim-file-secret-8d2e61"
ADMIN_TOKEN = "admin-token-93b7c2d5e1"

#: Everything the attacker can find in its process: environment, every string reachable from the
#: objects the collector tracks and the modules' globals, and the files it is pointed at.
SNOOP = """
import gc, os, sys

def _strings(value, out, depth=0):
    if depth > 4:
        return
    if type(value) is str:  # str itself: a subclass may compare oddly (the sort below)
        if 6 <= len(value) <= 400:
            out.add(value)
    elif isinstance(value, dict):
        for k, v in list(value.items()):
            _strings(k, out, depth + 1)
            _strings(v, out, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in list(value):
            _strings(v, out, depth + 1)

def handle(g):
    found = set()
    for key, value in os.environ.items():
        found.add(f"{key}={value}")
        found.add(value)
    for obj in gc.get_objects():
        if isinstance(obj, (dict, list, tuple)):
            _strings(obj, found)
    for module in list(sys.modules.values()):
        _strings(getattr(module, "__dict__", {}), found)
    files = {}
    for path in g.request.query_all.get("path", []):
        try:
            with open(path) as file:
                files[path] = file.read()
        except OSError as exc:
            files[path] = type(exc).__name__
    return {"found": sorted(found), "files": files, "pid": os.getpid()}
"""


HELLO = "def handle(g):\n    return 'ok'\n"


def _project(root: Path, *, isolate: list[str], user: str | None = None, **isolation: object) -> Path:
    section: dict[str, object] = {"mode": "process", "apps": isolate, **isolation}
    if user:
        section["user"] = user
    write_files(
        root,
        {
            "gingee.json": {"isolation": section, "admin": {"token": ADMIN_TOKEN}},
            "settings/secrets/victim.txt": FILE_SECRET,
            **app_files(
                "victim", {"hello.py": HELLO}, env={"token": "env:VICTIM_TOKEN", "file": "file:victim.txt"}
            ),
            "web/victim/box/private.txt": FILE_SECRET,
            **app_files("attacker", {"snoop.py": SNOOP}),
        },
    )
    return root


def _gone(pid: int) -> bool:
    """True once `pid` is no more (killed and reaped), waiting up to 5 s for the reaping."""
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _snoop(client: httpx.Client, server, *paths: str) -> dict:
    reply = client.get(server.url("/attacker/snoop"), params=[("path", p) for p in paths])
    assert reply.status_code == 200, reply.text
    return reply.json()


def _leaks(data: dict) -> set[str]:
    text = "\n".join(data["found"]) + "\n".join(str(v) for v in data["files"].values())
    return {s for s in (VICTIM_SECRET, FILE_SECRET, ADMIN_TOKEN) if s in text}


def test_in_process_the_attacker_finds_the_other_apps_secrets(
    make_project, serve, client, monkeypatch, tmp_path
) -> None:
    """The control: with no isolation the same script reads them (docs/security.md says so)."""
    monkeypatch.setenv("VICTIM_TOKEN", VICTIM_SECRET)
    server = serve(_project(tmp_path / "p", isolate=["nobody-here"]), dev=True)
    assert client.get(server.url("/victim/hello")).text == "ok"
    data = _snoop(client, server)
    assert data["pid"] == os.getpid()
    assert _leaks(data) == {VICTIM_SECRET, FILE_SECRET, ADMIN_TOKEN}


def test_an_isolated_app_finds_no_other_apps_secret_in_env_or_memory(
    serve, client, monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("VICTIM_TOKEN", VICTIM_SECRET)
    server = serve(_project(tmp_path / "p", isolate=["attacker"]), dev=True)
    assert client.get(server.url("/victim/hello")).text == "ok"
    data = _snoop(client, server)
    assert data["pid"] != os.getpid()
    assert _leaks(data) == set()
    assert not any(s.startswith("VICTIM_TOKEN=") for s in data["found"])


def test_as_another_user_it_cannot_open_files_outside_its_folder(
    serve, client, monkeypatch, shared_dir, worker_user
) -> None:
    monkeypatch.setenv("VICTIM_TOKEN", VICTIM_SECRET)
    root = _project(shared_dir, isolate=["attacker"], user=worker_user)
    for private in ("web/victim/box/private.txt", "settings/secrets/victim.txt", "gingee.json"):
        (root / private).chmod(0o600)
    server = serve(root, dev=True)
    master = os.getpid()
    paths = [str(root / "web/victim/box/private.txt"), str(root / "settings/secrets/victim.txt"),
             str(root / "gingee.json"), f"/proc/{master}/environ", "/etc/shadow"]  # fmt: skip
    data = _snoop(client, server, *paths)
    assert data["files"] == dict.fromkeys(paths, "PermissionError")
    assert _leaks(data) == set()
    # the worker runs as that user, with no supplementary groups
    assert Path(f"/proc/{data['pid']}").stat().st_uid == 65534


LOOP = """
import os

async def handle(g):
    while True:
        pass
"""
PID = "import os\n\ndef handle(g):\n    return {'pid': os.getpid()}\n"


def test_a_cpu_loop_is_stopped_and_answered_504_within_the_budget(isolated, client) -> None:
    server = isolated(
        {
            **app_files("spin", {"loop.py": LOOP, "pid.py": PID}, limits={"request_timeout_ms": 800}),
            **app_files("other", {"pid.py": PID}),
        },
        isolation={"mode": "process", "apps": ["spin", "other"], "grace_ms": 300},
    )
    first = client.get(server.url("/spin/pid")).json()["pid"]
    other = client.get(server.url("/other/pid")).json()["pid"]
    answers: list[httpx.Response] = []
    started = time.monotonic()
    spinner = threading.Thread(target=lambda: answers.append(client.get(server.url("/spin/loop"))))
    spinner.start()
    time.sleep(0.2)
    # while it spins, the other isolated app answers at once, from its own unchanged worker
    assert client.get(server.url("/other/pid")).json()["pid"] == other
    spinner.join(10)
    elapsed = time.monotonic() - started
    assert answers[0].status_code == 504
    assert answers[0].json()["error"] == "GATEWAY_TIMEOUT"
    assert elapsed < 0.8 + 0.3 + 1.0  # the bound: budget + 1 s
    assert _gone(first)
    # the next request is served by a new worker
    assert client.get(server.url("/spin/pid")).json()["pid"] not in (first, other)


GROW = """
import asyncio

async def handle(g):
    hoard = []
    while True:
        hoard.append(bytearray(32 * 1024 * 1024))
        await asyncio.sleep(0.02)
"""
BIG = "def handle(g):\n    return len(bytearray(4 * 1024 * 1024 * 1024))\n"


def test_memory_past_the_limit_kills_the_worker_and_the_server_goes_on(isolated, client) -> None:
    server = isolated(
        app_files("hog", {"grow.py": GROW, "big.py": BIG, "pid.py": PID}),
        isolation={"mode": "process", "limits": {"max_rss_mb": 200, "memory_mb": 1024}},
    )
    first = client.get(server.url("/hog/pid")).json()["pid"]
    # past RLIMIT_AS the allocation fails inside the script: a plain 500, the worker lives on
    reply = client.get(server.url("/hog/big"))
    assert reply.status_code == 500 and reply.json()["error"] == "INTERNAL_SERVER_ERROR"
    assert client.get(server.url("/hog/pid")).json()["pid"] == first
    # growing resident memory past max_rss_mb gets the worker killed, and a clear 503
    reply = client.get(server.url("/hog/grow"))
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"] == "WORKER_OUT_OF_MEMORY"
    assert reply.headers["Retry-After"] == "1"
    assert client.get(server.url("/hog/pid")).json()["pid"] != first


FORK = """
import os, time

def handle(g):
    started = 0
    for _ in range(200):
        try:
            pid = os.fork()
        except OSError as exc:
            return {"started": started, "error": type(exc).__name__}
        if pid == 0:
            time.sleep(3)
            os._exit(0)
        started += 1
    return {"started": started, "error": None}
"""


def test_a_fork_bomb_is_bounded_by_the_process_limit(serve, client, shared_dir, worker_user) -> None:
    write_files(
        shared_dir,
        {
            "gingee.json": {
                "isolation": {"mode": "process", "user": worker_user, "limits": {"processes": 12}}
            },
            **app_files("bomb", {"fork.py": FORK}),
        },
    )
    server = serve(shared_dir, dev=True)
    data = client.get(server.url("/bomb/fork")).json()
    assert data["error"] == "BlockingIOError"
    assert data["started"] < 12
    # the server itself can still start processes
    assert os.waitpid(os.spawnv(os.P_NOWAIT, "/bin/true", ["true"]), 0)[1] == 0


SLOW = """
import asyncio, os

async def handle(g):
    await asyncio.sleep(10)
    return "too late"
"""


def test_a_worker_killed_mid_request_answers_502_and_the_next_request_gets_a_new_one(
    isolated, client
) -> None:
    server = isolated(app_files("fragile", {"slow.py": SLOW, "pid.py": PID}))
    first = client.get(server.url("/fragile/pid")).json()["pid"]
    answers: list[httpx.Response] = []
    waiter = threading.Thread(target=lambda: answers.append(client.get(server.url("/fragile/slow"))))
    waiter.start()
    time.sleep(0.3)
    os.kill(first, signal.SIGKILL)
    waiter.join(10)
    assert answers[0].status_code == 502
    assert answers[0].json()["error"] == "BAD_GATEWAY"
    assert client.get(server.url("/fragile/pid")).json()["pid"] != first
