"""`gingee serve --workers N`: the parent reserves the port, forks N workers that each listen on it with
SO_REUSEPORT (see `_reserve`), and keeps N alive until SIGTERM or SIGINT.

The parent sets `PROMETHEUS_MULTIPROC_DIR` (a fresh private folder, unless the user set one) before
prometheus-client is imported anywhere in the process, so every worker records its series to files that
the `/metrics` of any worker sums. The parent imports the runtime before it forks (the workers share those
pages), but starts no event loop or thread: each worker creates its own after the fork, loads the project
and serves as a single `gingee serve` does, draining on SIGTERM.

The parent's loop reaps exited workers: it calls prometheus-client's `mark_process_dead(pid)` for each,
logs its exit status and forks a replacement. SIGTERM and SIGINT are forwarded to every worker (a second
one kills them at once); SIGHUP is forwarded too (every worker reloads its apps). A worker that cannot
start (exit status `BOOT_FAILED`: bad config, Redis down with fail-closed arq) stops the cluster rather than
being forked again in a loop. `tornado.process.fork_processes` has the same shape but reports no exits
and forwards no signals, hence this small loop.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import tornado.netutil

from .errors import GingeeError

log = logging.getLogger("gingee.cluster")

#: The variable prometheus-client reads at import (metrics.export.MULTIPROC_ENV; importing that module
#: here would import prometheus-client before the variable is set).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: A worker's exit status when it could not start: the parent stops instead of forking it again.
BOOT_FAILED = 3
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
FORWARDED = (*STOP_SIGNALS, signal.SIGHUP)


class Supervisor:
    """Forks `count` workers, each running `work(number)` (numbered from 1, exit status returned), and
    replaces any that exits until a stop signal; `on_exit(pid)` runs in the parent for each one reaped."""

    def __init__(self, count: int, work: Callable[[int], int], on_exit: Callable[[int], None]) -> None:
        if count < 1:
            raise ValueError(f"a cluster needs at least one worker, not {count}")
        self.count = count
        self.work = work
        self.on_exit = on_exit
        self.workers: dict[int, int] = {}  # pid -> worker number
        self.stopping = False
        self.failed = False
        self.parent = os.getpid()

    def run(self) -> int:
        """Fork the workers and supervise them until all have stopped; the parent's exit status."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in FORWARDED}
        try:
            for number in range(1, self.count + 1):
                self._fork(number)
            while self.workers:
                try:
                    pid, status = os.wait()
                except ChildProcessError:
                    break
                number = self.workers.pop(pid, None)
                if number is None:
                    continue
                self.on_exit(pid)
                self._reaped(number, pid, status)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if self.failed else 0

    def _reaped(self, number: int, pid: int, status: int) -> None:
        code = os.waitstatus_to_exitcode(status)
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        if self.stopping:
            log.info("worker %d (pid %d) %s", number, pid, how)
        elif code == BOOT_FAILED:
            log.error("worker %d (pid %d) could not start; stopping the cluster", number, pid)
            self.failed = True
            self._stop(signal.SIGTERM)
        else:
            log.warning("worker %d (pid %d) %s; starting a new one", number, pid, how)
            self._fork(number)

    def _fork(self, number: int) -> None:
        # Signals stay blocked across the fork, so no handler of the parent ever runs in a worker.
        signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        try:
            pid = os.fork()
            if pid == 0:
                self._worker(number)
            self.workers[pid] = number
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
        if self.stopping:  # a stop signal arrived while forking
            os.kill(pid, signal.SIGTERM)

    def _worker(self, number: int) -> None:
        """In the forked worker: run `work` and exit with its status, never returning to the caller."""
        code = 1
        try:
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the worker's event loop handles it
            _stop_with_parent()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
            if os.getppid() != self.parent:  # the parent died before the line above
                return
            code = self.work(number)
        except BaseException:
            log.exception("worker %d (pid %d) failed", number, os.getpid())
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGHUP:
            self._send(signal.SIGHUP)
        elif self.stopping:
            log.warning("stopping now: killing %d worker(s)", len(self.workers))
            self._send(signal.SIGKILL)
        else:
            log.info("%s: stopping %d worker(s)", signal.Signals(sig).name, len(self.workers))
            self._stop(signal.SIGTERM)

    def _stop(self, sig: int) -> None:
        self.stopping = True
        self._send(sig)

    def _send(self, sig: int) -> None:
        for pid in list(self.workers):
            with contextlib.suppress(ProcessLookupError):  # exited: reaped next
                os.kill(pid, sig)


