"""Swap an app folder for a staged one so that a process killed at any point leaves the old or the new
version complete, never a mix.

Every operation works in its own folder under `<web_root>/.gingee-staging/` (the same filesystem as the
apps, so every step is a rename; the dot keeps it from ever being an app). Its `journal.json` names the
phase before each phase starts:

- `staging`: the new version is being written to `new/`. Recovery deletes the folder; the app is untouched.
- `switching`: `box/data` moves from the live app into `new/`, the preserved files are copied over, the live
  folder is renamed to `old/` and `new/` to the live name. Recovery undoes whichever renames happened.
- `committed`: the new version is live. Recovery deletes the folder (the old one is in backups/).

Undoing a committed switch (the new version failed to load) sets `switching` again and runs the same undo.
A project-wide lock file serialises operations, across processes too; a killed process releases it, and
whoever takes it next recovers what that process left before doing anything else.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from . import rules

log = logging.getLogger("gingee.lifecycle")

STAGING = ".gingee-staging"
JOURNAL = "journal.json"


class Busy(Exception):
    """Another lifecycle operation holds the project's lock."""


class ProjectLock:
    """The lifecycle lock of the project whose apps live in `web_root`: an flock on a file in the staging
    folder, so it serialises operations across processes and threads, and dies with its process.

    Taking it first finishes or undoes what a killed holder left (`recovered` says what): while it is held
    no live process owns anything in the staging folder, and an operation that was waiting for the lock
    must not switch its app on top of a dead one's half-done switch (the next recovery would undo that
    one's renames over the new version)."""

    def __init__(self, web_root: Path) -> None:
        self.path = web_root / STAGING / ".lock"
        self._fd: int | None = None
        self.recovered: list[str] = []

    def acquire(self, wait: float = 30.0) -> None:
        """Take the lock, waiting up to `wait` seconds (then Busy). Blocking: call it off the event loop."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise Busy("another install, upgrade, rollback or removal is running; retry") from None
                time.sleep(0.05)
        self._fd = fd
        try:
            self.recovered = _recover_all(self.path.parent)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None

    def __enter__(self) -> ProjectLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Swap:
    """One operation's folder: `new/<app>` staged, then switched in for `<web_root>/<app>`."""

    def __init__(self, web_root: Path, app: str, *, preserve: Iterable[str] = ()) -> None:
        self.web_root = web_root
        self.app = app
        self.dir = web_root / STAGING / f"{app}.{uuid.uuid4().hex[:12]}"
        self.live = web_root / app
        self.new = self.dir / "new" / app
        self.old = self.dir / "old" / app
        self.preserve = list(preserve)
        self._moves_data = False
        self._fresh = False  # an install: no previous version to go back to

    def begin(self) -> Path:
        """Create the operation's folder (phase `staging`); returns where to write the new version."""
        self.new.parent.mkdir(parents=True)
        (self.dir / "old").mkdir()
        self._phase("staging", moves_data=False)
        return self.new

    def _phase(self, phase: str, *, moves_data: bool) -> None:
        tmp = self.dir / (JOURNAL + ".tmp")
        entry = {"app": self.app, "phase": phase, "moves_data": moves_data, "fresh": self._fresh}
        tmp.write_text(json.dumps(entry))
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, self.dir / JOURNAL)
        _fsync_dir(self.dir)

    def switch(self) -> None:
        """Make the staged version live: data and preserved files carried over, then two renames. A step
        that fails (a full disk while copying) undoes the ones before it, then the error propagates."""
        try:
            for _name, step in self.switch_steps():
                step()
        except BaseException:
            if (self.dir / JOURNAL).is_file():
                revert(self.dir)
            raise

    def retire(self) -> None:
        """Remove the live app: moved into the operation's folder (undone on recovery until committed)."""
        self.begin()
        self._phase("switching", moves_data=False)
        os.rename(self.live, self.old)
        _fsync_dir(self.web_root)
        self._phase("committed", moves_data=False)

    def switch_steps(self) -> list[tuple[str, Callable[[], None]]]:
        """`switch` as its named steps, in order: a process killed between two of them (the crash tests
        run each prefix) leaves what recovery must turn back into the old version, or, after the last
        one, the new."""
        return [
            ("journal switching", self._journal_switching),
            ("move data", self._move_data),
            ("copy preserved", self._copy_preserved),
            ("live to old", self._live_to_old),
            ("new to live", self._new_to_live),
            ("journal committed", self._journal_committed),
        ]

    def _journal_switching(self) -> None:
        self._moves_data = (self.live / rules.DATA).is_dir()
        self._fresh = not self.live.exists()
        self._phase("switching", moves_data=self._moves_data)

    def _move_data(self) -> None:
        if self._moves_data:
            staged_data = self.new / rules.DATA
            if staged_data.exists():
                shutil.rmtree(staged_data)
            staged_data.parent.mkdir(parents=True, exist_ok=True)
            os.rename(self.live / rules.DATA, staged_data)

    def _copy_preserved(self) -> None:
        if self.live.is_dir():
            for rel in kept_files(self.live, self.preserve):
                if rules.matches(rel, (rules.DATA,)):
                    continue
                target = self.new / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(self.live / rel, target)

    def _live_to_old(self) -> None:
        if self.live.is_dir():
            os.rename(self.live, self.old)

    def _new_to_live(self) -> None:
        os.rename(self.new, self.live)
        _fsync_dir(self.web_root)

    def _journal_committed(self) -> None:
        self._phase("committed", moves_data=self._moves_data)

    def undo(self) -> None:
        """Put the previous version back (after `switch`, when the new one failed to load)."""
        moves_data = json.loads((self.dir / JOURNAL).read_text()).get("moves_data", False)
        self._phase("switching", moves_data=moves_data)
        revert(self.dir)

    def finish(self) -> None:
        """Drop the operation's folder (the previous version, if any, is in backups/)."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def abort(self) -> None:
        """Give up before `switch`: nothing live was touched."""
        shutil.rmtree(self.dir, ignore_errors=True)


def kept_files(app_dir: Path, preserve: Iterable[str]) -> list[str]:
    """The installed files of `app_dir` an upgrade keeps (box/data, plus the `preserve` globs)."""
    patterns = list(preserve)
    found = []
    for path in sorted(app_dir.rglob("*")):
        if path.is_file() and not path.is_symlink():
            rel = path.relative_to(app_dir).as_posix()
            if rules.kept(rel, patterns):
                found.append(rel)
    return found


def revert(op_dir: Path) -> None:
    """Undo a `switching` operation's renames, whichever of them happened, and drop its folder."""
    journal = json.loads((op_dir / JOURNAL).read_text())
    app = journal["app"]
    web_root = op_dir.parent.parent
    live, new, old = web_root / app, op_dir / "new" / app, op_dir / "old" / app
    if old.exists():
        if live.exists() and not new.exists():
            os.rename(live, new)  # the new version had gone live
        if not live.exists():
            os.rename(old, live)
    elif journal.get("fresh") and live.exists() and not new.exists():
        os.rename(live, new)  # a fresh install had gone live: there is no previous version
    if journal.get("moves_data") and (new / rules.DATA).is_dir() and not (live / rules.DATA).exists():
        (live / rules.DATA).parent.mkdir(parents=True, exist_ok=True)
        os.rename(new / rules.DATA, live / rules.DATA)
    _fsync_dir(web_root)
    shutil.rmtree(op_dir, ignore_errors=True)


