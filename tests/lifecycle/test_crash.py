"""A process killed at any point of an app folder swap leaves the old or the new version complete, never a
mix (lifecycle/switch.py): every point a kill can land, reproduced step by step; real `gingee upgrade`
processes killed with SIGKILL; and recovery leaving alone an operation another live process still runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from gingee_kernel.engine.project import Project, load_server_config
from gingee_kernel.lifecycle import rules
from gingee_kernel.lifecycle.operations import Lifecycle
from gingee_kernel.lifecycle.package import pack
from gingee_kernel.lifecycle.switch import JOURNAL, STAGING, Busy, ProjectLock, Swap, recover

Files = dict[str, bytes]


def write_files(folder: Path, files: Files) -> None:
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def tree(folder: Path) -> dict[str, str]:
    """Every file (relative path -> SHA-256) and folder (`path/` -> "dir") under `folder`."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            found[rel] = "symlink"
        elif path.is_dir():
            found[rel + "/"] = "dir"
        else:
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def expected_tree(files: Files) -> dict[str, str]:
    """What `tree` gives for a folder holding exactly `files`."""
    found = {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()}
    for rel in files:
        parts = rel.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            found["/".join(parts[:depth]) + "/"] = "dir"
    return dict(sorted(found.items()))


def staging_contents(web_root: Path) -> list[str]:
    staging = web_root / STAGING
    return sorted(p.name for p in staging.iterdir()) if staging.exists() else []


# -- 1. every point a kill can land, step by step --------------------------------------------------------

APP = "shop"
PRESERVE = ["box/uploads"]
DATA: Files = {"box/data/db.txt": b"the v1 database\n", "box/data/sub/blob.bin": bytes(range(256)) * 8}
V1: Files = {
    "box/app.json": b'{"version": "1.0.0"}',
    "index.html": b"<h1>v1</h1>",
    "lib/util.js": b"// v1 util",
    "only-v1.txt": b"v1 only",
    "box/uploads/logo.png": b"v1 logo",
    "box/uploads/deep/banner.png": b"v1 banner",
    **DATA,
}
V2_STAGED: Files = {
    "box/app.json": b'{"version": "2.0.0"}',
    "index.html": b"<h1>v2</h1>",
    "lib/util.js": b"// v2 util",
    "lib/deep/new.js": b"// v2 new",
    "only-v2.txt": b"v2 only",
    "box/uploads/logo.png": b"v2 logo (the installed one is preserved over it)",
}
#: What a rollback's staged version holds too: a backup packs box/data, which the live one replaces whole.
STALE_DATA: Files = {"box/data/db.txt": b"a stale database from a backup\n", "box/data/stale.txt": b"stale"}
#: The new version once live: its files, the installed data and the installed preserved files.
V2_LIVE: Files = {
    **V2_STAGED,
    **{rel: data for rel, data in V1.items() if rules.kept(rel, PRESERVE)},
}

STEPS = [name for name, _ in Swap(Path("/nowhere"), APP).switch_steps()]


def run_steps(swap: Swap, count: int) -> None:
    """The first `count` steps of `swap.switch()`, as a process killed after them has run them."""
    for _name, step in swap.switch_steps()[:count]:
        step()


def undo_steps(swap: Swap, count: int) -> None:
    """The first `count` filesystem steps of `swap.undo()` after a completed switch (undo journals
    `switching`, then switch.revert renames the new version away, the old one back, and moves the data)."""
    steps: list[Callable[[], None]] = [
        lambda: swap._phase("switching", moves_data=True),
        lambda: os.rename(swap.live, swap.new),
        lambda: os.rename(swap.old, swap.live),
        lambda: os.rename(swap.new / rules.DATA, swap.live / rules.DATA),
        lambda: shutil.rmtree(swap.new),  # revert's rmtree of the folder, killed before the journal went
    ]
    for step in steps[:count]:
        step()


def staged_swap(web_root: Path, staged: Files) -> Swap:
    swap = Swap(web_root, APP, preserve=PRESERVE)
    write_files(swap.begin(), staged)
    return swap


def kill_before_journal(web_root: Path, staged: Files) -> None:
    swap = Swap(web_root, APP, preserve=PRESERVE)
    swap.new.parent.mkdir(parents=True)  # what begin() does before its journal
    (swap.dir / "old").mkdir()


def kill_writing_first_journal(web_root: Path, staged: Files) -> None:
    kill_before_journal(web_root, staged)
    (next((web_root / STAGING).iterdir()) / (JOURNAL + ".tmp")).write_text('{"app": "shop", "pha')


