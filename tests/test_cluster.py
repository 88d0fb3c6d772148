"""`gingee serve --workers N` as real processes: workers share the port, a killed worker is replaced,
SIGTERM stops them all, and `/metrics` from any worker sums every worker's series."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gingee_kernel.cli import main
from tests.metrics.test_prometheus import need
from tests.test_cli import free_port, wait_for

FILES = {
    "gingee.json": {},
    "web/c/box/app.json": {"name": "c"},
    "web/c/box/pid.py": "import os\n\n\nasync def handle(g):\n    g.response.send({'pid': os.getpid()})\n",
}
TRIES = 300  # fresh connections tried before concluding that a worker never answers


@dataclass
class Cluster:
    """A `gingee serve --workers N` subprocess; counts the requests it was sent on `/c/pid`."""

    proc: subprocess.Popen[str]
    port: int
    requests: int = 0
    seen: set[int] = field(default_factory=set)
    output: str = ""

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def pid(self) -> int:
        """One request on a fresh connection: the pid of the worker that answered."""
        reply = httpx.get(self.url("/c/pid"), timeout=30)
        self.requests += 1
        assert reply.status_code == 200, reply.text
        pid = int(reply.json()["pid"])
        self.seen.add(pid)
        return pid

    def pids_until(self, done: Callable[[set[int]], bool]) -> set[int]:
        """Pids answering fresh connections, until `done(pids)` (bounded by TRIES)."""
        pids: set[int] = set()
        for _ in range(TRIES):
            pids.add(self.pid())
            if done(pids):
                return pids
        raise AssertionError(f"after {TRIES} fresh connections only pids {sorted(pids)} answered")

    def metrics(self) -> str:
        reply = httpx.get(self.url("/metrics"), timeout=30)
        assert reply.status_code == 200, reply.text
        return reply.text

    def counted(self) -> float:
        """gingee_http_requests_total of /c/pid summed over its series, once every request is recorded
        (a worker records a request just after answering it), bounded."""
        for _ in range(100):
            total = sum(
                sample.value
                for family in text_string_to_metric_families(self.metrics())
                for sample in family.samples
                if sample.name == "gingee_http_requests_total" and sample.labels.get("route") == "/pid"
            )
            if total >= self.requests:
                return total
            time.sleep(0.02)
        return total

    def stop(self) -> int:
        """SIGTERM the parent and wait for it; its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # its workers get SIGTERM from the kernel (PR_SET_PDEATHSIG)
            out, _ = self.proc.communicate()
        self.output += out
        return self.proc.returncode


@pytest.fixture
def cluster(make_project, tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """Factory: `cluster(env={...})` starts `gingee serve PROJECT --workers 2` with TMPDIR in tmp_path
    (`server`: its --server)."""
    started: list[Cluster] = []

    def start(env: dict[str, str] | None = None, workers: int = 2, server: str = "tornado") -> Cluster:
        project = make_project(FILES)
        port = free_port()
        tmp = tmp_path / "tmp"
        tmp.mkdir(exist_ok=True)
        command = ["serve", str(project), "--port", str(port), "--workers", str(workers), "--server", server]
        proc = subprocess.Popen(
            [sys.executable, "-m", "gingee_kernel.cli", *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "TMPDIR": str(tmp), **(env or {})},
        )
        running = Cluster(proc, port)
        started.append(running)
        wait_for(running.url("/metrics"), proc)  # not a /c/pid request: the count stays exact
        return running

    yield start
    for running in started:
        running.stop()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("server", ["tornado", "asgi"])
def test_workers_share_the_port_replace_the_dead_and_stop_on_sigterm(cluster, tmp_path: Path, server) -> None:
    running = cluster(server=server)
    folders = list((tmp_path / "tmp").glob("gingee-metrics-*"))
    assert len(folders) == 1  # the parent's private PROMETHEUS_MULTIPROC_DIR

    first = running.pids_until(lambda pids: len(pids) == 2)
    assert running.counted() == running.requests  # any worker's /metrics sums both

    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    fresh = running.pids_until(lambda pids: bool(pids - first))
    assert victim not in fresh
    assert running.counted() == running.requests  # the dead worker's counts stay in the total

    assert running.stop() == 0
    assert not [pid for pid in running.seen if alive(pid)]
    assert not folders[0].exists()
    assert f"worker 1 (pid {victim}) was killed by SIGKILL; starting a new one" in running.output or (
        f"worker 2 (pid {victim}) was killed by SIGKILL; starting a new one" in running.output
    )
    assert running.output.count("keeps state in each worker: the memory queue") == 1


@pytest.mark.prometheus
def test_metrics_pass_promtool_and_a_given_multiproc_dir_is_kept(cluster, tmp_path: Path) -> None:
    promtool = need("promtool")
    folder = tmp_path / "mine"
    folder.mkdir()
    running = cluster(env={"PROMETHEUS_MULTIPROC_DIR": str(folder)})
    running.pids_until(lambda pids: len(pids) == 2)
    assert running.counted() == running.requests
    text = running.metrics()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert [s.value for s in families["gingee_build_info"].samples] == [1]
    assert "process_resident_memory_bytes" not in text  # per-process series are left out
    assert {s.labels["app"]: s.value for s in families["gingee_http_requests_in_flight"].samples} == {"c": 0}
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    assert running.stop() == 0
    assert list(folder.glob("counter_*.db"))  # the user's folder, left as it is
    assert not list((tmp_path / "tmp").glob("gingee-metrics-*"))


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_bad_worker_counts_are_argparse_errors(value: str, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", ".", "--workers", value])
    assert exited.value.code == 2
    assert "argument --workers: expected" in capsys.readouterr().err


def test_dev_is_refused_with_several_workers(make_project, capsys) -> None:
    assert main(["serve", str(make_project(FILES)), "--dev", "--workers", "2"]) == 2
    assert "drop --dev to serve with --workers 2" in capsys.readouterr().err


def listening_sockets(port: int) -> int:
    """How many sockets listen on `port` (/proc/net/tcp{,6}: state 0A is LISTEN)."""
    found = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                found += state == "0A" and int(local.rsplit(":", 1)[1], 16) == port
    return found


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="SO_REUSEPORT is Linux/BSD only")
def test_each_worker_listens_on_its_own_socket(cluster) -> None:
    """Each worker listens on a SO_REUSEPORT socket of its own, and the kernel spreads connections over
    them. (With one shared socket, the first worker to wake accepts a whole burst of connections, such as
    a load generator's or a proxy's pool, and keep-alive clients stay on it: bench/workers_scale.py.)"""
    running = cluster()
    running.pids_until(lambda pids: len(pids) == 2)
    assert listening_sockets(running.port) == 2
    victim = running.pid()
    os.kill(victim, signal.SIGKILL)
    running.pids_until(lambda pids: len(pids) == 2 and victim not in pids)  # the replacement listens too
    assert listening_sockets(running.port) == 2