def recover(web_root: Path) -> list[str]:
    """Finish or undo what a killed process left in `<web_root>/.gingee-staging`; returns what it did.

    Runs before a project loads its apps and before each operation (and whenever the lock is taken);
    skips the work if another live process holds the lock (its operation is not abandoned)."""
    if not (web_root / STAGING).is_dir():
        return []
    lock = ProjectLock(web_root)
    try:
        lock.acquire(wait=0)  # recovers
    except Busy:
        return []
    lock.release()
    return lock.recovered


def _recover_all(root: Path) -> list[str]:
    """Recover every operation folder under the staging folder `root` (the caller holds the lock)."""
    return [_recover_one(op_dir) for op_dir in sorted(p for p in root.iterdir() if p.is_dir())]


def _recover_one(op_dir: Path) -> str:
    journal_path = op_dir / JOURNAL
    try:
        journal = json.loads(journal_path.read_text())
    except (OSError, ValueError):
        shutil.rmtree(op_dir, ignore_errors=True)  # killed before its journal existed: nothing was live
        return f"removed the unfinished {op_dir.name}"
    app, phase = journal.get("app", "?"), journal.get("phase")
    if phase == "switching":
        revert(op_dir)
        message = f"app '{app}': an interrupted switch was undone; the previous version is live"
    elif phase == "committed":
        shutil.rmtree(op_dir, ignore_errors=True)
        message = f"app '{app}': an interrupted operation had completed; the new version is live"
    else:
        shutil.rmtree(op_dir, ignore_errors=True)
        message = f"app '{app}': an interrupted operation was dropped before it changed anything"
    log.warning("%s", message)
    return message
