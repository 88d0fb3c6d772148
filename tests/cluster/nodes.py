"""Real `gingee serve` processes standing in for hosts, and a private redis-server a test may kill.

Each `Node` has its own project folder and port; its output goes to a log file the failure messages
quote. `PrivateRedis` is a throwaway redis-server on a free loopback port that a test can stop and start
again on the same port (the machine's shared Redis must never be stopped by a test).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.redis import _free_port, _ping, _redis_server_binary

START_TIMEOUT = 30.0


class Node:
    """`python -m gingee_kernel serve PROJECT` on a free 127.0.0.1 port (`server`: its --server)."""

    def __init__(self, project: Path, *, name: str = "", workers: int = 1, server: str = "tornado") -> None:
        self.project = project
        self.name = name or project.name
        self.workers = workers
        self.server = server
        self.port = _free_port()
        self.log_path = project.parent / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, *, wait: bool = True) -> Node:
        command = [sys.executable, "-m", "gingee_kernel", "serve", str(self.project)]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        if self.server != "tornado":
            command += ["--server", self.server]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_until(lambda: self.get("/_gingee/health").status_code == 200, "answer")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url(path), timeout=10, **kwargs)

    def wait_until(self, done: Callable[[], bool], what: str, timeout: float = START_TIMEOUT) -> None:
        """Poll `done()` (transport errors count as not yet) until true, or fail with the node's log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                pytest.fail(f"node {self.name} exited ({self.proc.returncode}) before it could {what}:\n"
                            f"{self.log()[-4000:]}")  # fmt: skip
            try:
                if done():
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        pytest.fail(f"node {self.name} did not {what} within {timeout:g} s:\n{self.log()[-4000:]}")

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL, as a host that loses power."""
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        self.signal(signal.SIGINT)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


class PrivateRedis:
    """A redis-server of the test's own on a free port; `stop()` and `start()` keep the port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [_redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", str(self.workdir)]  # fmt: skip
        with (self.workdir / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not _ping(self.url, timeout=0.5):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start on port {self.port}; see {self.workdir}/redis.log")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