def _stop_with_parent() -> None:
    """Linux: have the kernel send this worker SIGTERM if the parent dies (even by SIGKILL), so no worker
    is left serving the port alone. Elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _metrics_folder() -> tuple[str, bool]:
    """The multiprocess folder and whether it is ours: the user's `PROMETHEUS_MULTIPROC_DIR`, kept as
    is, or a fresh private one set in the environment, which the parent removes when it exits."""
    given = os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower())
    if given:
        if not os.path.isdir(given):
            raise ValueError(f"{MULTIPROC_ENV} is {given!r}, which is not a folder; create it or unset it")
        return given, False
    if "prometheus_client" in sys.modules:
        raise RuntimeError(
            "prometheus_client was imported before the cluster could set PROMETHEUS_MULTIPROC_DIR, so the "
            "workers' metrics would not add up; start clustering from `gingee serve --workers N`"
        )
    path = tempfile.mkdtemp(prefix="gingee-metrics-")
    os.environ[MULTIPROC_ENV] = path
    return path, True


def _per_process_state(config: dict[str, Any]) -> list[str]:
    """What the project keeps in each process rather than in Redis (gingee.json drivers)."""
    found = []
    if config["queue"]["driver"] == "memory":
        found.append(
            "the memory queue (each worker runs its own jobs, and every schedule fires once per worker)"
        )
    if config["websockets"]["fanout"]["driver"] == "local":
        found.append(
            "local websocket fan-out (a broadcast reaches only the sockets of the worker sending it)"
        )
    if config["cache"]["driver"] == "memory":
        found.append("the memory cache (each worker has its own)")
    return found


def serve_cluster(
    project_dir: Path, *, workers: int, host: str | None, port: int | None, server: str = "tornado"
) -> int:
    """Serve `project_dir` from `workers` forked processes on one port, each on the host called `server`
    (hosts.NAMES); the parent's exit status."""
    folder, owned = _metrics_folder()
    try:
        from prometheus_client.multiprocess import mark_process_dead

        from .engine.project import load_server_config
        from .hosts import load

        serving = load(server)  # imported once here, shared by the workers

        config = load_server_config(project_dir)
        host = host or config["server"]["host"]
        port = config["server"]["port"] if port is None else port
        reuse = hasattr(socket, "SO_REUSEPORT")
        sockets = _reserve(port, host) if reuse else tornado.netutil.bind_sockets(port, host)
        bound = sockets[0].getsockname()[1]
        print(
            f"gingee: serving {project_dir.resolve()} on http://{host}:{bound}/ "
            f"with {workers} workers (pid {os.getpid()})",
            flush=True,
        )
        shared = _per_process_state(config)
        if shared:
            log.warning(
                "--workers %d: this project keeps state in each worker: %s. Configure Redis "
                "(queue.driver 'arq', websockets.fanout.driver 'redis', cache.driver 'redis') for the "
                "workers to behave as one; see docs/serving.md",
                workers,
                "; ".join(shared),
            )

        def work(number: int) -> int:
            try:
                own = tornado.netutil.bind_sockets(bound, host, reuse_port=True) if reuse else sockets
                serving.run(
                    serving.serve(project_dir, dev=False, host=host, port=bound, sockets=own, worker=number)
                )
            except (GingeeError, OSError, ValueError) as exc:  # cannot start: config, Redis, files
                print(f"gingee: worker {number}: {exc}", file=sys.stderr, flush=True)
                return BOOT_FAILED
            return 0

        supervisor = Supervisor(workers, work, lambda pid: mark_process_dead(pid, folder))
        try:
            return supervisor.run()
        finally:
            _close(sockets)
    finally:
        if owned:
            shutil.rmtree(folder, ignore_errors=True)


def _reserve(port: int, host: str) -> list[socket.socket]:
    """Hold `host:port` for the workers without listening on it: sockets bound with SO_REUSEPORT, so
    each worker binds and listens on a socket of its own at the same address, and the kernel spreads new
    connections over the workers' sockets evenly. (With one shared listening socket, whichever worker
    wakes first accepts a whole burst of connections, and keep-alive clients stay on it: measured here,
    2 workers then served 1.0x to 1.9x of one, from run to run.) The parent's sockets never listen, so no
    connection waits on them."""
    listening = tornado.netutil.bind_sockets(port, host, reuse_port=True)  # resolves host and port 0
    try:
        held = []
        for sock in listening:
            hold = socket.socket(sock.family, socket.SOCK_STREAM)
            hold.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            hold.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if sock.family == socket.AF_INET6:
                hold.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            hold.bind(sock.getsockname())
            held.append(hold)
        return held
    finally:
        _close(listening)


def _close(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()
