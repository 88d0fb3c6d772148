"""Binder, rebuilt on loopback: a fresh virtual environment made only from binder/ as repo2docker makes its
Python environment (the Python binder/runtime.txt names, `pip install -r binder/requirements.txt` from the
repository root, then binder/postBuild if there is one), and `jupyter lab` from that environment as Binder
starts it (no browser, `base_url=/user/<name>/`, a token) in a root dir holding what a clone has of
notebooks/ and examples/.

What differs from mybinder.org: repo2docker's environment already holds its own JupyterLab before the
requirements are installed (pip then upgrades what ours need), and Binder's proxy and Hub stand in front
of the server; the base URL, the token login and the single port are the same here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.fixtures.jupyter import JupyterServer, free_port, wait_started

REPO = Path(__file__).resolve().parents[2]
BINDER = REPO / "binder"
BASE_URL = "/user/attendee/"
# What the test process's environment must not lend the Binder one (Binder has none of it).
FOREIGN = ("JUPYTER", "JPY_", "PYTHON", "VIRTUAL_ENV", "IPYTHON", "GINGEE")
# The parts of the clone the notebooks read: themselves and their solutions, and examples/ (notebook 07
# installs examples/plugins/gingee-hello from the folder above its own).
CLONED = ("notebooks", "examples")


@dataclass
class BinderEnv:
    """The built environment, and what the build cost."""

    venv: Path
    pip_started: float  # time.monotonic() when `pip install` started
    pip_seconds: float
    size_bytes: int

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        """os.environ without the test process's Python and Jupyter settings, the venv first on PATH."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN)}
        return {
            **env,
            "PATH": f"{self.bin}{os.pathsep}{env.get('PATH', '')}",
            "VIRTUAL_ENV": str(self.venv),
            **extra,
        }


def du(path: Path) -> int:
    """Bytes the files under `path` take on disk (as `du -s`)."""
    return sum(p.lstat().st_blocks * 512 for p in path.rglob("*"))


def build(venv: Path) -> BinderEnv:
    """What repo2docker does with binder/: a Python environment, the requirements, postBuild. The Python is
    this one, which must be the version binder/runtime.txt asks repo2docker for."""
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert runtime == f"python-{sys.version_info.major}.{sys.version_info.minor}", (
        f"binder/runtime.txt asks for {runtime}, but these tests run Python {sys.version.split()[0]}: "
        f"the Binder-like build would not be the one mybinder.org makes"
    )
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = BinderEnv(venv, time.monotonic(), 0.0, 0)
    pip = [str(env.bin / "python"), "-m", "pip", "install", "-q", "-r", str(BINDER / "requirements.txt")]
    done = subprocess.run(pip, cwd=REPO, env=env.env(), capture_output=True, text=True)
    assert done.returncode == 0, f"pip install -r binder/requirements.txt failed:\n{done.stderr[-5000:]}"
    if (BINDER / "postBuild").exists():
        subprocess.run(["bash", str(BINDER / "postBuild")], cwd=REPO, env=env.env(), check=True)
    env.pip_seconds = time.monotonic() - env.pip_started
    env.size_bytes = du(venv)
    return env


@pytest.fixture(scope="session")
def binder_env(tmp_path_factory: pytest.TempPathFactory) -> BinderEnv:
    """The environment, built once per session."""
    return build(tmp_path_factory.mktemp("binder") / "venv")


def cloned_files() -> list[str]:
    """The files of CLONED a clone holds: tracked or new, not ignored (nothing a run left there)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", *CLONED],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(name for name in set(listed.split("\0")) if name and (REPO / name).is_file())


def start_lab(env: BinderEnv, home: Path) -> JupyterServer:
    """`jupyter lab` from the Binder environment, as Binder starts it (no browser, base_url, a token), in
    `home/repo/` holding a copy of notebooks/ (solutions included) and examples/, as a clone has them."""
    root = home / "repo"
    for name in cloned_files():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, root / name)
    runtime = home / "runtime"
    port, token = free_port(), secrets.token_hex(16)
    server_env = env.env(
        HOME=str(home),
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
        JUPYTER_DATA_DIR=str(home / ".local/share/jupyter"),
        JUPYTER_PLATFORM_DIRS="1",
        IPYTHONDIR=str(home / ".ipython"),
    )
    argv = [
        str(env.bin / "jupyter"),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.token={token}",
        f"--ServerApp.base_url={BASE_URL}",
        f"--ServerApp.root_dir={root}",
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]
    log = home / "jupyter.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=root, env=server_env, stdout=out, stderr=subprocess.STDOUT)
    wait_started(proc, runtime, log, BASE_URL, timeout=90)
    return JupyterServer(proc, port, token, BASE_URL, root, runtime, log)


@pytest.fixture
def binder_lab(binder_env: BinderEnv, tmp_path: Path) -> Iterator[Callable[[], JupyterServer]]:
    """Factory: a Binder-like JupyterLab server (stopped after the test)."""
    started: list[JupyterServer] = []

    def factory() -> JupyterServer:
        started.append(start_lab(binder_env, tmp_path / f"home-{len(started)}"))
        return started[-1]

    yield factory
    for server in started:
        server.stop()


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its descendants (the server and its kernels)."""
    try:
        top = psutil.Process(pid)
        procs = [top, *top.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total