def kill_partly_staged(web_root: Path, staged: Files) -> None:
    swap = Swap(web_root, APP, preserve=PRESERVE)
    half = dict(list(sorted(staged.items()))[: len(staged) // 2])
    write_files(swap.begin(), half)
    (swap.new / "lib" / "deep").mkdir(parents=True, exist_ok=True)
    (swap.new / "lib" / "deep" / "new.js").write_bytes(b"// v2 ne")  # a file cut short


def kill_after_steps(count: int) -> Callable[[Path, Files], None]:
    def kill(web_root: Path, staged: Files) -> None:
        run_steps(staged_swap(web_root, staged), count)

    return kill


def kill_moving_data(web_root: Path, staged: Files) -> None:
    """In `move data`, after the staged box/data was deleted, before the installed one was moved."""
    swap = staged_swap(web_root, staged)
    run_steps(swap, STEPS.index("move data"))
    shutil.rmtree(swap.new / rules.DATA, ignore_errors=True)


def kill_copying_preserved(web_root: Path, staged: Files) -> None:
    """In `copy preserved`, after the first preserved file was copied."""
    swap = staged_swap(web_root, staged)
    run_steps(swap, STEPS.index("copy preserved"))
    (swap.new / "box/uploads/deep").mkdir(parents=True, exist_ok=True)
    shutil.copy2(swap.live / "box/uploads/deep/banner.png", swap.new / "box/uploads/deep/banner.png")


def kill_finishing(web_root: Path, staged: Files) -> None:
    """In finish(), with the old version deleted but the `committed` journal still there."""
    swap = staged_swap(web_root, staged)
    run_steps(swap, len(STEPS))
    shutil.rmtree(swap.old)


def kill_finishing_journal_first(web_root: Path, staged: Files) -> None:
    """In finish(), with the journal deleted first and the old version still there."""
    swap = staged_swap(web_root, staged)
    run_steps(swap, len(STEPS))
    (swap.dir / JOURNAL).unlink()


def kill_undoing(count: int) -> Callable[[Path, Files], None]:
    def kill(web_root: Path, staged: Files) -> None:
        swap = staged_swap(web_root, staged)
        swap.switch()
        undo_steps(swap, count)

    return kill


def undone(web_root: Path, staged: Files) -> None:
    swap = staged_swap(web_root, staged)
    swap.switch()
    swap.undo()


# (id, what the killed process had done, which version recovery must leave: "v1" before the commit)
KILL_POINTS: list[tuple[str, Callable[[Path, Files], None], str]] = [
    ("begin, before its journal", kill_before_journal, "v1"),
    ("begin, writing its journal", kill_writing_first_journal, "v1"),
    ("staging, partly written", kill_partly_staged, "v1"),
    *[
        (f"after {'nothing' if n == 0 else repr(STEPS[n - 1])}", kill_after_steps(n), "v1")
        for n in range(len(STEPS))
    ],
    ("in 'move data'", kill_moving_data, "v1"),
    ("in 'copy preserved'", kill_copying_preserved, "v1"),
    (f"after {STEPS[-1]!r}", kill_after_steps(len(STEPS)), "v2"),
    ("in finish()", kill_finishing, "v2"),
    ("in finish(), journal gone first", kill_finishing_journal_first, "v2"),
    *[(f"undo, after {n} step(s)", kill_undoing(n), "v1") for n in range(1, 6)],
    ("undo, completed", undone, "v1"),
]


def test_the_kill_points_cover_every_step_of_switch() -> None:
    assert STEPS == [
        "journal switching",
        "move data",
        "copy preserved",
        "live to old",
        "new to live",
        "journal committed",
    ]


@pytest.mark.parametrize("staged_data", [False, True], ids=["upgrade", "rollback (staged box/data)"])
@pytest.mark.parametrize(("kill", "version"), [p[1:] for p in KILL_POINTS], ids=[p[0] for p in KILL_POINTS])
def test_recovery_leaves_exactly_one_version(
    tmp_path: Path, kill: Callable[[Path, Files], None], version: str, staged_data: bool
) -> None:
    web_root = tmp_path / "web"
    write_files(web_root / APP, V1)
    staged = {**V2_STAGED, **(STALE_DATA if staged_data else {})}

    kill(web_root, staged)
    done = recover(web_root)

    assert tree(web_root / APP) == expected_tree(V1 if version == "v1" else V2_LIVE), done
    assert (web_root / APP / "box/data/db.txt").read_bytes() == DATA["box/data/db.txt"]
    assert staging_contents(web_root) == [".lock"]
    assert sorted(p.name for p in web_root.iterdir()) == [STAGING, APP]
    if kill is not undone:
        assert len(done) == 1, done
    assert recover(web_root) == []  # nothing left to do, and a second pass changes nothing
    assert tree(web_root / APP) == expected_tree(V1 if version == "v1" else V2_LIVE)


def test_a_completed_switch_and_finish_leave_v2_and_no_staging(tmp_path: Path) -> None:
    web_root = tmp_path / "web"
    write_files(web_root / APP, V1)
    swap = staged_swap(web_root, V2_STAGED)
    swap.switch()
    swap.finish()
    assert tree(web_root / APP) == expected_tree(V2_LIVE)
    assert staging_contents(web_root) == []
    assert recover(web_root) == []


@pytest.mark.parametrize("steps", range(1, len(STEPS)))
def test_a_fresh_install_killed_before_its_commit_leaves_no_app(tmp_path: Path, steps: int) -> None:
    """No previous version to go back to: recovery takes the half-installed app away, whole."""
    web_root = tmp_path / "web"
    web_root.mkdir()
    run_steps(staged_swap(web_root, V2_STAGED), steps)
    recover(web_root)
    assert sorted(p.name for p in web_root.iterdir()) == [STAGING]
    assert staging_contents(web_root) == [".lock"]


def test_a_removal_killed_before_its_commit_puts_the_app_back(tmp_path: Path) -> None:
    web_root = tmp_path / "web"
    write_files(web_root / APP, V1)
    swap = Swap(web_root, APP)
    swap.begin()
    swap._phase("switching", moves_data=False)
    os.rename(swap.live, swap.old)  # killed here, before `retire` journals `committed`
    assert recover(web_root) and tree(web_root / APP) == expected_tree(V1)
    retired = Swap(web_root, APP)
    retired.retire()
    recover(web_root)
    assert not (web_root / APP).exists() and staging_contents(web_root) == [".lock"]


def test_a_step_that_fails_undoes_the_switch_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An error (not a kill) midway, such as a full disk while the preserved files are copied after the data
    moved: the switch is undone before the error propagates, so a running server reloads the old version
    whole. The copy fails by injection; a real full disk cannot be made here without privileges."""
    web_root = tmp_path / "web"
    write_files(web_root / APP, V1)
    swap = staged_swap(web_root, V2_STAGED)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copy2", full)
    with pytest.raises(OSError, match="No space left"):
        swap.switch()
    assert tree(web_root / APP) == expected_tree(V1)
    assert staging_contents(web_root) == []


# -- 2. real processes killed with SIGKILL ------------------------------------------------------------------

BIG_FILES = 1000
BIG_BYTES = 2 * 2**20
UPLOADS = 200  # preserved files, copied while the journal says `switching`: a wider window to land in
DB = b"the database\n"


def big_app(folder: Path, version: str, tag: str) -> None:
    """A package's files: `BIG_FILES` small ones and one of `BIG_BYTES`, all differing between tags."""
    files: Files = {
        "box/app.json": json.dumps({"version": version}).encode(),
        "box/.gup": json.dumps({"preserve": ["box/uploads"]}).encode(),
        f"only-{tag}.txt": tag.encode(),
        "static/big.bin": (tag.encode() * BIG_BYTES)[:BIG_BYTES],
    }
    for i in range(BIG_FILES):
        files[f"static/d{i % 25}/f{i}.txt"] = f"{tag} file {i}\n".encode()
    write_files(folder, files)


@dataclass
class Big:
    project: Path
    packages: dict[str, Path]  # version -> package
    trees: dict[str, dict[str, str]]  # version -> the app folder it leaves (with the data and uploads)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Big:
    """A project with `shop` v1 installed (box/data and preserved uploads), packages of v1 and v2, and the
    app folder as each version leaves it, keeping the installed data and uploads."""
    root = tmp_path_factory.mktemp("crash")
    project = root / "project"
    (project / "web").mkdir(parents=True)
    (project / "gingee.json").write_text("{}")
    packages, trees = {}, {}
    for version, tag in (("1.0.0", "v1"), ("2.0.0", "v2")):
        source = root / tag / APP
        big_app(source, version, tag)
        packages[tag] = pack(source, root / f"{APP}-{version}.gin")
        trees[tag] = tree(source)
    installed = project / "web" / APP
    shutil.copytree(root / "v1" / APP, installed)
    write_files(installed, {"box/data/db.txt": DB})
    write_files(installed, {f"box/uploads/u{i}.txt": f"upload {i}\n".encode() for i in range(UPLOADS)})
    kept = {
        rel: digest for rel, digest in tree(installed).items() if rel.startswith(("box/data", "box/uploads"))
    }
    for tag in trees:
        trees[tag] = dict(sorted({**trees[tag], **kept}.items()))
    assert tree(installed) == trees["v1"]
    return Big(project, packages, trees)


def start_upgrade(project: Path, package: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gingee_kernel", "upgrade", "--force", str(project), str(package)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def sigkill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait()


def journal_phase(web_root: Path) -> str | None:
    for journal in (web_root / STAGING).glob(f"{APP}.*/{JOURNAL}"):
        try:
            return str(json.loads(journal.read_text())["phase"])
        except (OSError, ValueError, KeyError):
            continue
    return None


def recover_by_loading(project: Path) -> tuple[list[str], dict[str, str]]:
    """What `gingee serve` does on start, Project.load() (recovery, then the apps): the apps that loaded,
    and the load errors."""

    async def load() -> tuple[list[str], dict[str, str]]:
        loaded = Project(project)
        try:
            await loaded.load()
            return sorted(loaded.apps), dict(loaded.errors)
        finally:
            await loaded.close()

    return asyncio.run(load())


def check_one_version(big: Big, what: str) -> str:
    """Recover as a server starting does; the app must be exactly v1 or exactly v2, its data intact."""
    apps, errors = recover_by_loading(big.project)
    web_root = big.project / "web"
    state = tree(web_root / APP)
    v1, v2 = big.trees["v1"], big.trees["v2"]
    assert state in (v1, v2), (
        f"{what}: a mix of versions: {sorted(set(state.items()) ^ set(v1.items()))[:4]} differ from v1, "
        f"{sorted(set(state.items()) ^ set(v2.items()))[:4]} from v2"
    )
    assert (web_root / APP / "box/data/db.txt").read_bytes() == DB, what
    assert [n for n in staging_contents(web_root) if n != ".lock"] == [], what
    assert (apps, errors) == ([APP], {}), what
    return "v1" if state == v1 else "v2"


def test_sigkilled_upgrades_leave_v1_or_v2(big: Big) -> None:
    """Each run upgrades (--force) the project's app to the other version and is SIGKILLed; then recovery
    must leave exactly one version. Which one a given delay gives is not asserted."""
    backups = big.project / "backups" / APP
    state = "v1"

    def other(tag: str) -> str:
        return "v2" if tag == "v1" else "v1"

    # One run left to finish: it switches, and says when a whole one starts writing and ends.
    started = time.monotonic()
    process = start_upgrade(big.project, big.packages[other(state)])
    working = None
    while process.poll() is None:
        if working is None and (list(backups.glob(".*.tmp")) or (big.project / "web" / STAGING).exists()):
            working = time.monotonic() - started
        time.sleep(0.005)
    whole = time.monotonic() - started
    assert process.returncode == 0
    assert check_one_version(big, "uninterrupted") == other(state)
    state = other(state)
    working = min(working or 0.0, whole)

    # Killed after a series of delays: before it does anything, across the writing, and past its end.
    delays = [0.05] + [working + (whole - working) * f for f in (0.0, 0.25, 0.5, 0.75, 0.95)]
    outcomes: list[str] = []
    for delay in [*delays, whole * 1.1]:
        process = start_upgrade(big.project, big.packages[other(state)])
        time.sleep(delay)
        sigkill(process)
        state = check_one_version(big, f"killed after {delay:.2f}s")
        outcomes.append(f"{delay:.2f}s: {state}")

    # Killed the moment its journal says `switching` (the process has gone on by some microseconds).
    process = start_upgrade(big.project, big.packages[other(state)])
    while process.poll() is None and journal_phase(big.project / "web") != "switching":
        time.sleep(0.0002)
    sigkill(process)
    state = check_one_version(big, "killed on seeing the journal say 'switching'")
    outcomes.append(f"switching: {state}")
    print(f"a whole upgrade: {whole:.2f}s, writing from {working:.2f}s; after each kill: {outcomes}")


def test_a_server_sigkilled_during_an_api_upgrade_comes_back_with_one_version(big: Big) -> None:
    """`gingee serve` is upgrading the app through its operator API (`PUT ...?force=1`) when it is
    SIGKILLed: once the moment its journal says `switching`, once partway through its backup. Started
    again, it serves exactly one version, whole."""
    import httpx

    from tests.fixtures.jupyter import free_port

    state = check_one_version(big, "before")
    for when in ("switching", "backing up"):
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "gingee_kernel", "serve", str(big.project), "--host", "127.0.0.1",
             "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}/_gingee/api/apps/{APP}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                assert server.poll() is None and time.monotonic() < deadline, "gingee serve did not start"
                time.sleep(0.05)
        target = "v2" if state == "v1" else "v1"
        body = big.packages[target].read_bytes()

        def put(url: str = url, body: bytes = body) -> None:
            with contextlib.suppress(httpx.HTTPError):  # the server is killed under the request
                httpx.put(url, params={"force": "1"}, content=body, timeout=60)

        request = threading.Thread(target=put, daemon=True)
        request.start()
        backups = big.project / "backups" / APP
        while server.poll() is None and request.is_alive():
            if when == "switching" and journal_phase(big.project / "web") == "switching":
                break
            if when == "backing up" and list(backups.glob(".*.tmp")):
                break
            time.sleep(0.0002)
        sigkill(server)  # type: ignore[arg-type]
        request.join(30)
        state = check_one_version(big, f"server killed while {when}")
    target = "v2" if state == "v1" else "v1"
    lifecycle = Lifecycle(big.project, load_server_config(big.project))
    asyncio.run(lifecycle.upgrade(big.packages[target], force=True))
    assert check_one_version(big, "the next upgrade") == target
    assert list(backups.glob(".*")) == []  # the half-written backup of the killed server is gone


# -- 3. an operation another live process holds is left alone -------------------------------------------

HOLD_LOCK = """
import sys, time
from pathlib import Path
from gingee_kernel.lifecycle.switch import ProjectLock
lock = ProjectLock(Path(sys.argv[1]))
lock.acquire(wait=0)
print("locked", flush=True)
time.sleep(120)
"""


def test_recovery_skips_while_another_process_holds_the_lock(tmp_path: Path) -> None:
    web_root = tmp_path / "web"
    write_files(web_root / APP, V1)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(web_root)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"locked\n"
        # The holder's operation, mid-switch: the app folder is renamed away for the moment.
        run_steps(staged_swap(web_root, V2_STAGED), STEPS.index("live to old") + 1)
        during = tree(tmp_path)
        assert recover(web_root) == []
        assert tree(tmp_path) == during  # its operation was not taken for abandoned
        with pytest.raises(Busy):
            ProjectLock(web_root).acquire(wait=0)
        assert tree(tmp_path) == during
    finally:
        sigkill(holder)
        if holder.stdout is not None:
            holder.stdout.close()

    # Killed, the holder's lock went with it: now the switch is undone.
    assert len(recover(web_root)) == 1
    assert tree(web_root / APP) == expected_tree(V1)
    assert staging_contents(web_root) == [".lock"]


V3: Files = {"box/app.json": b'{"version": "3.0.0"}', "index.html": b"<h1>v3</h1>", "only-v3.txt": b"v3 only"}


def test_an_operation_that_waited_for_a_killed_holder_recovers_its_switch_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B checks its package while A holds the lock, then waits for it; A is killed mid-switch. B must undo
    A's switch before its own: else the next recovery undoes A's after B's, putting v1 back over B's v3."""
    project = tmp_path / "project"
    web_root = project / "web"
    write_files(web_root / APP, V1)
    (project / "gingee.json").write_text("{}")
    write_files(tmp_path / "v3" / APP, V3)
    package = pack(tmp_path / "v3" / APP, tmp_path / "shop-3.0.0.gin")

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(web_root)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"locked\n"
        # A, the holder, has switched v2 in but not yet committed when it is killed.
        run_steps(staged_swap(web_root, V2_STAGED), STEPS.index("new to live") + 1)

        operation = Lifecycle(project, load_server_config(project))
        waiting = threading.Event()
        take_lock = operation.lock.acquire

        def acquire(wait: float = 30.0) -> None:
            waiting.set()
            take_lock(wait)

        monkeypatch.setattr(operation.lock, "acquire", acquire)
        with ThreadPoolExecutor(1) as pool:
            upgrade = pool.submit(asyncio.run, operation.upgrade(package, force=True))
            assert waiting.wait(timeout=60)  # B's checks are done; it waits for the lock
            sigkill(holder)
            plan = upgrade.result(timeout=60)
    finally:
        sigkill(holder)
        if holder.stdout is not None:
            holder.stdout.close()

    assert plan.to_version == "3.0.0"
    recover(web_root)  # the next start of a server
    assert tree(web_root / APP) == expected_tree({**V3, **DATA})
    assert staging_contents(web_root) == [".lock"]
